// gst/src.cpp: shmframesrc: a shmframe stream in, video/x-raw out; a live source.
//
// Design (docs/DECISIONS.md, "GStreamer elements"):
// - One shmframe::Reader, driven from the streaming thread (create()). It waits for the stream,
//   follows restarts and format changes (a new generation with another format renegotiates the
//   caps before its first frame is pushed), reports a lost producer or a close as an element
//   message and keeps waiting; eos-on-close=true ends the stream at a close instead.
// - Zero copy: a frame the Reader could pin (Frame::pin()) is moved into the destroy notify of
//   a read-only GstMemory that views its slot; the slot stays pinned until the buffer is freed, on
//   whatever thread that happens (Frame's contract allows it). A pinned slot is never
//   overwritten, so a buffer's pixels never change while downstream holds it. A stream's
//   consumers pin at most slots - 1 frames together; the frames beyond that (downstream queues
//   more buffers, another consumer pins too, access=read-only) are copied into plain memory and
//   released at once. A frame only held is copied too: with the other slots held by other
//   consumers the producer would overwrite it (issue 22). Every frame is checked with
//   still_valid() before it is pushed (after the copy, for a copy): one the producer overwrote
//   meanwhile is dropped, never pushed torn.
// - Caps: 1:1 with the stream's format (common.hpp): video/x-raw, video/x-bayer, image/jpeg.
// - Layout: GStreamer's default planes for the caps when the stream has them; else, for
//   video/x-raw, a GstVideoMeta with the stream's plane offsets and strides when downstream
//   accepts it (allocation query); else a copy into the default layout. A jpeg frame is its
//   payload_bytes bytes.
// - Timestamps: the frame's capture time (CLOCK_MONOTONIC) mapped to the pipeline clock by
//   ClockMap (common.hpp), minus the base time: PTS is the running time of the capture.
//   Buffer offset = the frame's seq.
// - unlock(): Reader::interrupt() ends create()'s wait at once (a flush or a state change does
//   not wait for a frame); unlock_stop clears it. create() otherwise sleeps until the next
//   event, bounded only by the timeout property while the stream has not appeared yet.
//
// Thread contract: properties from any thread (GST_OBJECT_LOCK); start/stop on the application
// thread; create and negotiation on the streaming thread; unlock/unlock_stop from any thread
// (Reader::interrupt() is); buffers, and the Frames inside them, are freed on any thread.
#include "src.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gst/video/video.h>
#include <shmframe/clock.hpp>
#include <shmframe/error.hpp>
#include <shmframe/names.hpp>
#include <shmframe/reader.hpp>

#include "common.hpp"

GST_DEBUG_CATEGORY_STATIC(shmframe_src_debug);
#define GST_CAT_DEFAULT shmframe_src_debug

namespace {

using shmframe::FrameFormat;

// A wait with nothing to time: the Reader returns at the next event, or at unlock().
constexpr auto kWaitForever = std::chrono::hours(1);

// A GEnum of an option enum, from its table (shmframe/names.hpp): nick = the library's name,
// description = its one line. The values are the C++ enum's.
template <class E>
GType register_enum(const char* type_name) {
  static std::vector<GEnumValue> values = [] {
    std::vector<GEnumValue> v;
    for (const auto& n : shmframe::enum_names<E>()) {
      // The table's strings are literals: NUL-terminated and static.
      v.push_back({static_cast<gint>(n.value), n.description.data(), n.name.data()});
    }
    v.push_back({0, nullptr, nullptr});
    return v;
  }();
  static const GType kType = g_enum_register_static(type_name, values.data());
  return kType;
}
GType mode_get_type() { return register_enum<shmframe::Delivery>("ShmframeSrcMode"); }
GType wait_get_type() { return register_enum<shmframe::WaitPolicy>("ShmframeSrcWait"); }
GType access_get_type() { return register_enum<shmframe::Access>("ShmframeSrcAccess"); }

struct Settings {
  std::string stream;
  shmframe::Delivery mode = shmframe::Delivery::latest;
  shmframe::WaitPolicy wait = shmframe::WaitPolicy::block;
  shmframe::Access access = shmframe::Access::automatic;
  gint expect_owner = -1;  // -1: any
  bool eos_on_close = false;
  guint timeout_ms = 0;
};

struct SrcState {
  Settings settings;                       // guarded by GST_OBJECT_LOCK
  Settings active;                         // copied at start()
  std::optional<shmframe::Reader> reader;  // made in start(), reset in stop(): unlock() is between
  GstCaps* caps = nullptr;                 // of the current format; guarded by GST_OBJECT_LOCK (get_caps)
  std::optional<FrameFormat> format;
  shmframe::gst::GstFormat gst;  // GStreamer's default layout of `format` (and its GstVideoInfo: video/x-raw)
  bool meta_ok = false;          // downstream accepts GstVideoMeta
  bool attached_once = false;
  bool discont = true;
  std::uint64_t started_ns = 0;
  shmframe::gst::ClockMap clock_map;
  std::atomic<std::uint64_t> zero_copy{0};
  std::atomic<std::uint64_t> copied{0};
  std::atomic<std::uint64_t> torn{0};  // overwritten before they could be pushed: dropped
};

enum class Prop : guint {
  stream = 1,
  mode,
  wait,
  eos_on_close,
  timeout,
  zero_copy,
  copied,
  torn,
  access,
  expect_owner
};
constexpr guint prop_id(Prop p) { return static_cast<guint>(p); }

}  // namespace

