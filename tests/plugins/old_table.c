/* A plugin built against an older, smaller plugin table (plugin.h, version rule): its table ends
 * at on_frame. The host must load it, call on_frame, and never touch the callbacks beyond its
 * size (here the bytes after the table are garbage that would crash if called). Each frame is
 * logged through the host ("old-table frame SEQ"), so a test sees on_frame run. */
#include <shmframe/plugin.h>
#include <stdio.h>

/* The table as an older plugin.h declared it: the same fields, up to on_frame. */
typedef struct old_plugin {
  uint32_t abi;
  uint32_t size;
  const char* name;
  const char* description;
  void* (*create)(const shmframe_host* host, const shmframe_arg* args, uint32_t arg_count, char* error,
                  uint32_t error_size);
  void (*destroy)(void* self);
  void (*on_attached)(void* self, const shmframe_stream_info* info);
  int (*on_frame)(void* self, const shmframe_frame* frame);
} old_plugin;

static const shmframe_host* g_host;

static void* create(const shmframe_host* host, const shmframe_arg* args, uint32_t n, char* error, uint32_t size) {
  (void)args, (void)n, (void)error, (void)size;
  g_host = host;
  return (void*)&g_host;
}
static void destroy(void* self) { (void)self; }
static int on_frame(void* self, const shmframe_frame* f) {
  char line[64];
  (void)self;
  snprintf(line, sizeof line, "old-table frame %llu", (unsigned long long)f->seq);
  g_host->log(g_host->ctx, SHMFRAME_LOG_INFO, line);
  return SHMFRAME_FRAME_OK;
}

/* The table, followed by bytes a host reading past its size would take for callbacks. */
static const struct {
  old_plugin table;
  uintptr_t poison[3];
} g_plugin = {{SHMFRAME_PLUGIN_ABI, sizeof(old_plugin), "old-table", "an older, smaller plugin table", create, destroy,
               0, on_frame},
              {1, 1, 1}};

__attribute__((visibility("default"))) const shmframe_plugin* shmframe_plugin_entry(void) {
  return (const shmframe_plugin*)&g_plugin.table;
}
