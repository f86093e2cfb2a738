// gst/sink.hpp: shmframesink, a GstBaseSink that publishes video/x-raw buffers as a shmframe
// stream (sink.cpp has the design; `gst-inspect-1.0 shmframesink` the user's view).
// Thread contract: a GStreamer element: properties from any thread, data on streaming threads.
#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS
#define SHMFRAME_TYPE_SINK (shmframe_sink_get_type())
// NOLINTNEXTLINE: GObject's type boilerplate (struct _ShmframeSink, casts) is its own style.
G_DECLARE_FINAL_TYPE(ShmframeSink, shmframe_sink, SHMFRAME, SINK, GstBaseSink)
G_END_DECLS
