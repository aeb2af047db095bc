// The C boundary between the mmsr host and a plugin library. Only plain C types cross it before the
// host has checked the descriptor: ABI version first (the first field, readable in every version),
// then the struct size, then the build fingerprint. Errors come back as codes and text, never exceptions.
#ifndef MMSR_SDK_PLUGIN_ABI_H
#define MMSR_SDK_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#define MMSR_PLUGIN_ABI_VERSION 1u

#ifdef __cplusplus
extern "C" {
#endif

// Opaque to C; it is an mmsr::Registrar owned by the host.
typedef struct mmsr_registrar mmsr_registrar;

// Returns 0 on success; otherwise writes a message into err (at most err_len bytes, NUL-terminated).
typedef int (*mmsr_register_fn)(mmsr_registrar* registrar, char* err, size_t err_len);

// Fields are only ever appended; struct_size tells the host which ones this plugin has.
typedef struct mmsr_plugin_info {
  uint32_t abi_version;     // MMSR_PLUGIN_ABI_VERSION the plugin was built with
  uint32_t struct_size;     // sizeof(mmsr_plugin_info) the plugin was built with
  const char* name;         // plugin (library) name: the entry symbol is mmsr_plugin_<name>
  const char* version;      // the plugin's own version, recorded with every run
  const char* fingerprint;  // build fingerprint: must equal the host's (see fingerprint.h)
  mmsr_register_fn register_all;
} mmsr_plugin_info;

typedef const mmsr_plugin_info* (*mmsr_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
