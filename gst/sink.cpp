// gst/sink.cpp: shmframesink: video/x-raw buffers in, a shmframe stream out.
//
// Design (docs/DECISIONS.md, "GStreamer elements"):
// - The Writer is created at the first caps (the stream needs a format) and reconfigured, a new
//   generation, when the caps change size or pixel format. Stride: GStreamer's default stride
//   for the caps (rows padded to 4 bytes for BGR/RGB/GRAY8), so that a slot has exactly the
//   layout of a default GStreamer buffer and upstream can draw into it without a GstVideoMeta.
// - Zero copy on the producer side: propose_allocation offers a SlotPool. Each buffer it hands
//   out wraps the Writer's one outstanding WriteSlot (a Lease in the memory's qdata); render()
//   finds the lease and commits the slot in place. A Writer has at most one outstanding slot, so
//   while one pool buffer is out, the pool hands out plain memory instead of waiting (upstream
//   holding two buffers must never deadlock): render() copies those. The same copy path serves
//   buffers from anywhere else (upstream refused the pool, a tee, a buffer pushed twice).
// - Capture time: running time + base time, mapped to CLOCK_MONOTONIC by ClockMap
//   (common.hpp); buffers without a timestamp get the time of render().
//
// Thread contract: properties from any thread (GST_OBJECT_LOCK); caps, allocation and render
// on the sink's streaming thread; the pool's acquire on upstream's streaming thread; a Lease is
// freed wherever its buffer dies. Everything that drives the Writer holds SinkCore::mu (the
// Writer's own contract: one thread at a time).
#include "sink.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>

#include <gst/video/video.h>
#include <shmframe/clock.hpp>
#include <shmframe/error.hpp>
#include <shmframe/inspect.hpp>
#include <shmframe/writer.hpp>

#include "common.hpp"

GST_DEBUG_CATEGORY_STATIC(shmframe_sink_debug);
#define GST_CAT_DEFAULT shmframe_sink_debug

namespace {

using shmframe::FrameFormat;
using shmframe::WriteSlot;

// What the pool, the leases and the element share; outlives the element while buffers live.
// `mu` guards only which Writer is current: the Writer is safe to use from any thread, and its
// acquire() may wait for a lossless consumer (up to max-block), so nobody calls into it with `mu`
// held. Renders, buffer frees on other threads and stop() never wait behind that wait.
struct SinkCore {
  std::mutex mu;
  std::shared_ptr<shmframe::Writer> writer;  // guarded by mu; take it with current()
  std::shared_ptr<shmframe::Writer> current() {
    const std::lock_guard lock(mu);
    return writer;
  }
  // Counters, read by the read-only properties.
  std::atomic<std::uint64_t> zero_copy{0};   // committed in place (pool buffers)
  std::atomic<std::uint64_t> copied{0};      // copied into a slot
  std::atomic<std::uint64_t> dropped{0};     // no slot to commit into (see render)
  std::atomic<std::uint64_t> pool_plain{0};  // pool buffers handed out as plain memory
};

// A WriteSlot lent to upstream inside a GstMemory. The mapping is held so that the memory stays
// readable after the commit and after the Writer moved to another generation or closed.
struct Lease {
  std::shared_ptr<SinkCore> core;
  WriteSlot slot;  // used by whoever holds the buffer (render) or frees it; empty once committed
  std::shared_ptr<const void> mapping;
};

GQuark lease_quark() {
  static const GQuark kQuark = g_quark_from_static_string("shmframe-write-lease");
  return kQuark;
}

void destroy_lease(gpointer p) {
  auto* lease = static_cast<Lease*>(p);
  lease->slot = WriteSlot{};  // dropping an uncommitted slot abandons it (the Writer locks itself)
  delete lease;               // NOLINT(cppcoreguidelines-owning-memory): GLib's destroy notify owns it
}

Lease* lease_of(GstBuffer* buf) {
  if (gst_buffer_n_memory(buf) != 1) return nullptr;
  return static_cast<Lease*>(
      gst_mini_object_get_qdata(GST_MINI_OBJECT_CAST(gst_buffer_peek_memory(buf, 0)), lease_quark()));
}

// The stream format of raw video caps (the slot pool serves video/x-raw only).
std::optional<FrameFormat> frame_format(const GstCaps* caps) {
  const auto f = shmframe::gst::from_caps(caps, 0);
  if (!f || !f->info) return std::nullopt;
  return f->format;
}

}  // namespace

