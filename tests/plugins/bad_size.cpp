// A descriptor smaller than the host's: built against an older SDK whose struct had fewer fields.
#include "mmsr/sdk/plugin_abi.h"
static int never_called(mmsr_registrar*, char*, size_t) { return 1; }
extern "C" __attribute__((visibility("default"))) const mmsr_plugin_info* mmsr_plugin_bad_size(void) {
  static const mmsr_plugin_info info = {MMSR_PLUGIN_ABI_VERSION, 8, "bad_size", "0.0.1", "", &never_called};
  return &info;
}
