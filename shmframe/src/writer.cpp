// Writer: the producer's facade over the mechanisms (owner lock, segment, slot protocol,
// notifier, consumer table) plus its heartbeat thread.
#include "shmframe/writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "shmframe/detail/consumer_table.hpp"
#include "shmframe/detail/copy.hpp"
#include "shmframe/detail/errors.hpp"
#include "shmframe/detail/notifier.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/owner_lock.hpp"
#include "shmframe/detail/producer_words.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/detail/slot_protocol.hpp"

namespace shmframe {
namespace detail {

struct WriterImpl {
  std::string name;
  WriterOptions opt;
  FrameFormat format;  // the stream's format, stride resolved
  // publish() copies with streaming stores: measured at the first publish() of a size.
  std::optional<bool> stream_copies;
  OwnerLock lock;
  WriteView view;  // current generation; replaced only by the driving thread under mu
  std::uint64_t next_seq = 1;
  std::int64_t newest_slot = -1;
  std::uint64_t last_generation = 0;  // highest generation seen or created under this name
  bool outstanding = false;           // a WriteSlot is out
  bool closed = false;
  std::atomic<std::uint64_t> lossless_waits{0}, lossless_blocked_ns{0}, tampering{0};
  std::vector<std::uint64_t> changing_since;  // reaper's memory of entries changing hands (heartbeat thread)
  std::uint64_t last_tamper_log_ns = 0;       // heartbeat thread
  DemotionLedger ledger;                      // driving thread: lossless consumers it demoted
  std::uint64_t last_demotion_log_ns = 0;     // driving thread: demotion warnings, one a second ...
  std::uint64_t demotions_unlogged = 0;       // ... with a count of those not logged
  std::uint64_t tamper_unlogged = 0;          // heartbeat thread

  // What only the producer writes in the current segment, stored and recorded in one call; the
  // heartbeat re-asserts it (reassert()).
  ProducerWords words;

  mutable std::mutex mu;  // guards `view` replacement against the heartbeat thread (then words' lock)
  std::condition_variable cv;
  bool stop = false;
  std::thread heartbeat;

