// A library that looks like a plugin by its name but exports no mmsr_plugin_no_entry symbol.
extern "C" __attribute__((visibility("default"))) int mmsr_plugin_something_else(void) { return 0; }