// ---- SlotPool: a GstBufferPool whose buffers are the Writer's slots ------------------------

G_BEGIN_DECLS
#define SHMFRAME_TYPE_SLOT_POOL (shmframe_slot_pool_get_type())
// NOLINTNEXTLINE: GObject's type boilerplate.
G_DECLARE_FINAL_TYPE(ShmframeSlotPool, shmframe_slot_pool, SHMFRAME, SLOT_POOL, GstBufferPool)
G_END_DECLS

struct _ShmframeSlotPool {  // NOLINT(bugprone-reserved-identifier): G_DECLARE_FINAL_TYPE's name
  GstBufferPool parent;
  std::shared_ptr<SinkCore>* core;  // set by make_pool
  GstVideoInfo info;
  std::optional<FrameFormat> format;  // of the configured caps
  bool video_meta;
};

G_DEFINE_TYPE(ShmframeSlotPool, shmframe_slot_pool, GST_TYPE_BUFFER_POOL)

namespace {

gboolean pool_set_config(GstBufferPool* bpool, GstStructure* config) {
  auto* pool = SHMFRAME_SLOT_POOL(bpool);
  GstCaps* caps = nullptr;
  guint size = 0;
  guint min = 0;
  guint max = 0;
  if (gst_buffer_pool_config_get_params(config, &caps, &size, &min, &max) == FALSE || caps == nullptr ||
      gst_video_info_from_caps(&pool->info, caps) == FALSE) {
    GST_WARNING_OBJECT(pool, "pool configured without video caps");
    return FALSE;
  }
  pool->format = frame_format(caps);
  pool->video_meta = gst_buffer_pool_config_has_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META) != FALSE;
  return GST_BUFFER_POOL_CLASS(shmframe_slot_pool_parent_class)->set_config(bpool, config);
}

// No preallocation: every buffer is made at acquire time around the slot then outstanding.
gboolean pool_start(GstBufferPool*) { return TRUE; }

// Never waits: the slot if the Writer has none outstanding, plain memory otherwise.
GstFlowReturn pool_acquire(GstBufferPool* bpool, GstBuffer** out, GstBufferPoolAcquireParams*) {
  auto* pool = SHMFRAME_SLOT_POOL(bpool);
  const std::shared_ptr<SinkCore>& core = *pool->core;
  const auto size = GST_VIDEO_INFO_SIZE(&pool->info);
  GstMemory* mem = nullptr;
  {
    // May wait for a lossless consumer: without SinkCore::mu.
    const std::shared_ptr<shmframe::Writer> writer = core->current();
    if (writer && pool->format && writer->format() == *pool->format) {
      if (WriteSlot slot = writer->acquire(); slot && slot.format().frame_bytes() >= size) {
        auto* lease = new Lease{
            core, std::move(slot), {}};  // NOLINT(cppcoreguidelines-owning-memory): owned by the memory's qdata
        lease->mapping = lease->slot.mapping();
        mem = gst_memory_new_wrapped(static_cast<GstMemoryFlags>(0), lease->slot.data(), size, 0, size, nullptr,
                                     nullptr);
        gst_mini_object_set_qdata(GST_MINI_OBJECT_CAST(mem), lease_quark(), lease, destroy_lease);
      }
    }
  }
  if (mem == nullptr) {
    mem = gst_allocator_alloc(nullptr, size, nullptr);
    core->pool_plain.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  }
  GstBuffer* buf = gst_buffer_new();
  gst_buffer_append_memory(buf, mem);
  if (pool->video_meta) {
    gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&pool->info),
                                   GST_VIDEO_INFO_WIDTH(&pool->info), GST_VIDEO_INFO_HEIGHT(&pool->info),
                                   GST_VIDEO_INFO_N_PLANES(&pool->info), pool->info.offset, pool->info.stride);
  }
  *out = buf;
  return GST_FLOW_OK;
}

