// A plugin built for a future ABI: the loader must refuse it before calling anything in it.
#include "mmsr/sdk/plugin_abi.h"
static int never_called(mmsr_registrar*, char*, size_t) { return 1; }
extern "C" __attribute__((visibility("default"))) const mmsr_plugin_info* mmsr_plugin_bad_abi(void) {
  static const mmsr_plugin_info info = {MMSR_PLUGIN_ABI_VERSION + 41, sizeof(mmsr_plugin_info), "bad_abi", "0.0.1",
                                        "sdk=1;torch=0.0", &never_called};
  return &info;
}