struct _ShmframeSrc {  // NOLINT(bugprone-reserved-identifier): G_DECLARE_FINAL_TYPE's name
  GstPushSrc parent;
  SrcState* state;
};

G_DEFINE_TYPE(ShmframeSrc, shmframe_src, GST_TYPE_PUSH_SRC)

namespace {

SrcState& state_of(gpointer self) { return *SHMFRAME_SRC(self)->state; }

// "Not yet": create() goes on waiting.
constexpr GstFlowReturn kRetry = GST_FLOW_CUSTOM_SUCCESS;

// An element message: stream, generation, message, and with `info` the stream's fields (the keys
// of shmframe-consumer --status: width, height, format, producer_pid, ...).
void post(ShmframeSrc* self, const char* what, std::uint64_t generation, const std::string& text,
          const shmframe::StreamInfo* info = nullptr) {
  SrcState& st = state_of(self);
  GstStructure* s = gst_structure_new(what, "stream", G_TYPE_STRING, st.active.stream.c_str(), "generation",
                                      G_TYPE_UINT64, static_cast<guint64>(generation), "message", G_TYPE_STRING,
                                      text.c_str(), nullptr);
  if (info != nullptr) shmframe::gst::set_fields(s, shmframe::fields(*info));
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

gboolean src_start(GstBaseSrc* bsrc) {
  auto* self = SHMFRAME_SRC(bsrc);
  SrcState& st = state_of(self);
  GST_OBJECT_LOCK(self);
  st.active = st.settings;
  GST_OBJECT_UNLOCK(self);
  if (st.active.stream.empty()) {
    SHMFRAME_GST_ERROR(self, RESOURCE, SETTINGS,
                       "shmframesrc: no stream name: set the 'stream' property (e.g. stream=cam0)");
    return FALSE;
  }
  if (auto why = shmframe::check_stream_name(st.active.stream)) {
    SHMFRAME_GST_ERROR(self, RESOURCE, SETTINGS,
                       shmframe::gst::printf_string("shmframesrc: stream='%s' is not a valid stream name: %s",
                                                    st.active.stream.c_str(), why->c_str()));
    return FALSE;
  }
  shmframe::ReaderOptions opt;
  opt.delivery = st.active.mode;
  opt.wait = st.active.wait;
  opt.access = st.active.access;
  if (st.active.expect_owner >= 0) opt.expect_owner = static_cast<std::uint32_t>(st.active.expect_owner);
  opt.log = [self](shmframe::LogLevel level, const std::string& message) {
    GST_CAT_LEVEL_LOG(GST_CAT_DEFAULT, shmframe::gst::to_debug_level(level), self, "%s", message.c_str());
  };
  try {
    st.reader.emplace(st.active.stream, std::move(opt));
  } catch (const std::exception& e) {
    SHMFRAME_GST_ERROR(
        self, RESOURCE, OPEN_READ,
        shmframe::gst::printf_string("shmframesrc: cannot read stream '%s': %s", st.active.stream.c_str(), e.what()));
    return FALSE;
  }
  st.format.reset();
  st.attached_once = false;
  st.discont = true;
  st.started_ns = shmframe::monotonic_ns();
  st.clock_map.reset();
  return TRUE;
}

gboolean src_stop(GstBaseSrc* bsrc) {
  auto* self = SHMFRAME_SRC(bsrc);
  SrcState& st = state_of(self);
  st.reader.reset();  // buffers still downstream keep their frames (and the mapping)
  GST_OBJECT_LOCK(self);
  gst_clear_caps(&st.caps);
  GST_OBJECT_UNLOCK(self);
  GST_INFO_OBJECT(self,
                  "stopped: %" G_GUINT64_FORMAT " frames pushed zero-copy, %" G_GUINT64_FORMAT
                  " copied, %" G_GUINT64_FORMAT " dropped as overwritten",
                  st.zero_copy.load(), st.copied.load(), st.torn.load());
  return TRUE;
}

gboolean src_unlock(GstBaseSrc* bsrc) {
  SrcState& st = state_of(bsrc);
  if (st.reader) st.reader->interrupt();  // create() returns FLUSHING at once, and until unlock_stop
  return TRUE;
}

gboolean src_unlock_stop(GstBaseSrc* bsrc) {
  SrcState& st = state_of(bsrc);
  if (st.reader) st.reader->clear_interrupt();
  return TRUE;
}

GstCaps* src_get_caps(GstBaseSrc* bsrc, GstCaps* filter) {
  auto* self = SHMFRAME_SRC(bsrc);
  SrcState& st = state_of(self);
  GST_OBJECT_LOCK(self);
  GstCaps* caps = st.caps != nullptr ? gst_caps_ref(st.caps) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (caps == nullptr) caps = gst_pad_get_pad_template_caps(GST_BASE_SRC_PAD(bsrc));
  if (filter != nullptr) {
    GstCaps* both = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = both;
  }
  return caps;
}

// Nothing to negotiate before the first frame says what the stream is.
gboolean src_negotiate(GstBaseSrc* bsrc) {
  auto* self = SHMFRAME_SRC(bsrc);
  GST_OBJECT_LOCK(self);
  const bool known = state_of(self).caps != nullptr;
  GST_OBJECT_UNLOCK(self);
  return known ? GST_BASE_SRC_CLASS(shmframe_src_parent_class)->negotiate(bsrc) : TRUE;
}

gboolean src_decide_allocation(GstBaseSrc* bsrc, GstQuery* query) {
  state_of(bsrc).meta_ok = gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr) != FALSE;
  return GST_BASE_SRC_CLASS(shmframe_src_parent_class)->decide_allocation(bsrc, query);
}

bool renegotiate(ShmframeSrc* self, const FrameFormat& format, std::uint64_t generation) {
  SrcState& st = state_of(self);
  GstCaps* caps = nullptr;
  const auto gst = shmframe::gst::to_caps(format, &caps);  // framerate 0/1: the stream's rate is the producer's
  if (!gst) {
    SHMFRAME_GST_ERROR(self, CORE, NEGOTIATION,
                       "shmframesrc: stream '" + st.active.stream + "' is " + shmframe::to_string(format) +
                           ", which has no GStreamer caps");
    return false;
  }
  GST_OBJECT_LOCK(self);
  gst_caps_replace(&st.caps, caps);
  GST_OBJECT_UNLOCK(self);
  st.format = format;
  st.gst = *gst;
  st.discont = true;
  GST_INFO_OBJECT(self, "stream '%s' generation %" G_GUINT64_FORMAT ": %" GST_PTR_FORMAT, st.active.stream.c_str(),
                  generation, static_cast<void*>(caps));
  const bool ok = gst_base_src_negotiate(GST_BASE_SRC(self)) != FALSE;
  if (!ok) {
    SHMFRAME_GST_ERROR(self, CORE, NEGOTIATION,
                       shmframe::gst::printf_string(
                           "shmframesrc: downstream does not accept stream '%s' as %s (generation %" G_GUINT64_FORMAT
                           "): put videoconvert / videoscale after shmframesrc",
                           st.active.stream.c_str(), shmframe::gst::caps_text(caps).c_str(), generation));
    st.format.reset();  // try again with the next frame, e.g. after a reconfiguration downstream
  }
  gst_caps_unref(caps);
  return ok;
}

void delete_frame(gpointer p) {
  delete static_cast<shmframe::Frame*>(
      p);  // NOLINT(cppcoreguidelines-owning-memory): the memory's destroy notify owns it
}

// The frame's slot as a read-only GstMemory; the Frame (and its hold) lives as long as it.
GstBuffer* wrap(SrcState& st, shmframe::Frame& f, bool default_layout) {
  auto* holder = new shmframe::Frame(std::move(f));  // NOLINT(cppcoreguidelines-owning-memory): owned by the memory
  const gsize size = holder->payload_bytes();        // the planes' extent; a JPEG's size
  // GStreamer maps read-only memory for reading only; a writer downstream gets a copy.
  auto* data = const_cast<std::byte*>(holder->data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  GstBuffer* buf = gst_buffer_new();
  gst_buffer_append_memory(buf,
                           gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY, data, size, 0, size, holder, delete_frame));
  if (!default_layout) {  // video/x-raw only (deliver()): the stream's planes
    gsize offset[GST_VIDEO_MAX_PLANES] = {0};
    gint stride[GST_VIDEO_MAX_PLANES] = {0};
    const shmframe::FrameFormat& fmt = holder->format();
    for (std::uint32_t i = 0; i < fmt.plane_count(); ++i) {
      offset[i] = fmt.plane(i).offset;
      stride[i] = static_cast<gint>(fmt.plane(i).stride);
    }
    const GstVideoInfo& info = *st.gst.info;
    gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&info),
                                   GST_VIDEO_INFO_WIDTH(&info), GST_VIDEO_INFO_HEIGHT(&info), fmt.plane_count(), offset,
                                   stride);
  }
  st.zero_copy.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return buf;
}