// A buffer back from upstream or from render(): freed, not queued (its lease, committed or
// not, ends with it; the next acquire takes a new slot).
void pool_release(GstBufferPool*, GstBuffer* buf) { gst_buffer_unref(buf); }

void pool_finalize(GObject* object) {
  delete SHMFRAME_SLOT_POOL(object)->core;  // NOLINT(cppcoreguidelines-owning-memory)
  G_OBJECT_CLASS(shmframe_slot_pool_parent_class)->finalize(object);
}

GstBufferPool* make_pool(const std::shared_ptr<SinkCore>& core) {
  auto* pool = SHMFRAME_SLOT_POOL(g_object_new(SHMFRAME_TYPE_SLOT_POOL, nullptr));
  pool->core = new std::shared_ptr<SinkCore>(core);  // NOLINT(cppcoreguidelines-owning-memory): freed in finalize
  return GST_BUFFER_POOL(pool);
}

}  // namespace

static void shmframe_slot_pool_class_init(ShmframeSlotPoolClass* klass) {
  auto* pool_class = GST_BUFFER_POOL_CLASS(klass);
  pool_class->set_config = pool_set_config;
  pool_class->start = pool_start;
  pool_class->acquire_buffer = pool_acquire;
  pool_class->release_buffer = pool_release;
  G_OBJECT_CLASS(klass)->finalize = pool_finalize;
}

static void shmframe_slot_pool_init(ShmframeSlotPool* pool) {
  // GObject zeroes the instance; the C++ members need constructing.
  new (&pool->format) std::optional<FrameFormat>();
  gst_video_info_init(&pool->info);
  pool->video_meta = false;
}

// ---- the element ---------------------------------------------------------------------------

namespace {

constexpr guint kDefaultSlots = 3;
constexpr guint kDefaultMaxConsumers = 32;
constexpr guint kDefaultMode = shmframe::kDefaultMode;

struct Settings {
  std::string stream;
  guint slots = kDefaultSlots;
  guint mode = kDefaultMode;
  guint max_consumers = kDefaultMaxConsumers;
  bool offer_pool = true;
  guint64 max_payload = 0;  // image/jpeg: each frame's most bytes (0: width * height * 2)
};

struct SinkState {
  Settings settings;  // guarded by GST_OBJECT_LOCK
  Settings active;    // copied at start(), used while running
  std::shared_ptr<SinkCore> core = std::make_shared<SinkCore>();
  std::optional<shmframe::gst::GstFormat> caps_format;  // of the current caps (streaming thread)
  shmframe::gst::ClockMap clock_map;
  std::uint64_t last_drop_warning_ns = 0;
};

enum class Prop : guint { stream = 1, slots, mode, max_consumers, offer_pool, zero_copy, copied, dropped, max_payload };
constexpr guint prop_id(Prop p) { return static_cast<guint>(p); }

}  // namespace

struct _ShmframeSink {  // NOLINT(bugprone-reserved-identifier): G_DECLARE_FINAL_TYPE's name
  GstBaseSink parent;
  SinkState* state;
};

G_DEFINE_TYPE(ShmframeSink, shmframe_sink, GST_TYPE_BASE_SINK)