  void log(LogLevel level, const std::string& msg) const noexcept {
    if (!opt.log) return;
    try {
      opt.log(level, stream_tag(name) + ": " + msg);
    } catch (...) {  // a throwing log callback must not take the stream down
    }
  }
  // Generations never repeat under a name within a boot, and 0 is never used (readers reject it).
  // A takeover or a format change continues from the last one known (+1). A fresh start knows
  // none: the last producer closed cleanly and removed its lock, so "1" would repeat its
  // generations. CLOCK_BOOTTIME in ns instead: larger than every generation created under the
  // name since boot (each was a boot time then, plus one per later generation, and making a
  // generation takes far longer than a nanosecond).
  std::uint64_t next_generation() const noexcept {
    if (last_generation == 0) return std::max<std::uint64_t>(1, boottime_ns());
    return last_generation + 1 == 0 ? 1 : last_generation + 1;
  }
  FrameFormat resolve(FrameFormat f) const;
  void create_generation(const FrameFormat& f);
  void retire(layout::State state) noexcept;
  void beat_and_reap() noexcept;
  // Heartbeat: restores what only the producer may write (state READY, last_committed_seq, slot
  // words, identity and format) where another process changed it; counts and logs it.
  void reassert() noexcept;
  // The segment was truncated under us (the SIGBUS guard put zero pages in its place): a new
  // generation. False (logged) if none could be made; the Writer is then without a segment.
  bool replace_broken() noexcept;
  // The WriteSlot of `region` / `generation` in `slot` is dropped uncommitted (WriteSlot::abandon()).
  void abandon(const std::shared_ptr<Region>& region, std::uint64_t generation, std::uint32_t slot) noexcept;
  // Logs a demotion, at most once a second (with the count of those not logged).
  void log_demotion(std::uint32_t entry, std::int32_t pid, std::uint64_t now) noexcept;
  // mark_for_write() honouring lossless consumers: waits up to max_block, then demotes.
  Marked mark(std::uint64_t seq) noexcept;
  // publish()'s store kind for this generation's size (detail::streaming_wins()).
  bool measure_copies(const WriteSlot& ws, const ImageView& image) const noexcept;
  WriteView current() const {
    std::lock_guard lk(mu);
    return view;
  }
};

FrameFormat WriterImpl::resolve(FrameFormat f) const {
  const std::uint32_t a = opt.stride_align;  // checked by check_options()
  const auto pad = [&](std::uint64_t row) {
    const std::uint64_t padded = (row + a - 1) / a * a;
    if (padded > UINT32_MAX)
      fail(errc::invalid_argument, name, "padded row of " + std::to_string(padded) + " bytes is too long");
    return static_cast<std::uint32_t>(padded);
  };
  if (auto why = f.check()) fail(errc::invalid_argument, name, *why);
  if (f.compressed()) {
    f.max_payload = f.frame_bytes();  // resolved: the default made explicit
  } else {
    if (f.stride == 0 && a > 1) f.stride = pad(f.row_bytes());
    if (f.plane_count() > 1 && f.chroma_stride == 0 && a > 1) f.chroma_stride = pad(f.plane(1).row_bytes);
    f.stride = f.effective_stride();
  }
  (void)plan_geometry(name, f, opt.slots, opt.max_consumers, opt.metadata_capacity);  // validates
  return f;
}

void WriterImpl::create_generation(const FrameFormat& f) {
  Geometry geo = plan_geometry(name, f, opt.slots, opt.max_consumers, opt.metadata_capacity);
  geo.generation = next_generation();
  geo.heartbeat_interval_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.heartbeat).count());
  WriteView v = create_segment(name, geo, opt.mode, opt.prefault, initializing_hook());
  {
    // The view and the words the heartbeat compares it with change together.
    std::lock_guard lk(mu);
    words.reset(v);
    view = std::move(v);
  }
  format = f;
  ledger.reset(geo.max_consumers, static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.demotion_window).count()));
  stream_copies.reset();  // measured again for the new size (remembered per size)
  last_generation = geo.generation;
  next_seq = 1;
  newest_slot = -1;
  if (!lock.record(geo.generation))
    log(LogLevel::warn, "cannot record the generation in the lock: " + errno_text(errno));
}

void WriterImpl::retire(layout::State state) noexcept {
  // Out of the heartbeat's reach first: it must not restore READY over our CLOSED / SUPERSEDED.
  WriteView old;
  {
    std::lock_guard lk(mu);
    old = std::move(view);
    view = WriteView{};
  }
  retire_segment(old, state, name);
}

bool WriterImpl::replace_broken() noexcept {
  log(LogLevel::error, "segment generation " + std::to_string(last_generation) +
                           " was truncated by another process (writes to it went nowhere): making a new generation. "
                           "Give write access to trusted consumers only");
  retire(layout::State::superseded);  // our view is zero pages now: this mostly unlinks the name
  try {
    create_generation(format);
    return true;
  } catch (const Error& e) {
    log(LogLevel::error, std::string("cannot make a new generation: ") + e.what());
    return false;
  }
}

void WriterImpl::beat_and_reap() noexcept {
  const WriteView v = current();
  if (!v) return;
  const std::uint64_t now = monotonic_ns();
  // relaxed: the heartbeat carries no data; readers only compare its age.
  at(v.header().heartbeat_ns).store(now, std::memory_order_relaxed);
  reassert();
  (void)consumer_table::reap(v, now, changing_since, [this](std::uint32_t entry, std::int32_t pid) {
    log(LogLevel::info,
        pid == layout::kReaping
            ? "reclaimed consumer entry " + std::to_string(entry) + ", stuck changing hands"
            : "reclaimed consumer entry " + std::to_string(entry) + " of dead pid " + std::to_string(pid));
  });
}

