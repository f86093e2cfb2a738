// producer/gst_source.cpp: gst:PIPELINE and camera:N --camera-format through GStreamer's
// appsink, publishing each buffer in the format it comes in (no conversion).
//
// The appsink's caps are the formats shmframe carries (gst/common.hpp's template), so a pipeline
// like `v4l2src ! image/jpeg` or `videotestsrc ! video/x-raw,format=NV12` negotiates its own
// format; the stream's plane table is GStreamer's default layout of the caps, and each buffer is
// copied plane by plane into the slot (gst/common.hpp fill_slot). A pipeline that ends without
// an appsink gets one appended.
//
// Ending: the producer's main thread blocks in the appsink's pull; Ctrl-C cannot interrupt that,
// so a watcher thread sleeps in poll() on the app's stop eventfd (app.hpp, written by the signal
// handler) and on an eventfd of its own (this source's end), and sends EOS into the pipeline:
// the pull returns at once. Thread contract: one thread drives the Source; the watcher only
// sends the EOS event (GStreamer's event API is thread-safe).
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "app.hpp"
#include "common.hpp"  // gst/common.hpp
#include "sources.hpp"

namespace shmframe::producer {
namespace {

GstElement* find_appsink(GstElement* pipeline) {
  if (!GST_IS_BIN(pipeline)) return GST_IS_APP_SINK(pipeline) ? GST_ELEMENT(gst_object_ref(pipeline)) : nullptr;
  GstIterator* it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  GstElement* found = nullptr;
  while (found == nullptr && gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto* e = GST_ELEMENT(g_value_get_object(&item));
    if (GST_IS_APP_SINK(e)) found = GST_ELEMENT(gst_object_ref(e));
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return found;
}

class GstSource final : public Source {
 public:
  GstSource(const SourceOptions& o, const std::string& description, std::string what)
      : what_(std::move(what)), max_payload_(o.max_payload) {
    gst_init(nullptr, nullptr);
    const bool has_sink = description.find("appsink") != std::string::npos;
    const std::string full = has_sink ? description : description + " ! appsink name=shmframe";
    GError* err = nullptr;
    pipeline_ = gst_parse_launch(full.c_str(), &err);
    if (err != nullptr) {
      const std::string why = err->message;
      g_clear_error(&err);
      if (pipeline_ != nullptr) gst_object_unref(pipeline_);
      throw std::runtime_error(what_ + ": the pipeline does not parse: " + why);
    }
    sink_ = find_appsink(pipeline_);
    if (sink_ == nullptr) {
      gst_object_unref(pipeline_);
      throw std::runtime_error(what_ + ": no appsink in the pipeline");
    }
    // Exactly the formats shmframe carries: upstream negotiates its own (no conversion here).
    GstCaps* caps = gst_caps_from_string(shmframe::gst::kCapsTemplate);
    gst_app_sink_set_caps(GST_APP_SINK(sink_), caps);
    gst_caps_unref(caps);
    g_object_set(sink_, "sync", FALSE, "max-buffers", 2U, "drop", FALSE, nullptr);
    own_stop_ = ::eventfd(0, EFD_CLOEXEC);
    watcher_ = std::thread([this] { watch(); });
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      const std::string why = shmframe::gst::bus_error(pipeline_);
      close();
      throw std::runtime_error(what_ + " does not start: " + (why.empty() ? "state change failed" : why));
    }
    if (!grab_sample()) {
      const std::string why = shmframe::gst::bus_error(pipeline_);
      close();
      throw std::runtime_error(what_ + ": no frame came" + (why.empty() ? " (end of stream at once)" : ": " + why));
    }
    have_first_ = true;
  }
  ~GstSource() override { close(); }
  GstSource(const GstSource&) = delete;
  GstSource& operator=(const GstSource&) = delete;

  FrameFormat format() const override { return format_.format; }
  double natural_fps() const override { return fps_; }
  bool paced() const override { return true; }  // the pipeline's own timing (a camera's frames)
  bool grab(std::uint64_t) override {
    if (have_first_) {
      have_first_ = false;
      return true;
    }
    if (grab_sample()) return true;
    if (const std::string why = shmframe::gst::bus_error(pipeline_); !why.empty())
      throw std::runtime_error(what_ + ": " + why);
    return false;  // end of stream (or Ctrl-C: EOS from the watcher)
  }
  void render(WriteSlot& slot) override {
    bool in_place = false;
    GstBuffer* buf = gst_sample_get_buffer(sample_);
    const CommitStatus s = shmframe::gst::fill_slot(format_, buf, slot, &in_place);
    if (s == CommitStatus::payload_too_large) {
      slot.set_payload_bytes(slot.capacity() + 1);  // refused at commit, with the reason
    } else if (s != CommitStatus::ok) {
      throw std::runtime_error(what_ + ": a buffer does not match its caps " + caps_);
    }
  }
  std::string describe() const override { return what_; }

 private:
  // The next sample and its format; false at EOS.
  bool grab_sample() {
    if (sample_ != nullptr) gst_sample_unref(sample_);
    sample_ = gst_app_sink_pull_sample(GST_APP_SINK(sink_));
    if (sample_ == nullptr) return false;
    GstCaps* caps = gst_sample_get_caps(sample_);
    if (caps != last_caps_) {
      std::string why;
      auto f = shmframe::gst::from_caps(caps, max_payload_, &why);
      if (!f) throw std::runtime_error(what_ + ": cannot publish caps " + shmframe::gst::caps_text(caps) + ": " + why);
      format_ = *f;
      caps_ = shmframe::gst::caps_text(caps);
      last_caps_ = caps;  // identity only (never dereferenced): caps stay alive in the sample meanwhile
      const GstStructure* st = gst_caps_get_structure(caps, 0);
      gint num = 0;
      gint den = 0;
      fps_ = gst_structure_get_fraction(st, "framerate", &num, &den) != FALSE && den > 0 ? double(num) / den : 0;
    }
    return true;
  }

  void watch() {
    pollfd fds[2] = {{shmframe::app::g_stop_fd, POLLIN, 0}, {own_stop_, POLLIN, 0}};
    const nfds_t n = 2;
    while (::poll(fds, n, -1) < 0 && errno == EINTR) {
    }
    if ((fds[0].revents & POLLIN) != 0) gst_element_send_event(pipeline_, gst_event_new_eos());
  }

  void close() {
    if (own_stop_ >= 0) {
      const std::uint64_t one = 1;
      (void)!::write(own_stop_, &one, sizeof one);
    }
    if (watcher_.joinable()) watcher_.join();
    if (own_stop_ >= 0) ::close(own_stop_);
    own_stop_ = -1;
    if (sample_ != nullptr) gst_sample_unref(sample_);
    sample_ = nullptr;
    if (pipeline_ != nullptr) gst_element_set_state(pipeline_, GST_STATE_NULL);
    if (sink_ != nullptr) gst_object_unref(sink_);
    if (pipeline_ != nullptr) gst_object_unref(pipeline_);
    sink_ = nullptr;
    pipeline_ = nullptr;
  }

  std::string what_;
  std::uint64_t max_payload_;
  GstElement* pipeline_ = nullptr;
  GstElement* sink_ = nullptr;
  GstSample* sample_ = nullptr;
  const void* last_caps_ = nullptr;
  shmframe::gst::GstFormat format_;
  std::string caps_;
  double fps_ = 0;
  bool have_first_ = false;
  int own_stop_ = -1;
  std::thread watcher_;
};

// The caps v4l2src is asked for a camera-native format (camera:N --camera-format F).
std::string camera_caps(const SourceOptions& o) {
  std::string caps;
  const PixelFormat f = o.camera_format.value_or(PixelFormat::jpeg);
  switch (f) {
    case PixelFormat::jpeg: caps = "image/jpeg"; break;
    case PixelFormat::bayer_rggb8: caps = "video/x-bayer,format=rggb"; break;
    case PixelFormat::bayer_bggr8: caps = "video/x-bayer,format=bggr"; break;
    case PixelFormat::bayer_grbg8: caps = "video/x-bayer,format=grbg"; break;
    case PixelFormat::bayer_gbrg8: caps = "video/x-bayer,format=gbrg"; break;
    default: caps = std::string("video/x-raw,format=") + gst_video_format_to_string(shmframe::gst::to_video_format(f));
  }
  if (o.width != 0) caps += ",width=" + std::to_string(o.width) + ",height=" + std::to_string(o.height);
  return caps;
}

}  // namespace

std::unique_ptr<Source> make_gst_source(const SourceOptions& o) {
  if (o.spec.rfind("gst:", 0) == 0) {
    return std::make_unique<GstSource>(o, o.spec.substr(4), "GStreamer pipeline '" + o.spec.substr(4) + "'");
  }
  // camera:N --camera-format F
  const std::string device = "/dev/video" + o.spec.substr(7);
  const std::string pipeline = "v4l2src device=" + device + " ! " + camera_caps(o);
  return std::make_unique<GstSource>(
      o, pipeline, "camera " + device + " in " + std::string(to_string(o.camera_format.value_or(PixelFormat::jpeg))));
}

}  // namespace shmframe::producer