// A copy in GStreamer's default layout; the frame is released. nullptr if it was overwritten.
GstBuffer* copy(SrcState& st, shmframe::Frame& f) {
  const shmframe::FrameFormat& to = st.gst.format;
  const std::size_t size = to.compressed() ? f.payload_bytes() : to.frame_bytes();
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  if (gst_buffer_map(buf, &map, GST_MAP_WRITE) == FALSE) {
    gst_buffer_unref(buf);
    return nullptr;
  }
  shmframe::MutablePlane planes[shmframe::kMaxPlanes];
  for (std::uint32_t i = 0; i < to.plane_count(); ++i) {
    const shmframe::PlaneLayout p = to.plane(i);
    planes[i] = {reinterpret_cast<std::byte*>(map.data) + p.offset, to.compressed() ? size : p.stride, p.row_bytes,
                 p.rows};
  }
  const bool intact = f.copy_to(std::span<const shmframe::MutablePlane>(planes, to.plane_count()));
  gst_buffer_unmap(buf, &map);
  f.release();
  if (!intact) {
    gst_buffer_unref(buf);
    return nullptr;
  }
  st.copied.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return buf;
}

GstFlowReturn deliver(ShmframeSrc* self, shmframe::Event& ev, GstBuffer** out) {
  SrcState& st = state_of(self);
  shmframe::Frame& f = ev.frame;
  if (!st.format || !(f.format() == *st.format)) {
    if (!renegotiate(self, f.format(), ev.generation)) return GST_FLOW_NOT_NEGOTIATED;
  }
  const std::uint64_t seq = f.seq();
  const std::uint64_t capture_ns = f.capture_ns();
  const bool default_layout = shmframe::gst::same_layout(f.format(), st.gst.format);
  const bool meta_ok = st.meta_ok && st.gst.info.has_value();  // GstVideoMeta: video/x-raw only
  GstBuffer* buf = nullptr;
  if (!f.still_valid()) {
    f.release();
  } else if ((default_layout || meta_ok) && f.pin()) {
    // Pinned: the producer never overwrites it while downstream holds the buffer. A frame only
    // held could be (with every other slot held by other consumers), and nobody downstream
    // would notice: those are copied.
    buf = wrap(st, f, default_layout);
  } else {
    buf = copy(st, f);
  }
  if (buf == nullptr) {
    st.torn.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    GST_DEBUG_OBJECT(self, "frame %" G_GUINT64_FORMAT " was overwritten before it could be pushed: dropped", seq);
    return kRetry;
  }
  GstClock* clock = gst_element_get_clock(GST_ELEMENT(self));
  if (clock != nullptr) {
    const GstClockTime t = st.clock_map.from_monotonic(clock, capture_ns);
    const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
    GST_BUFFER_PTS(buf) = t > base ? t - base : 0;
    gst_object_unref(clock);
  }
  GST_BUFFER_OFFSET(buf) = seq;
  GST_BUFFER_OFFSET_END(buf) = seq + 1;
  if (st.discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  st.discont = false;
  *out = buf;
  return GST_FLOW_OK;
}

// Until the first attach: fails once the stream has not appeared within the timeout property.
GstFlowReturn check_appeared(ShmframeSrc* self) {
  SrcState& st = state_of(self);
  const std::uint64_t limit_ns = std::uint64_t{st.active.timeout_ms} * 1'000'000;
  if (!st.attached_once && limit_ns != 0 && shmframe::monotonic_ns() - st.started_ns >= limit_ns) {
    SHMFRAME_GST_ERROR(
        self, RESOURCE, NOT_FOUND,
        shmframe::gst::printf_string(
            "shmframesrc: stream '%s' did not appear within timeout=%u ms: start its producer first, check the "
            "name (ls /dev/shm/shmframe.*), or set timeout=0 to wait for ever",
            st.active.stream.c_str(), st.active.timeout_ms));
    return GST_FLOW_ERROR;
  }
  return kRetry;
}

void log(ShmframeSrc* self, GstDebugLevel level, const std::string& text) {
  GST_CAT_LEVEL_LOG(GST_CAT_DEFAULT, level, self, "%s", text.c_str());
}

// Between frames: the life of the stream, and the timeout for it to appear.
GstFlowReturn on_event(ShmframeSrc* self, const shmframe::Event& ev) {
  SrcState& st = state_of(self);
  const std::string gen = std::to_string(ev.generation);
  switch (ev.kind) {
    case shmframe::EventKind::attached:
      st.attached_once = true;
      log(self, GST_LEVEL_INFO, "attached to stream '" + st.active.stream + "', generation " + gen);
      {
        const shmframe::StreamInfo info = st.reader->info();
        post(self, "shmframe-attached", ev.generation, "attached", &info);
      }
      return kRetry;
    case shmframe::EventKind::producer_lost:
      log(self, GST_LEVEL_WARNING, ev.message + "; waiting for a new producer");
      post(self, "shmframe-producer-lost", ev.generation, ev.message);
      return kRetry;
    case shmframe::EventKind::closed:
      log(self, GST_LEVEL_INFO, "stream '" + st.active.stream + "' closed by its producer");
      post(self, "shmframe-closed", ev.generation, "closed by the producer");
      return st.active.eos_on_close ? GST_FLOW_EOS : kRetry;
    case shmframe::EventKind::corrupt:  // tampering or truncation: the reader re-syncs or re-attaches
      log(self, GST_LEVEL_WARNING, "stream '" + st.active.stream + "': " + ev.message);
      post(self, "shmframe-corrupt", ev.generation, ev.message);
      return kRetry;
    case shmframe::EventKind::error:
      if (!ev.fatal()) {  // a creator that died or stalled: the next producer replaces it
        log(self, GST_LEVEL_WARNING, ev.message + "; waiting for a new producer");
        post(self, "shmframe-error", ev.generation, ev.message);
        return kRetry;
      }
      SHMFRAME_GST_ERROR(self, RESOURCE, OPEN_READ,
                         "shmframesrc: stream '" + st.active.stream + "' cannot be read: " + ev.message);
      return GST_FLOW_ERROR;
    default: break;
  }
  return check_appeared(self);
}

GstFlowReturn src_create(GstPushSrc* psrc, GstBuffer** out) {
  auto* self = SHMFRAME_SRC(psrc);
  SrcState& st = state_of(self);
  for (;;) {
    // Until the stream appears, wake up in time to report that it did not (timeout property).
    std::chrono::nanoseconds wait = kWaitForever;
    if (!st.attached_once && st.active.timeout_ms != 0) {
      const std::uint64_t limit = st.started_ns + std::uint64_t{st.active.timeout_ms} * 1'000'000;
      const std::uint64_t now = shmframe::monotonic_ns();
      wait = std::chrono::nanoseconds(limit > now ? limit - now : 0);
    }
    shmframe::Event ev = st.reader->wait(wait);
    // unlock(): flushing or stopping. A signal (EINTR) is not ours to act on: wait again.
    if (ev.kind == shmframe::EventKind::interrupted && st.reader->interrupt_requested()) return GST_FLOW_FLUSHING;
    const GstFlowReturn r = ev.kind == shmframe::EventKind::frame ? deliver(self, ev, out) : on_event(self, ev);
    if (r != kRetry) return r;
  }
}

void src_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  SrcState& st = state_of(object);
  GST_OBJECT_LOCK(object);
  switch (static_cast<Prop>(id)) {
    case Prop::stream:
      st.settings.stream = g_value_get_string(value) != nullptr ? g_value_get_string(value) : "";
      break;
    case Prop::mode: st.settings.mode = static_cast<shmframe::Delivery>(g_value_get_enum(value)); break;
    case Prop::wait: st.settings.wait = static_cast<shmframe::WaitPolicy>(g_value_get_enum(value)); break;
    case Prop::access: st.settings.access = static_cast<shmframe::Access>(g_value_get_enum(value)); break;
    case Prop::expect_owner: st.settings.expect_owner = g_value_get_int(value); break;
    case Prop::eos_on_close: st.settings.eos_on_close = g_value_get_boolean(value) != FALSE; break;
    case Prop::timeout: st.settings.timeout_ms = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(object);
}

void src_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  SrcState& st = state_of(object);
  GST_OBJECT_LOCK(object);
  switch (static_cast<Prop>(id)) {
    case Prop::stream: g_value_set_string(value, st.settings.stream.c_str()); break;
    case Prop::mode: g_value_set_enum(value, static_cast<gint>(st.settings.mode)); break;
    case Prop::wait: g_value_set_enum(value, static_cast<gint>(st.settings.wait)); break;
    case Prop::access: g_value_set_enum(value, static_cast<gint>(st.settings.access)); break;
    case Prop::expect_owner: g_value_set_int(value, st.settings.expect_owner); break;
    case Prop::eos_on_close: g_value_set_boolean(value, st.settings.eos_on_close ? TRUE : FALSE); break;
    case Prop::timeout: g_value_set_uint(value, st.settings.timeout_ms); break;
    case Prop::zero_copy: g_value_set_uint64(value, st.zero_copy.load()); break;
    case Prop::copied: g_value_set_uint64(value, st.copied.load()); break;
    case Prop::torn: g_value_set_uint64(value, st.torn.load()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(object);
}

void src_finalize(GObject* object) {
  SrcState* st = SHMFRAME_SRC(object)->state;
  gst_clear_caps(&st->caps);
  delete st;  // NOLINT(cppcoreguidelines-owning-memory)
  G_OBJECT_CLASS(shmframe_src_parent_class)->finalize(object);
}

constexpr const char* kSrcDescription =
    "A live source that follows a shmframe stream by name, like shmframe-consumer: it waits for the "
    "stream to appear, follows producer restarts and format changes (new caps before the first frame "
    "of a new generation), posts element messages 'shmframe-attached', 'shmframe-producer-lost', 'shmframe-corrupt', "
    "'shmframe-error' (an error waiting can cure, e.g. a producer that died while creating the stream) and "
    "'shmframe-closed' (fields: stream, generation, message; 'shmframe-attached' also has the stream's "
    "width, height, format, stride, slots, producer_pid, ... as shmframe-consumer --status names them) and keeps "
    "waiting; eos-on-close=true "
    "ends the stream at a close instead.\n"
    "Zero copy: each buffer views its frame's slot in shared memory and pins it until the buffer is "
    "freed, on any thread; the producer never overwrites a pinned slot. The consumers of a stream pin "
    "at most slots - 1 frames together (the producer's slots property): frames beyond that, e.g. while "
    "a queue downstream holds many buffers or another consumer pins too, are copied and released at "
    "once; so is every frame with access=read-only. A frame overwritten before it "
    "could be pushed is dropped, never pushed torn (frames-dropped-overwritten counts them).\n"
    "Caps: video/x-raw in BGR, RGB, BGRA (bgra8 streams) or GRAY8 at the stream's size, framerate 0/1. "
    "PTS: the frame's capture time (CLOCK_MONOTONIC) as running time of the pipeline clock; buffer "
    "offset: the frame's sequence number.";

}  // namespace

static void shmframe_src_class_init(ShmframeSrcClass* klass) {
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  auto* base_class = GST_BASE_SRC_CLASS(klass);
  gobject_class->set_property = src_set_property;
  gobject_class->get_property = src_get_property;
  gobject_class->finalize = src_finalize;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, prop_id(Prop::stream),
      g_param_spec_string("stream", "Stream name",
                          "Name of the shmframe stream to read: [A-Za-z0-9_.-], 1 to 64 characters (the producer's "
                          "--name). Required ('name' is GStreamer's element name)",
                          nullptr, rw));
  g_object_class_install_property(gobject_class, prop_id(Prop::mode),
                                  g_param_spec_enum("mode", "Mode", "Which frames to take", mode_get_type(),
                                                    static_cast<gint>(shmframe::Delivery::latest), rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::wait),
      g_param_spec_enum("wait", "Wait policy", "How to wait for the next frame (README, \"Wait policies\")",
                        wait_get_type(), static_cast<gint>(shmframe::WaitPolicy::block), rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::access),
      g_param_spec_enum("access", "Access",
                        "How to open the stream (README, \"Sharing a stream with other users\"); lossless mode needs "
                        "write access",
                        access_get_type(), static_cast<gint>(shmframe::Access::automatic), rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::expect_owner),
      g_param_spec_int("expect-owner", "Expected owner",
                       "Read the stream only if this uid owns its segment (-1 = any owner): another user's segment "
                       "at the name is an error",
                       -1, G_MAXINT, -1, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::eos_on_close),
      g_param_spec_boolean("eos-on-close", "EOS on close",
                           "Send EOS when the producer closes the stream (false: wait for a new producer)", FALSE, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::timeout),
      g_param_spec_uint(
          "timeout", "Timeout",
          "Milliseconds to wait for the stream to appear before failing with an error (0 = wait for ever)", 0,
          G_MAXUINT, 0, rw));
  g_object_class_install_property(gobject_class, prop_id(Prop::zero_copy),
                                  g_param_spec_uint64("frames-zero-copy", "Frames zero-copy",
                                                      "Buffers pushed that view their slot", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::copied),
      g_param_spec_uint64("frames-copied", "Frames copied",
                          "Buffers pushed as a copy (no slot left to pin, or read-only)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::torn),
      g_param_spec_uint64("frames-dropped-overwritten", "Frames dropped overwritten",
                          "Frames the producer overwrote before they could be pushed (dropped)", 0, G_MAXUINT64, 0,
                          ro));

  gst_element_class_set_static_metadata(element_class, "shmframe source", "Source/Video", kSrcDescription,
                                        "shmframe maintainers <maintainers@shmframe.invalid>");
  GstCaps* caps = gst_caps_from_string(shmframe::gst::kCapsTemplate);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  base_class->start = src_start;
  base_class->stop = src_stop;
  base_class->unlock = src_unlock;
  base_class->unlock_stop = src_unlock_stop;
  base_class->get_caps = src_get_caps;
  base_class->negotiate = src_negotiate;
  base_class->decide_allocation = src_decide_allocation;
  GST_PUSH_SRC_CLASS(klass)->create = src_create;
  GST_DEBUG_CATEGORY_INIT(shmframe_src_debug, "shmframesrc", 0, "shmframe source");
  gst_type_mark_as_plugin_api(mode_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(wait_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(access_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void shmframe_src_init(ShmframeSrc* self) {
  self->state = new SrcState();  // NOLINT(cppcoreguidelines-owning-memory): freed in finalize
  gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}
