// What a plugin source includes to declare itself:
//
//   MMSR_PLUGIN(sasrec, "1.0.0") {
//     registrar.add_backbone(...);
//   }
//
// This defines the exported entry `mmsr_plugin_sasrec` returning the descriptor, and a register_all that
// turns any exception from the body into an error code and message (nothing throws across the C boundary).
#pragma once

#include <cstdio>
#include <exception>

#include "mmsr/sdk/fingerprint.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "mmsr/sdk/plugin_abi.h"
#include "mmsr/sdk/registrar.h"

#define MMSR_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

#define MMSR_PLUGIN(NAME, VERSION)                                                               \
  static void mmsr_register_body_##NAME(::mmsr::Registrar& registrar);                          \
  static int mmsr_register_all_##NAME(mmsr_registrar* r, char* err, size_t err_len) {           \
    try {                                                                                        \
      mmsr_register_body_##NAME(*reinterpret_cast<::mmsr::Registrar*>(r));                       \
      return 0;                                                                                  \
    } catch (const std::exception& e) {                                                          \
      if (err && err_len) std::snprintf(err, err_len, "%s", e.what());                          \
    } catch (...) {                                                                              \
      if (err && err_len) std::snprintf(err, err_len, "unknown exception during registration"); \
    }                                                                                            \
    return 1;                                                                                    \
  }                                                                                              \
  MMSR_PLUGIN_EXPORT const mmsr_plugin_info* mmsr_plugin_##NAME(void) {                         \
    static const mmsr_plugin_info info = {MMSR_PLUGIN_ABI_VERSION,                               \
                                          static_cast<uint32_t>(sizeof(mmsr_plugin_info)),       \
                                          #NAME,                                                 \
                                          VERSION,                                               \
                                          MMSR_BUILD_FINGERPRINT,                                \
                                          &mmsr_register_all_##NAME};                            \
    return &info;                                                                                \
  }                                                                                              \
  static void mmsr_register_body_##NAME(::mmsr::Registrar& registrar)