namespace {

SinkState& state_of(gpointer self) { return *SHMFRAME_SINK(self)->state; }

void log_to_gst(ShmframeSink* self, shmframe::LogLevel level, const std::string& message) {
  GST_CAT_LEVEL_LOG(GST_CAT_DEFAULT, shmframe::gst::to_debug_level(level), self, "%s", message.c_str());
}

// Checks what the Writer would reject, with the property's name and the fix in the message.
// The Writer's options of these settings (the format comes with the caps).
shmframe::WriterOptions writer_options(const Settings& s) {
  shmframe::WriterOptions opt;
  opt.format = FrameFormat{0, 0, shmframe::PixelFormat::bgr8, 0};  // not known yet: not checked
  opt.slots = s.slots;
  opt.max_consumers = s.max_consumers;
  opt.mode = static_cast<mode_t>(s.mode);
  return opt;
}

bool check_settings(ShmframeSink* self, const Settings& s) {
  if (s.stream.empty()) {
    SHMFRAME_GST_ERROR(self, RESOURCE, SETTINGS,
                       "shmframesink: no stream name: set the 'stream' property (e.g. stream=cam0)");
    return false;
  }
  if (auto why = shmframe::check_stream_name(s.stream)) {
    SHMFRAME_GST_ERROR(self, RESOURCE, SETTINGS,
                       shmframe::gst::printf_string("shmframesink: stream='%s' is not a valid stream name: %s",
                                                    s.stream.c_str(), why->c_str()));
    return false;
  }
  // The library's limits (check_options()), before any caps: a bad property fails start().
  if (auto problem = shmframe::check_options(writer_options(s))) {
    SHMFRAME_GST_ERROR(self, RESOURCE, SETTINGS, "shmframesink: " + *problem);
    return false;
  }
  return true;
}

// With SinkCore::mu held.
bool open_writer(ShmframeSink* self, const FrameFormat& format) {
  SinkState& st = state_of(self);
  shmframe::WriterOptions opt = writer_options(st.active);
  opt.format = format;
  opt.log = [self](shmframe::LogLevel level, const std::string& message) { log_to_gst(self, level, message); };
  try {
    st.core->writer = std::make_shared<shmframe::Writer>(st.active.stream, std::move(opt));
  } catch (const std::exception& e) {
    SHMFRAME_GST_ERROR(
        self, RESOURCE, OPEN_WRITE,
        shmframe::gst::printf_string("shmframesink: cannot create stream '%s' (%s): %s", st.active.stream.c_str(),
                                     shmframe::to_string(format).c_str(), e.what()));
    return false;
  }
  GST_INFO_OBJECT(self, "stream '%s' created: %s, %u slots", st.active.stream.c_str(),
                  shmframe::to_string(format).c_str(), st.active.slots);
  return true;
}

gboolean sink_start(GstBaseSink* bsink) {
  auto* self = SHMFRAME_SINK(bsink);
  SinkState& st = state_of(self);
  GST_OBJECT_LOCK(self);
  st.active = st.settings;
  GST_OBJECT_UNLOCK(self);
  if (!check_settings(self, st.active)) return FALSE;
  // A stream a live producer owns cannot be ours: say so now, while the state change can still
  // fail synchronously, rather than at the first caps (an error from the streaming thread during
  // preroll, which gst-launch-1.0 has been seen to hang on). Writer creation re-checks it anyway.
  try {
    const shmframe::StreamStatus owner = shmframe::inspect(st.active.stream);
    if (owner.producer_alive && (owner.state == "ready" || owner.state == "initializing")) {
      SHMFRAME_GST_ERROR(self, RESOURCE, OPEN_WRITE,
                         shmframe::gst::printf_string(
                             "shmframesink: cannot create stream '%s': it is already produced by pid %d (owned by "
                             "uid %u): stop that producer first, or use another stream name",
                             st.active.stream.c_str(), static_cast<int>(owner.info.writer_pid),
                             static_cast<unsigned>(owner.info.owner_uid)));
      return FALSE;
    }
  } catch (const std::exception&) {  // no stream yet, or not one we can read: the Writer decides
  }
  st.caps_format.reset();
  st.clock_map.reset();
  return TRUE;
}

// Ends an acquire() waiting on another thread at once (it returns empty).
void close_writer(SinkState& st) {
  std::shared_ptr<shmframe::Writer> writer;
  {
    const std::lock_guard lock(st.core->mu);
    writer = std::move(st.core->writer);
  }
  if (writer) writer->close();
}

gboolean sink_stop(GstBaseSink* bsink) {
  auto* self = SHMFRAME_SINK(bsink);
  SinkState& st = state_of(self);
  close_writer(st);
  GST_INFO_OBJECT(self,
                  "stopped: %" G_GUINT64_FORMAT " frames committed in place, %" G_GUINT64_FORMAT
                  " copied, %" G_GUINT64_FORMAT " dropped; %" G_GUINT64_FORMAT " pool buffers were plain memory",
                  st.core->zero_copy.load(), st.core->copied.load(), st.core->dropped.load(),
                  st.core->pool_plain.load());
  return TRUE;
}

gboolean sink_set_caps(GstBaseSink* bsink, GstCaps* caps) {
  auto* self = SHMFRAME_SINK(bsink);
  SinkState& st = state_of(self);
  GST_OBJECT_LOCK(self);
  const guint64 max_payload = st.settings.max_payload;
  GST_OBJECT_UNLOCK(self);
  std::string why;
  const auto caps_format = shmframe::gst::from_caps(caps, max_payload, &why);
  if (!caps_format) {
    SHMFRAME_GST_ERROR(self, STREAM, FORMAT,
                       shmframe::gst::printf_string(
                           "shmframesink: cannot carry caps %s: %s. It takes video/x-raw (GRAY8, GRAY16_LE, BGR, RGB, "
                           "BGRA, BGRx, RGBA, YUY2, UYVY, NV12, I420), video/x-bayer (8-bit) and image/jpeg",
                           shmframe::gst::caps_text(caps).c_str(), why.c_str()));
    return FALSE;
  }
  const std::optional<FrameFormat> format = caps_format->format;
  const std::lock_guard lock(st.core->mu);
  if (!st.core->writer) {
    if (!open_writer(self, *format)) return FALSE;
  } else if (!(st.core->writer->format() == *format)) {
    try {
      st.core->writer->reconfigure(*format);
    } catch (const std::exception& e) {
      SHMFRAME_GST_ERROR(
          self, RESOURCE, OPEN_WRITE,
          shmframe::gst::printf_string("shmframesink: cannot change stream '%s' to %s: %s", st.active.stream.c_str(),
                                       shmframe::to_string(*format).c_str(), e.what()));
      return FALSE;
    }
    GST_INFO_OBJECT(self, "stream '%s' now %s (generation %" G_GUINT64_FORMAT ")", st.active.stream.c_str(),
                    shmframe::to_string(*format).c_str(), st.core->writer->generation());
  }
  st.caps_format = caps_format;
  return TRUE;
}

gboolean sink_propose_allocation(GstBaseSink* bsink, GstQuery* query) {
  auto* self = SHMFRAME_SINK(bsink);
  SinkState& st = state_of(self);
  GstCaps* caps = nullptr;
  gboolean need_pool = FALSE;
  gst_query_parse_allocation(query, &caps, &need_pool);
  // Any stride is fine: render() maps buffers with their GstVideoMeta.
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  GstVideoInfo info;
  if (!st.active.offer_pool || caps == nullptr || gst_video_info_from_caps(&info, caps) == FALSE) return TRUE;
  const auto format = frame_format(caps);
  {
    const std::lock_guard lock(st.core->mu);
    // Only for the stream's own format: a slot of another size cannot hold the buffer.
    if (!format || !st.core->writer || !(st.core->writer->format() == *format)) return TRUE;
  }
  GstBufferPool* pool = make_pool(st.core);
  GstStructure* config = gst_buffer_pool_get_config(pool);
  const auto size = static_cast<guint>(GST_VIDEO_INFO_SIZE(&info));
  gst_buffer_pool_config_set_params(config, caps, size, 0, 0);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (gst_buffer_pool_set_config(pool, config) == FALSE) {
    gst_object_unref(pool);
    return TRUE;
  }
  gst_query_add_allocation_pool(query, pool, size, 0, 0);
  gst_object_unref(pool);
  GST_DEBUG_OBJECT(self, "offered the slot pool for %" GST_PTR_FORMAT, static_cast<void*>(caps));
  return TRUE;
}

std::uint64_t capture_time(ShmframeSink* self, GstBuffer* buf) {
  auto* bsink = GST_BASE_SINK(self);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  GstClock* clock = gst_element_get_clock(GST_ELEMENT(self));
  std::uint64_t t = 0;
  if (clock != nullptr && GST_CLOCK_TIME_IS_VALID(pts)) {
    const GstClockTime rt = gst_segment_to_running_time(&bsink->segment, GST_FORMAT_TIME, pts);
    if (GST_CLOCK_TIME_IS_VALID(rt)) {
      t = state_of(self).clock_map.to_monotonic(clock, rt + gst_element_get_base_time(GST_ELEMENT(self)));
    }
  }
  if (clock != nullptr) gst_object_unref(clock);
  return t != 0 ? t : shmframe::monotonic_ns();
}

// Rate-limited: one warning a second at most, whatever the frame rate.
void warn_drop(ShmframeSink* self, const char* why) {
  SinkState& st = state_of(self);
  st.core->dropped.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  const std::uint64_t now = shmframe::monotonic_ns();
  if (now - st.last_drop_warning_ns < 1'000'000'000) return;
  st.last_drop_warning_ns = now;
  GST_WARNING_OBJECT(self, "frame dropped: %s (%" G_GUINT64_FORMAT " so far)", why, st.core->dropped.load());
}

// Whether `buf` is exactly the slot its lease holds: the lease's memory, unresized, in the slot's
// layout. Decided from the buffer's metadata alone: mapping it (gst_video_frame_map) costs a few
// microseconds of cold-cache work per frame on the hand-off path, to learn a pointer we know.
bool is_slot_itself(GstBuffer* buf, const WriteSlot& slot) {
  gsize offset = 0;
  const gsize size = gst_buffer_get_sizes(buf, &offset, nullptr);
  if (offset != 0 || size < slot.format().frame_bytes()) return false;
  const GstVideoMeta* meta = gst_buffer_get_video_meta(buf);
  if (meta == nullptr) return true;
  if (meta->n_planes != slot.format().plane_count()) return false;
  for (guint i = 0; i < meta->n_planes; ++i) {
    const shmframe::PlaneLayout p = slot.format().plane(i);
    if (meta->offset[i] != p.offset || static_cast<std::uint32_t>(meta->stride[i]) != p.stride) return false;
  }
  return true;
}

// Fills `slot` from `buf` (unless it is the slot itself) and commits it.
shmframe::CommitStatus fill_and_commit(const SinkState& st, shmframe::Writer& writer, GstBuffer* buf, WriteSlot& slot,
                                       std::uint64_t capture, bool* in_place) {
  const auto status = shmframe::gst::fill_slot(*st.caps_format, buf, slot, in_place);
  if (status != shmframe::CommitStatus::ok) return status;
  return writer.commit(slot, capture).status;
}

GstFlowReturn sink_render(GstBaseSink* bsink, GstBuffer* buf) {
  auto* self = SHMFRAME_SINK(bsink);
  SinkState& st = state_of(self);
  if (!st.caps_format) {
    SHMFRAME_GST_ERROR(self, CORE, NEGOTIATION, "shmframesink: a buffer arrived before caps");
    return GST_FLOW_NOT_NEGOTIATED;
  }
  const std::uint64_t capture = capture_time(self, buf);
  std::shared_ptr<shmframe::Writer> writer;
  {
    const std::lock_guard lock(st.core->mu);
    if (!st.core->writer) {  // closed at EOS; data again after a flush
      if (!open_writer(self, st.caps_format->format)) return GST_FLOW_ERROR;
    }
    writer = st.core->writer;
  }
  bool in_place = false;
  // A buffer of our pool still holding its slot: commit that slot, in place unless upstream
  // changed the buffer's layout.
  if (Lease* lease = lease_of(buf); lease != nullptr && lease->slot) {
    if (is_slot_itself(buf, lease->slot)) {
      if (writer->commit(lease->slot, capture).status == shmframe::CommitStatus::ok) {
        st.core->zero_copy.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        return GST_FLOW_OK;
      }
    } else if (fill_and_commit(st, *writer, buf, lease->slot, capture, &in_place) == shmframe::CommitStatus::ok) {
      (in_place ? st.core->zero_copy : st.core->copied).fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
      return GST_FLOW_OK;
    }
    lease->slot = WriteSlot{};  // acquired before a reconfigure: its generation is gone
  }
  WriteSlot slot = writer->acquire();  // may wait for a lossless consumer, up to max-block
  if (!slot) {
    // busy: another pool buffer is out upstream (or being acquired) and holds the Writer's one
    // outstanding slot.
    warn_drop(self, slot.status() == shmframe::CommitStatus::busy
                        ? "upstream holds the stream's write slot in another buffer"
                        : shmframe::explain(slot.status()).data());
    return GST_FLOW_OK;
  }
  const auto status = fill_and_commit(st, *writer, buf, slot, capture, &in_place);
  if (status != shmframe::CommitStatus::ok) {
    warn_drop(self, shmframe::explain(status).data());
    return GST_FLOW_OK;
  }
  st.core->copied.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return GST_FLOW_OK;
}

gboolean sink_event(GstBaseSink* bsink, GstEvent* event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
    // Consumers see the stream closed (their --exit-on-close / eos-on-close act on it).
    close_writer(state_of(bsink));
  }
  return GST_BASE_SINK_CLASS(shmframe_sink_parent_class)->event(bsink, event);
}

void sink_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  SinkState& st = state_of(object);
  GST_OBJECT_LOCK(object);
  switch (static_cast<Prop>(id)) {
    case Prop::stream:
      st.settings.stream = g_value_get_string(value) != nullptr ? g_value_get_string(value) : "";
      break;
    case Prop::slots: st.settings.slots = g_value_get_uint(value); break;
    case Prop::mode: st.settings.mode = g_value_get_uint(value); break;
    case Prop::max_consumers: st.settings.max_consumers = g_value_get_uint(value); break;
    case Prop::offer_pool: st.settings.offer_pool = g_value_get_boolean(value) != FALSE; break;
    case Prop::max_payload: st.settings.max_payload = g_value_get_uint64(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(object);
}

void sink_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  SinkState& st = state_of(object);
  GST_OBJECT_LOCK(object);
  switch (static_cast<Prop>(id)) {
    case Prop::stream: g_value_set_string(value, st.settings.stream.c_str()); break;
    case Prop::slots: g_value_set_uint(value, st.settings.slots); break;
    case Prop::mode: g_value_set_uint(value, st.settings.mode); break;
    case Prop::max_consumers: g_value_set_uint(value, st.settings.max_consumers); break;
    case Prop::offer_pool: g_value_set_boolean(value, st.settings.offer_pool ? TRUE : FALSE); break;
    case Prop::max_payload: g_value_set_uint64(value, st.settings.max_payload); break;
    case Prop::zero_copy: g_value_set_uint64(value, st.core->zero_copy.load()); break;
    case Prop::copied: g_value_set_uint64(value, st.core->copied.load()); break;
    case Prop::dropped: g_value_set_uint64(value, st.core->dropped.load()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(object);
}

void sink_finalize(GObject* object) {
  delete SHMFRAME_SINK(object)->state;  // NOLINT(cppcoreguidelines-owning-memory)
  G_OBJECT_CLASS(shmframe_sink_parent_class)->finalize(object);
}

constexpr const char* kSinkDescription =
    "Publishes raw video as a shmframe stream: a named POSIX shared-memory segment that any number of "
    "shmframe readers on this host (shmframe-consumer, shmframesrc, the C++ Reader) take frames from "
    "without copying, and that follows producer restarts.\n"
    "Formats, 1:1 and without conversion: video/x-raw GRAY8, GRAY16_LE, BGR, RGB, BGRA/BGRx (as bgra8), RGBA, YUY2, "
    "UYVY, NV12, I420; video/x-bayer (rggb, bggr, grbg, gbrg); image/jpeg (max-payload bytes at most). Planes use "
    "GStreamer's default strides and offsets. "
    "A caps change (size, format) starts a new generation of the stream; readers follow it.\n"
    "Zero copy: the sink offers upstream a buffer pool whose buffers are the stream's slots, so an "
    "upstream element that uses it (videotestsrc, videoconvert, decoders that accept downstream "
    "pools) draws straight into shared memory and render() only commits. Otherwise, and for a "
    "second buffer while upstream still holds the slot of the first, each buffer is copied into a "
    "slot (one memcpy per frame; offer-pool=false forces it).\n"
    "Capture time of each frame: running time + base time, which is CLOCK_MONOTONIC when the pipeline "
    "clock is the system clock (the default), else that clock plus a constant offset; buffers "
    "without a timestamp get the time they are rendered.\n"
    "enable-last-sample defaults to false here: keeping the last buffer costs the hand-off a buffer free per "
    "frame.\n"
    "The stream closes at EOS and when the element stops. Properties apply at the next start.";

}  // namespace

static void shmframe_sink_class_init(ShmframeSinkClass* klass) {
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  auto* sink_class = GST_BASE_SINK_CLASS(klass);
  gobject_class->set_property = sink_set_property;
  gobject_class->get_property = sink_get_property;
  gobject_class->finalize = sink_finalize;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, prop_id(Prop::stream),
      g_param_spec_string("stream", "Stream name",
                          "Name of the shmframe stream to publish: [A-Za-z0-9_.-], 1 to 64 characters; the segment is "
                          "/dev/shm/shmframe.<stream>. Required ('name' is GStreamer's element name)",
                          nullptr, rw));
  // Ranges are checked at start(), not by GLib: a clear element error instead of a warning
  // that leaves the default in place.
  g_object_class_install_property(
      gobject_class, prop_id(Prop::slots),
      g_param_spec_uint("slots", "Slots",
                        "Frame slots in the segment, 1..64 (2 = double buffering; each reader may hold slots - 1 "
                        "frames, e.g. a shmframesrc whose buffers wait in a queue)",
                        0, G_MAXUINT, kDefaultSlots, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::mode),
      g_param_spec_uint(
          "mode", "Mode",
          "Permissions of the segment, octal on a gst-launch line (mode=0660 lets the group read; default 0600, shown "
          "as 384), must include 0600",
          0, G_MAXUINT, kDefaultMode, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::max_consumers),
      g_param_spec_uint("max-consumers", "Max consumers", "Size of the stream's consumer table, 1..1024", 0, G_MAXUINT,
                        kDefaultMaxConsumers, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::offer_pool),
      g_param_spec_boolean(
          "offer-pool", "Offer pool",
          "Offer the stream's slots to upstream as a buffer pool (zero copy); false: copy every buffer", TRUE, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::max_payload),
      g_param_spec_uint64("max-payload", "Max payload",
                          "image/jpeg: the most bytes a frame may take, 1024..2^31 (each slot's size; a larger JPEG is "
                          "dropped with a warning, never truncated). 0: width * height * 2",
                          0, G_MAXUINT64, 0, rw));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::zero_copy),
      g_param_spec_uint64("frames-zero-copy", "Frames zero-copy",
                          "Frames upstream drew into a slot (committed in place)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::copied),
      g_param_spec_uint64("frames-copied", "Frames copied", "Frames copied into a slot", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, prop_id(Prop::dropped),
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames not published (upstream held the write slot in another buffer)", 0, G_MAXUINT64, 0,
                          ro));