void WriterImpl::reassert() noexcept {
  std::uint32_t repaired = 0;
  {
    std::lock_guard lk(mu);                      // the view stays current (not retired) while we compare
    if (!view || view.region->broken()) return;  // truncated: replaced on the next acquire()
    repaired = words.reassert(view);
    if (repaired != 0) notifier::wake_all(view);  // sleepers look again at the restored words
  }
  if (repaired == 0) return;
  tampering.fetch_add(repaired, std::memory_order_relaxed);
  tamper_unlogged += repaired;
  // At most one warning a second: an attacker must not flood the log.
  const std::uint64_t now = monotonic_ns();
  if (last_tamper_log_ns != 0 && now - last_tamper_log_ns < 1'000'000'000) return;
  last_tamper_log_ns = now;
  log(LogLevel::warn, "another process wrote words only the producer writes (" + std::to_string(tamper_unlogged) +
                          " restored: state, sequence words, header); give write access to trusted consumers only");
  tamper_unlogged = 0;
}

void WriterImpl::log_demotion(std::uint32_t entry, std::int32_t pid, std::uint64_t now) noexcept {
  // A consumer can get itself demoted on every frame: one line a second, with a count.
  ++demotions_unlogged;
  if (last_demotion_log_ns != 0 && now - last_demotion_log_ns < 1'000'000'000) return;
  last_demotion_log_ns = now;
  std::string more;
  if (demotions_unlogged > 1) more = " (" + std::to_string(demotions_unlogged) + " demotions since the last report)";
  demotions_unlogged = 0;
  log(LogLevel::warn, "lossless consumer pid " + std::to_string(pid) + " (entry " + std::to_string(entry) +
                          ") took no frame for " + std::to_string(opt.max_block.count()) +
                          " ms: demoted to lossy until it catches up; not waited for again for " +
                          std::to_string(opt.demotion_window.count()) + " ms" + more);
}

Marked WriterImpl::mark(std::uint64_t seq) noexcept {
  const WriteView& v = view;
  // Every mark recorded with the word it left: the heartbeat compares with it.
  auto marked = [&](std::uint64_t owed) { return words.mark(v, seq, newest_slot, owed); };
  if (opt.max_block.count() == 0) return marked(0);  // lossless off
  Marked m = marked(owed_slots(v, ledger, monotonic_ns()));
  if (!m.blocked) return m;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline = start + static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.max_block).count());
  lossless_waits.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    const std::uint32_t ticket = notifier::producer_wait_begin(v);
    m = marked(owed_slots(v, ledger, monotonic_ns()));  // after raising the flag: SYNC(lossless)
    const std::uint64_t now = monotonic_ns();
    if (!m.blocked || now >= deadline) break;
    (void)notifier::producer_wait(v, ticket, deadline - now);  // woken, timed out or EINTR: look again
  }
  notifier::producer_wait_end(v);
  // Still blocked after max_block: demote the slowest lossless consumers until a slot frees up
  // (bounded: each round excuses at least one more entry, or nobody is lossless any more).
  while (m.blocked) {
    const std::uint64_t now = monotonic_ns();
    const auto n = demote_slowest(
        v, ledger, seq - 1, now, [this, now](std::uint32_t entry, std::int32_t pid) { log_demotion(entry, pid, now); });
    m = marked(n == 0 ? 0 : owed_slots(v, ledger, now));
  }
  lossless_blocked_ns.fetch_add(monotonic_ns() - start, std::memory_order_relaxed);
  return m;
}

void WriterImpl::abandon(const std::shared_ptr<Region>& region, std::uint64_t generation, std::uint32_t slot) noexcept {
  // Only the slot the writer still considers outstanding, in the generation it was taken from: a
  // retired generation's slot is nobody's business any more.
  if (!outstanding || view.region != region || view.geo.generation != generation) return;
  words.abort(view, slot);
  outstanding = false;
}

bool WriterImpl::measure_copies(const WriteSlot& ws, const ImageView& image) const noexcept {
  const std::size_t bytes = static_cast<std::size_t>(format.row_bytes()) * format.height;
  if (bytes < kStreamingCopyMin) return false;
  // The generation's first frame (seq 1): no slot holds a committed frame and `ws` is the only
  // slot out, so the measurement may copy the caller's own image (tight rows) into it and into
  // another slot, as publish() will, without scratch buffers; their bytes are garbage after it.
  if (ws.seq_ == 1 && image.stride == format.row_bytes() && view.geo.slot_count >= 2) {
    std::byte* other = view.pixels(ws.slot_ == 0 ? 1 : 0);
    return streaming_wins(bytes, image.data, ws.data_, other);
  }
  return streaming_wins(bytes);
}

}  // namespace detail

