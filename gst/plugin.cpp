// gst/plugin.cpp: the GStreamer plugin `shmframe`: registers shmframesink and shmframesrc.
// Thread contract: GStreamer calls plugin_init once, when it loads the plugin.
#include <gst/gst.h>

#include "sink.hpp"
#include "src.hpp"

namespace {
gboolean plugin_init(GstPlugin* plugin) {
  const bool ok = gst_element_register(plugin, "shmframesink", GST_RANK_NONE, SHMFRAME_TYPE_SINK) != FALSE &&
                  gst_element_register(plugin, "shmframesrc", GST_RANK_NONE, SHMFRAME_TYPE_SRC) != FALSE;
  return ok ? TRUE : FALSE;
}
}  // namespace

// The project has no licence statement yet: GStreamer's "unknown" until it has one.
// NOLINTNEXTLINE: GStreamer's entry-point macro.
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, shmframe,
                  "shmframe: real-time video frames over POSIX shared memory, zero-copy on both sides", plugin_init,
                  SHMFRAME_GST_VERSION, GST_LICENSE_UNKNOWN, "shmframe", "https://shmframe.invalid/")
