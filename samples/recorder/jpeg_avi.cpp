// samples/recorder/jpeg_avi.cpp: JpegAvi through GStreamer's appsrc ! avimux ! filesink.
// appsrc gets image/jpeg caps with the frame size and rate, in TIME format, and each JPEG as a
// buffer stamped n / fps; avimux writes it as a video chunk ('00db'), unchanged. close() sends EOS and
// waits on the bus for it (or an error): only then has avimux written its index. A pipeline
// error (a full disk, say) fails the next write() and close(): the recording ends with the reason.
#include "jpeg_avi.hpp"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include "common.hpp"  // gst/common.hpp: bus_error

namespace shmframe::record {
namespace {
// Frames queued for the file beyond this mean the disk does not keep up: the recording fails
// with that reason rather than growing without bound.
constexpr guint64 kMaxQueued = guint64{256} << 20;
}  // namespace

struct JpegAvi::Pipeline {
  GstElement* pipeline = nullptr;
  GstElement* src = nullptr;  // owned by the pipeline
  GstClockTime duration = 0;
  std::uint64_t frames = 0;

  ~Pipeline() {
    if (pipeline != nullptr) {
      gst_element_set_state(pipeline, GST_STATE_NULL);
      gst_object_unref(pipeline);
    }
  }
};

JpegAvi::JpegAvi() = default;

JpegAvi::~JpegAvi() {
  std::string ignored;
  close(ignored);
}

bool JpegAvi::is_open() const { return p_ != nullptr; }

bool JpegAvi::open(const std::string& path, std::uint32_t width, std::uint32_t height, double fps, std::string& why) {
  gst_init(nullptr, nullptr);
  auto p = std::make_unique<Pipeline>();
  p->pipeline = gst_pipeline_new("shmframe-record");
  p->src = gst_element_factory_make("appsrc", nullptr);
  GstElement* mux = gst_element_factory_make("avimux", nullptr);
  GstElement* sink = gst_element_factory_make("filesink", nullptr);
  if (p->src == nullptr || mux == nullptr || sink == nullptr) {
    for (GstElement* e : {p->src, mux, sink}) {
      if (e != nullptr) gst_object_unref(gst_object_ref_sink(e));
    }
    p->src = nullptr;
    why = std::string("GStreamer has no ") +
          (mux == nullptr      ? "avimux"
           : p->src == nullptr ? "appsrc"
                               : "filesink") +
          " element (apt-get install gstreamer1.0-plugins-good gstreamer1.0-plugins-base)";
    return false;
  }
  gst_bin_add_many(GST_BIN(p->pipeline), p->src, mux, sink, nullptr);
  // avimux's video pad by name: a plain link could take an audio pad, which refuses image/jpeg.
  GstPad* video = gst_element_request_pad_simple(mux, "video_%u");
  GstPad* out = gst_element_get_static_pad(p->src, "src");
  const bool linked = video != nullptr && gst_pad_link(out, video) == GST_PAD_LINK_OK;
  gst_object_unref(out);
  if (video != nullptr) gst_object_unref(video);
  if (!linked || gst_element_link(mux, sink) == FALSE) {
    why = "cannot link appsrc ! avimux ! filesink";
    return false;
  }
  gint num = 0;
  gint den = 1;
  gst_util_double_to_fraction(fps, &num, &den);
  GstCaps* caps = gst_caps_new_simple("image/jpeg", "width", G_TYPE_INT, static_cast<gint>(width), "height", G_TYPE_INT,
                                      static_cast<gint>(height), "framerate", GST_TYPE_FRACTION, num, den, nullptr);
  // TIME format with our own stamps. Never blocking in the push: a blocked push would hang for
  // good once the streaming thread stopped on an error. The queue is unbounded in appsrc and
  // bounded by write() instead, which also reads the bus for errors.
  g_object_set(p->src, "caps", caps, "format", GST_FORMAT_TIME, "block", FALSE, "max-bytes", guint64{0}, nullptr);
  gst_caps_unref(caps);
  g_object_set(sink, "location", path.c_str(), nullptr);
  p->duration = gst_util_uint64_scale_int(GST_SECOND, den, num);
  if (gst_element_set_state(p->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    const std::string err = shmframe::gst::bus_error(p->pipeline);
    why = "cannot start writing '" + path + "': " + (err.empty() ? "state change failed" : err);
    return false;
  }
  p_ = std::move(p);
  return true;
}

JpegAvi::Write JpegAvi::write(const std::byte* jpeg, std::size_t size,
                              const std::function<bool(const std::byte*, std::size_t)>& accept, std::string& why) {
  if (p_ == nullptr) {
    why = "no file is open";
    return Write::failed;
  }
  if (const std::string err = shmframe::gst::bus_error(p_->pipeline); !err.empty()) {
    why = "the AVI writer stopped: " + err;
    return Write::failed;
  }
  if (const guint64 queued = gst_app_src_get_current_level_bytes(GST_APP_SRC(p_->src)); queued > kMaxQueued) {
    why = "the disk does not keep up: " + std::to_string(queued >> 20) + " MiB of frames wait to be written";
    return Write::failed;
  }
  GstBuffer* buf = gst_buffer_new_memdup(jpeg, size);
  GstMapInfo map{};
  bool accepted = false;
  if (gst_buffer_map(buf, &map, GST_MAP_READ) != FALSE) {
    accepted = accept(reinterpret_cast<const std::byte*>(map.data), map.size);
    gst_buffer_unmap(buf, &map);
  }
  if (!accepted) {
    gst_buffer_unref(buf);
    return Write::refused;
  }
  GST_BUFFER_PTS(buf) = p_->frames * p_->duration;
  GST_BUFFER_DURATION(buf) = p_->duration;
  const GstFlowReturn r = gst_app_src_push_buffer(GST_APP_SRC(p_->src), buf);  // takes buf
  if (r != GST_FLOW_OK) {
    const std::string err = shmframe::gst::bus_error(p_->pipeline);
    why = std::string("the AVI writer stopped (") + gst_flow_get_name(r) + ")" + (err.empty() ? "" : ": " + err);
    return Write::failed;
  }
  ++p_->frames;
  return Write::appended;
}

bool JpegAvi::close(std::string& why) {
  if (p_ == nullptr) return true;
  std::unique_ptr<Pipeline> p = std::move(p_);
  gst_app_src_end_of_stream(GST_APP_SRC(p->src));
  GstBus* bus = gst_element_get_bus(p->pipeline);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND,
                                             static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  bool ok = m != nullptr && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  if (m != nullptr && !ok) {
    GError* err = nullptr;
    gst_message_parse_error(m, &err, nullptr);
    why = std::string("finishing the AVI file failed: ") + (err != nullptr ? err->message : "error");
    g_clear_error(&err);
  } else if (m == nullptr) {
    why = "finishing the AVI file took more than 10 s: its index may be missing";
  }
  if (m != nullptr) gst_message_unref(m);
  return ok;  // ~Pipeline sets NULL: the file is closed
}

}  // namespace shmframe::record
