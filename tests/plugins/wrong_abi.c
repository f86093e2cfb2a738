/* A plugin built for another plugin ABI: the host must refuse it, naming both versions. */
#include <shmframe/plugin.h>

static const shmframe_plugin table = {
    SHMFRAME_PLUGIN_ABI + 98u, sizeof(shmframe_plugin), "wrong-abi", "", 0, 0, 0, 0, 0, 0, 0};

__attribute__((visibility("default"))) const shmframe_plugin* shmframe_plugin_entry(void) { return &table; }