std::string_view to_string(CommitStatus s) noexcept {
  switch (s) {
    case CommitStatus::ok: return "ok";
    case CommitStatus::closed: return "closed";
    case CommitStatus::busy: return "busy";
    case CommitStatus::empty_slot: return "empty_slot";
    case CommitStatus::foreign_slot: return "foreign_slot";
    case CommitStatus::stale_generation: return "stale_generation";
    case CommitStatus::format_mismatch: return "format_mismatch";
    case CommitStatus::metadata_too_large: return "metadata_too_large";
    case CommitStatus::payload_too_large: return "payload_too_large";
    case CommitStatus::payload_missing: return "payload_missing";
  }
  return "unknown";
}

std::string_view explain(CommitStatus s) noexcept {
  switch (s) {
    case CommitStatus::ok: return "committed";
    case CommitStatus::closed: return "the writer is closed";
    case CommitStatus::busy: return "another slot is outstanding: commit or drop it before acquiring the next";
    case CommitStatus::empty_slot: return "the slot is empty (acquire failed, or it was committed already)";
    case CommitStatus::foreign_slot: return "the slot belongs to another writer";
    case CommitStatus::stale_generation:
      return "the slot was acquired before the stream changed format (reconfigure): acquire a new one";
    case CommitStatus::format_mismatch:
      return "the image's size, pixel size or planes do not match the stream's format";
    case CommitStatus::metadata_too_large:
      return "more metadata than the stream's metadata capacity: raise --metadata-capacity";
    case CommitStatus::payload_too_large:
      return "the JPEG is larger than the stream's capacity: raise it with --max-payload BYTES (max-payload on "
             "shmframesink, max_payload in Python); frames are never truncated";
    case CommitStatus::payload_missing: return "a jpeg frame needs its size: set_payload_bytes() before commit()";
  }
  return "unknown commit status";
}

// ---------------------------------------------------------------------------------------
WriteSlot::WriteSlot(WriteSlot&& o) noexcept { *this = std::move(o); }

WriteSlot& WriteSlot::operator=(WriteSlot&& o) noexcept {
  if (this != &o) {
    abandon();
    writer_ = std::move(o.writer_);
    region_ = std::move(o.region_);
    format_ = o.format_;
    data_ = std::exchange(o.data_, nullptr);
    slot_ = o.slot_;
    seq_ = o.seq_;
    generation_ = o.generation_;
    payload_bytes_ = std::exchange(o.payload_bytes_, 0);
    status_ = std::exchange(o.status_, CommitStatus::empty_slot);
  }
  return *this;
}

WriteSlot::~WriteSlot() { abandon(); }

MutablePlane WriteSlot::plane(std::uint32_t i) noexcept {
  if (data_ == nullptr || i >= plane_count()) return {};
  const PlaneLayout p = format_.plane(i);
  return {data_ + p.offset, p.stride, p.row_bytes, p.rows};
}

void WriteSlot::abandon() noexcept {
  if (data_ == nullptr) return;
  if (auto w = writer_.lock()) w->abandon(region_, generation_, slot_);
  writer_.reset();
  region_.reset();
  data_ = nullptr;
  status_ = CommitStatus::empty_slot;
}

static_assert(kMaxSlots == layout::kMaxSlots && kMaxConsumers == layout::kMaxConsumers &&
              kMaxDimension == layout::kMaxDimension && kMaxMetadata == layout::kMaxMetadata);