  gst_element_class_set_static_metadata(element_class, "shmframe sink", "Sink/Video", kSinkDescription,
                                        "shmframe maintainers <maintainers@shmframe.invalid>");
  GstCaps* caps = gst_caps_from_string(shmframe::gst::kCapsTemplate);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  sink_class->start = sink_start;
  sink_class->stop = sink_stop;
  sink_class->set_caps = sink_set_caps;
  sink_class->propose_allocation = sink_propose_allocation;
  sink_class->render = sink_render;
  sink_class->event = sink_event;
  GST_DEBUG_CATEGORY_INIT(shmframe_sink_debug, "shmframesink", 0, "shmframe sink");
}

static void shmframe_sink_init(ShmframeSink* self) {
  self->state = new SinkState();  // NOLINT(cppcoreguidelines-owning-memory): freed in finalize
  // basesink keeps the last buffer for its last-sample property, and replaces it *before* it
  // renders the next one: freeing the previous pool buffer (its lease, memory and meta) then sat
  // on the hand-off path, ~10 us per frame here (docs/PERFORMANCE.md, "GStreamer elements").
  // Nothing reads last-sample from a transport sink; enable-last-sample=true brings it back.
  gst_base_sink_set_last_sample_enabled(GST_BASE_SINK(self), FALSE);
}
