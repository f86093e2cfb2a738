// gst/src.hpp: shmframesrc, a live GstPushSrc that follows a shmframe stream and pushes its
// frames as video/x-raw buffers (src.cpp has the design; `gst-inspect-1.0 shmframesrc` the
// user's view).
// Thread contract: a GStreamer element: properties from any thread, data on its streaming thread.
#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS
#define SHMFRAME_TYPE_SRC (shmframe_src_get_type())
// NOLINTNEXTLINE: GObject's type boilerplate (struct _ShmframeSrc, casts) is its own style.
G_DECLARE_FINAL_TYPE(ShmframeSrc, shmframe_src, SHMFRAME, SRC, GstPushSrc)
G_END_DECLS