std::optional<std::string> check_options(const WriterOptions& o) {
  const auto n = [](auto v) { return std::to_string(v); };
  const FrameFormat& f = o.format;
  if ((f.width != 0 || f.height != 0) &&
      (f.width == 0 || f.height == 0 || f.width > kMaxDimension || f.height > kMaxDimension)) {
    return "size " + n(f.width) + "x" + n(f.height) + " is out of range: use 1.." + n(kMaxDimension) + " each";
  }
  if (f.width != 0 && f.height != 0) {
    if (auto why = f.check()) return *why;
  }
  if (o.slots < 1 || o.slots > kMaxSlots) {
    return "slots=" + n(o.slots) + " is out of range: use 1.." + n(kMaxSlots) +
           " (2 = double buffering; more let readers hold frames)";
  }
  if (o.max_consumers < 1 || o.max_consumers > kMaxConsumers) {
    return "max-consumers=" + n(o.max_consumers) + " is out of range: use 1.." + n(kMaxConsumers);
  }
  if (o.metadata_capacity > kMaxMetadata) {
    return "metadata-capacity=" + n(o.metadata_capacity) + " is out of range: use 0.." + n(kMaxMetadata) + " bytes";
  }
  const std::uint32_t a = o.stride_align;
  if (a == 0 || a > kMaxStrideAlign || (a & (a - 1)) != 0) {
    return "stride-align=" + n(a) + " is not a power of two in 1.." + n(kMaxStrideAlign);
  }
  if ((o.mode & ~static_cast<mode_t>(0777)) != 0 || (o.mode & 0600) != 0600) {
    char octal[16];
    (void)std::snprintf(octal, sizeof octal, "0%o", static_cast<unsigned>(o.mode));
    return std::string("mode=") + octal +
           " is not a permission set that includes owner read+write: use e.g. 0600 or 0660 (0640 / 0644: others "
           "may read)";
  }
  if (o.heartbeat < kMinHeartbeat || o.heartbeat > kMaxHeartbeat) {
    return "heartbeat=" + n(o.heartbeat.count()) + " ms is out of range: use 1 ms .. 60 s";
  }
  if (o.max_block < std::chrono::milliseconds(0) || o.max_block > kMaxMaxBlock) {
    return "max-block=" + n(o.max_block.count()) + " ms is out of range: use 0 .. 60 s (0: never wait)";
  }
  if (o.demotion_window < std::chrono::milliseconds(0) || o.demotion_window > kMaxDemotionWindow) {
    return "demotion-window=" + n(o.demotion_window.count()) + " ms is out of range: use 0 .. 1 h";
  }
  return std::nullopt;
}

Writer::Writer(std::string_view name, WriterOptions options) : impl_(std::make_shared<detail::WriterImpl>()) {
  detail::check_name(name);
  if (auto problem = check_options(options)) detail::fail(errc::invalid_argument, name, *problem);
  auto& d = *impl_;
  d.name = std::string(name);
  d.opt = std::move(options);
  // Validate the format before touching any shared state.
  const FrameFormat f = d.resolve(d.opt.format);
  // The lock stays owner-only whatever the stream's mode: nobody else may hold our name.
  d.lock = detail::OwnerLock(d.name, 0600);
  d.last_generation = d.lock.last_generation();
  d.last_generation = std::max(
      d.last_generation, detail::supersede_existing(d.name, [&d](const std::string& m) { d.log(LogLevel::info, m); }));
  // Our pid in the lock before the segment exists: a consumer that finds the segment stuck
  // before READY can tell whether its creator is alive (lock_owner()).
  (void)d.lock.record(d.last_generation);
  d.create_generation(f);
  try {
    d.heartbeat = std::thread([&d] {
      std::unique_lock lk(d.mu);
      while (!d.stop) {
        d.cv.wait_for(lk, d.opt.heartbeat, [&d] { return d.stop; });
        if (d.stop) break;
        lk.unlock();
        d.beat_and_reap();
        lk.lock();
      }
    });
  } catch (...) {  // no thread: no heartbeat; leave nothing READY behind
    d.retire(layout::State::closed);
    throw;
  }
}

Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&& o) noexcept {
  if (this != &o) {
    close();
    impl_ = std::move(o.impl_);
  }
  return *this;
}
Writer::~Writer() { close(); }

// A moved-from Writer is inert: it behaves as a closed one.
WriteSlot Writer::acquire() noexcept {
  WriteSlot ws;
  if (!impl_) {
    ws.status_ = CommitStatus::closed;
    return ws;
  }
  auto& d = *impl_;
  if (d.closed || !d.view) {
    ws.status_ = CommitStatus::closed;
    return ws;
  }
  if (d.outstanding) {  // one slot at a time: commit or drop the previous one
    ws.status_ = CommitStatus::busy;
    return ws;
  }
  if (d.view.region->broken() && !d.replace_broken()) {
    ws.status_ = CommitStatus::closed;
    return ws;
  }
  const auto& v = d.view;
  const std::uint64_t seq = d.next_seq;
  const detail::Marked m = d.mark(seq);
  d.outstanding = true;
  ws.writer_ = impl_;
  ws.region_ = v.region;
  ws.format_ = v.geo.format;
  ws.slot_ = m.slot;
  ws.seq_ = seq;
  ws.generation_ = v.geo.generation;
  ws.data_ = v.pixels(m.slot);
  ws.status_ = CommitStatus::ok;
  return ws;
}

