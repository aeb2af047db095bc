// A plugin built against another LibTorch: right ABI version, wrong build fingerprint.
#include "mmsr/sdk/plugin_abi.h"
static int never_called(mmsr_registrar*, char*, size_t) { return 1; }
extern "C" __attribute__((visibility("default"))) const mmsr_plugin_info* mmsr_plugin_bad_fingerprint(void) {
  static const mmsr_plugin_info info = {MMSR_PLUGIN_ABI_VERSION, sizeof(mmsr_plugin_info), "bad_fingerprint", "0.0.1",
                                        "sdk=1;torch=1.13.0;cuda=none;compiler=GNU-9.0;cxx11abi=0", &never_called};
  return &info;
}