CommitResult Writer::commit(WriteSlot& slot, std::uint64_t capture_ns, std::span<const std::byte> metadata) noexcept {
  if (!impl_) return {CommitStatus::closed, 0};
  auto& d = *impl_;
  if (d.closed || !d.view) return {CommitStatus::closed, 0};
  if (slot.data_ == nullptr) return {CommitStatus::empty_slot, 0};
  if (slot.writer_.lock() != impl_) return {CommitStatus::foreign_slot, 0};
  if (!d.outstanding || slot.region_ != d.view.region || slot.generation_ != d.view.geo.generation) {
    return {CommitStatus::stale_generation, 0};
  }
  const auto& v = d.view;
  if (metadata.size() > v.geo.metadata_capacity) return {CommitStatus::metadata_too_large, 0};
  std::uint64_t payload = v.geo.frame_bytes;
  if (v.geo.format.compressed()) {
    if (slot.payload_bytes_ == 0) return {CommitStatus::payload_missing, 0};
    if (slot.payload_bytes_ > v.geo.frame_bytes) return {CommitStatus::payload_too_large, 0};
    payload = slot.payload_bytes_;
  }
  if (!metadata.empty()) std::memcpy(v.metadata(slot.slot_), metadata.data(), metadata.size());
  d.words.commit(v, slot.slot_, slot.seq_, capture_ns, static_cast<std::uint32_t>(metadata.size()), payload);
  detail::notifier::wake_consumers(v, slot.seq_);
  d.newest_slot = slot.slot_;
  d.next_seq = slot.seq_ + 1;
  d.outstanding = false;
  const std::uint64_t seq = slot.seq_;
  slot.writer_.reset();
  slot.region_.reset();
  slot.data_ = nullptr;
  slot.status_ = CommitStatus::empty_slot;
  return {CommitStatus::ok, seq};
}

CommitResult Writer::publish(const ImageView& image, std::uint64_t capture_ns,
                             std::span<const std::byte> metadata) noexcept {
  if (!impl_ || impl_->closed) return {CommitStatus::closed, 0};
  const FrameFormat& f = impl_->format;
  if (image.data == nullptr || image.width != f.width || image.height != f.height || f.plane_count() != 1 ||
      f.compressed() || image.bytes_per_pixel != bytes_per_pixel(f.pixel_format) || image.stride < f.row_bytes()) {
    return {CommitStatus::format_mismatch, 0};
  }
  if (metadata.size() > impl_->opt.metadata_capacity) return {CommitStatus::metadata_too_large, 0};
  WriteSlot ws = acquire();
  if (!ws) return {ws.status(), 0};
  // Streaming stores where they win on this machine at this size (detail/copy.hpp); commit()
  // fences them before publishing.
  if (!impl_->stream_copies) impl_->stream_copies = impl_->measure_copies(ws, image);
  detail::copy_rows(ws.data(), ws.stride(), image.data, image.stride, f.row_bytes(), f.height, *impl_->stream_copies);
  return commit(ws, capture_ns, metadata);
}

CommitResult Writer::publish_planes(std::span<const PlaneView> planes, std::uint64_t capture_ns,
                                    std::span<const std::byte> metadata) noexcept {
  if (!impl_ || impl_->closed) return {CommitStatus::closed, 0};
  const FrameFormat& f = impl_->format;
  if (f.compressed() || planes.size() != f.plane_count()) return {CommitStatus::format_mismatch, 0};
  for (std::uint32_t i = 0; i < f.plane_count(); ++i) {
    const PlaneLayout want = f.plane(i);
    const PlaneView& p = planes[i];
    if (p.data == nullptr || p.row_bytes != want.row_bytes || p.rows != want.rows || p.stride < p.row_bytes) {
      return {CommitStatus::format_mismatch, 0};
    }
  }
  if (metadata.size() > impl_->opt.metadata_capacity) return {CommitStatus::metadata_too_large, 0};
  WriteSlot ws = acquire();
  if (!ws) return {ws.status(), 0};
  for (std::uint32_t i = 0; i < f.plane_count(); ++i) {
    const MutablePlane to = ws.plane(i);
    const PlaneView& p = planes[i];
    detail::copy_rows(to.data, to.stride, p.data, p.stride, p.row_bytes, p.rows, false);
  }
  return commit(ws, capture_ns, metadata);
}

CommitResult Writer::publish_payload(std::span<const std::byte> payload, std::uint64_t capture_ns,
                                     std::span<const std::byte> metadata) noexcept {
  if (!impl_ || impl_->closed) return {CommitStatus::closed, 0};
  const FrameFormat& f = impl_->format;
  if (!f.compressed()) return {CommitStatus::format_mismatch, 0};
  if (payload.empty()) return {CommitStatus::payload_missing, 0};
  if (payload.size() > f.frame_bytes()) return {CommitStatus::payload_too_large, 0};
  if (metadata.size() > impl_->opt.metadata_capacity) return {CommitStatus::metadata_too_large, 0};
  WriteSlot ws = acquire();
  if (!ws) return {ws.status(), 0};
  std::memcpy(ws.data(), payload.data(), payload.size());
  ws.set_payload_bytes(payload.size());
  return commit(ws, capture_ns, metadata);
}

void Writer::reconfigure(const FrameFormat& format) {
  if (!impl_) throw Error(errc::closed, "reconfigure() on a moved-from Writer");
  auto& d = *impl_;
  if (d.closed) detail::fail(errc::closed, d.name, "reconfigure after close");
  const FrameFormat f = d.resolve(format);
  if (d.view && f == d.format) return;
  d.outstanding = false;
  d.retire(layout::State::superseded);
  d.create_generation(f);  // after a failed attempt, this simply retries
  d.log(LogLevel::info, "new generation " + std::to_string(d.last_generation) + " for " + to_string(f));
}

void Writer::close() noexcept {
  if (!impl_ || impl_->closed) return;
  auto& d = *impl_;
  {
    std::lock_guard lk(d.mu);
    d.stop = true;
  }
  d.cv.notify_all();
  if (d.heartbeat.joinable()) d.heartbeat.join();
  d.retire(layout::State::closed);
  d.lock.unlock_and_remove();
  d.closed = true;
}

const std::string& Writer::name() const noexcept {
  static const std::string kNone;
  return impl_ ? impl_->name : kNone;
}
const FrameFormat& Writer::format() const noexcept {
  static const FrameFormat kNone{0, 0, PixelFormat::gray8, 0};
  return impl_ ? impl_->format : kNone;
}
std::uint64_t Writer::generation() const noexcept { return impl_ ? impl_->view.geo.generation : 0; }
std::uint32_t Writer::metadata_capacity() const noexcept { return impl_ ? impl_->opt.metadata_capacity : 0; }

WriterStats Writer::stats() const {
  WriterStats s;
  if (!impl_) return s;
  const detail::WriteView v = impl_->current();
  if (!v) return s;
  const auto& h = v.header();
  // relaxed: a statistics snapshot.
  s.generation = v.geo.generation;
  s.last_seq = detail::load(h.last_committed_seq, std::memory_order_relaxed);
  s.forced_overwrites = detail::load(h.forced_overwrites, std::memory_order_relaxed);
  s.consumers_reaped = detail::load(h.consumers_reaped, std::memory_order_relaxed);
  s.commits_aborted = detail::load(h.commits_aborted, std::memory_order_relaxed);
  s.lossless_demotions = detail::load(h.lossless_demotions, std::memory_order_relaxed);
  s.lossless_waits = impl_->lossless_waits.load(std::memory_order_relaxed);
  s.lossless_blocked_ns = impl_->lossless_blocked_ns.load(std::memory_order_relaxed);
  s.tampering = impl_->tampering.load(std::memory_order_relaxed);
  s.consumers = detail::consumer_table::snapshot(v);
  return s;
}

}  // namespace shmframe
