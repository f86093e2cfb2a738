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

// The Writer's state and the operations on it. Every public method may be called from any thread:
// they serialize on `drive_`, which acquire() releases while it waits for a lossless consumer, so
// that a WriteSlot dropped on another thread (a GStreamer buffer freed downstream), stats(),
// reconfigure() or close() never wait behind that wait. The heartbeat thread takes only `mu_`.
// Lock order: drive_, then mu_, then ProducerWords' own lock.
class WriterImpl {
 public:
  WriterImpl(std::string_view name, WriterOptions options);
  ~WriterImpl() { close(); }
  WriterImpl(const WriterImpl&) = delete;
  WriterImpl& operator=(const WriterImpl&) = delete;

  WriteSlot acquire(const std::shared_ptr<WriterImpl>& self) noexcept;
  CommitResult commit(WriteSlot& slot, std::uint64_t capture_ns, std::span<const std::byte> metadata,
                      const Origin* origin) noexcept;
  // The copying publishers: acquire, `fill` the slot (without the lock), commit. `fits` returns
  // ok when the image fits a format, else why not; it sees the stream's format and the slot's.
  template <class Fits, class Fill>
  CommitResult publish(const std::shared_ptr<WriterImpl>& self, std::uint64_t capture_ns, Fits&& fits, Fill&& fill,
                       std::span<const std::byte> metadata, const Origin* origin) noexcept;
  // publish()'s store kind for this generation's size (detail::streaming_wins()); under drive_.
  bool streaming_copies(const WriteSlot& ws, const ImageView& image) noexcept;
  void reconfigure(const FrameFormat& format);
  void close() noexcept;
  // The WriteSlot of `region` / `generation` in `slot` is dropped uncommitted (WriteSlot::abandon()).
  void abandon(const std::shared_ptr<Region>& region, std::uint64_t generation, std::uint32_t slot) noexcept;

  const std::string& name() const noexcept { return name_; }
  std::uint32_t metadata_capacity() const noexcept { return opt_.metadata_capacity; }
  FrameFormat format() const {
    const std::lock_guard lk(drive_);
    return format_;
  }
  WriterStats stats() const;
  WriteView current() const {
    const std::lock_guard lk(mu_);
    return view_;
  }

 private:
  void log(LogLevel level, const std::string& msg) const noexcept {
    if (!opt_.log) return;
    try {
      opt_.log(level, stream_tag(name_) + ": " + msg);
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
    if (last_generation_ == 0) return std::max<std::uint64_t>(1, boottime_ns());
    return last_generation_ + 1 == 0 ? 1 : last_generation_ + 1;
  }
  FrameFormat resolve(FrameFormat f) const;
  void create_generation(const FrameFormat& f);
  void retire(layout::State state) noexcept;
  void heartbeat_loop() noexcept;
  void beat_and_reap() noexcept;
  // Heartbeat: restores what only the producer may write (state READY, last_committed_seq, slot
  // words, identity and format) where another process changed it; counts and logs it.
  void reassert() noexcept;
  // The segment was truncated under us (the SIGBUS guard put zero pages in its place): a new
  // generation. False (logged) if none could be made; the Writer is then without a segment.
  bool replace_broken() noexcept;
  // Logs a demotion, at most once a second (with the count of those not logged).
  void log_demotion(std::uint32_t entry, std::int32_t pid, std::uint64_t now) noexcept;
  // mark_for_write() honouring lossless consumers: waits up to max_block (with `drive` released),
  // then demotes. nullopt: close() or reconfigure() retired the generation during the wait.
  std::optional<Marked> mark(std::uint64_t seq, std::unique_lock<std::mutex>& drive) noexcept;

  const std::string name_;
  const WriterOptions opt_;

  mutable std::mutex drive_;  // the public operations; released by mark() while it waits
  // Under drive_:
  FrameFormat format_;                 // the stream's format, stride resolved
  std::optional<bool> stream_copies_;  // publish()'s store kind, measured at its first call per size
  OwnerLock lock_;
  std::uint64_t next_seq_ = 1;
  std::int64_t newest_slot_ = -1;
  std::uint64_t last_generation_ = 0;  // highest generation seen or created under this name
  bool outstanding_ = false;           // a WriteSlot is out, or acquire() is waiting for one
  bool closed_ = false;
  DemotionLedger ledger_;                   // lossless consumers it demoted
  std::uint64_t last_demotion_log_ns_ = 0;  // demotion warnings, one a second ...
  std::uint64_t demotions_unlogged_ = 0;    // ... with a count of those not logged

  mutable std::mutex mu_;  // `view_` replacement against the heartbeat thread; `stop_`
  WriteView view_;         // current generation; replaced under drive_ and mu_ (read under either)
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread heartbeat_;

  // Heartbeat thread only:
  std::vector<std::uint64_t> changing_since_;  // the reaper's memory of entries changing hands
  std::uint64_t last_tamper_log_ns_ = 0;
  std::uint64_t tamper_unlogged_ = 0;

  std::atomic<std::uint64_t> lossless_waits_{0}, lossless_blocked_ns_{0}, tampering_{0};
  // What only the producer writes in the current segment, stored and recorded in one call; the
  // heartbeat re-asserts it (reassert()).
  ProducerWords words_;
};

WriterImpl::WriterImpl(std::string_view name, WriterOptions options) : name_(name), opt_(std::move(options)) {
  // Validate the format before touching any shared state.
  const FrameFormat f = resolve(opt_.format);
  // The lock stays owner-only whatever the stream's mode: nobody else may hold our name.
  lock_ = OwnerLock(name_, 0600);
  last_generation_ = lock_.last_generation();
  last_generation_ = std::max(last_generation_,
                              supersede_existing(name_, [this](const std::string& m) { log(LogLevel::info, m); }));
  // Our pid in the lock before the segment exists: a consumer that finds the segment stuck
  // before READY can tell whether its creator is alive (lock_owner()).
  (void)lock_.record(last_generation_);
  const std::lock_guard dl(drive_);
  create_generation(f);
  try {
    heartbeat_ = std::thread([this] { heartbeat_loop(); });
  } catch (...) {  // no thread: no heartbeat; leave nothing READY behind
    retire(layout::State::closed);
    closed_ = true;
    throw;
  }
}

FrameFormat WriterImpl::resolve(FrameFormat f) const {
  const std::uint32_t a = opt_.stride_align;  // checked by check_options()
  const auto pad = [&](std::uint64_t row) {
    const std::uint64_t padded = (row + a - 1) / a * a;
    if (padded > UINT32_MAX)
      fail(errc::invalid_argument, name_, "padded row of " + std::to_string(padded) + " bytes is too long");
    return static_cast<std::uint32_t>(padded);
  };
  if (auto why = f.check()) fail(errc::invalid_argument, name_, *why);
  if (f.compressed()) {
    f.max_payload = f.frame_bytes();  // resolved: the default made explicit
  } else {
    if (f.stride == 0 && a > 1) f.stride = pad(f.row_bytes());
    if (f.plane_count() > 1 && f.chroma_stride == 0 && a > 1) f.chroma_stride = pad(f.plane(1).row_bytes);
    f.stride = f.effective_stride();
  }
  (void)plan_geometry(name_, f, opt_.slots, opt_.max_consumers, opt_.metadata_capacity);  // validates
  return f;
}

void WriterImpl::create_generation(const FrameFormat& f) {
  Geometry geo = plan_geometry(name_, f, opt_.slots, opt_.max_consumers, opt_.metadata_capacity);
  geo.generation = next_generation();
  geo.heartbeat_interval_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(opt_.heartbeat).count());
  WriteView v = create_segment(name_, geo, opt_.mode, opt_.prefault, initializing_hook());
  {
    // The view and the words the heartbeat compares it with change together.
    const std::lock_guard lk(mu_);
    words_.reset(v);
    view_ = std::move(v);
  }
  format_ = f;
  ledger_.reset(geo.max_consumers, static_cast<std::uint64_t>(std::chrono::nanoseconds(opt_.demotion_window).count()));
  stream_copies_.reset();  // measured again for the new size (remembered per size)
  last_generation_ = geo.generation;
  next_seq_ = 1;
  newest_slot_ = -1;
  if (!lock_.record(geo.generation))
    log(LogLevel::warn, "cannot record the generation in the lock: " + errno_text(errno));
}

void WriterImpl::retire(layout::State state) noexcept {
  // Out of the heartbeat's reach first: it must not restore READY over our CLOSED / SUPERSEDED.
  WriteView old;
  {
    const std::lock_guard lk(mu_);
    old = std::move(view_);
    view_ = WriteView{};
  }
  // An acquire() on another thread waiting for a lossless consumer looks again and gives up.
  if (old) notifier::wake_producer(old);
  retire_segment(old, state, name_);
}

bool WriterImpl::replace_broken() noexcept {
  log(LogLevel::error, "segment generation " + std::to_string(last_generation_) +
                           " was truncated by another process (writes to it went nowhere): making a new generation. "
                           "Give write access to trusted consumers only");
  retire(layout::State::superseded);  // our view is zero pages now: this mostly unlinks the name
  try {
    create_generation(format_);
    return true;
  } catch (const Error& e) {
    log(LogLevel::error, std::string("cannot make a new generation: ") + e.what());
    return false;
  }
}

void WriterImpl::heartbeat_loop() noexcept {
  std::unique_lock lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, opt_.heartbeat, [this] { return stop_; });
    if (stop_) break;
    lk.unlock();
    beat_and_reap();
    lk.lock();
  }
}

void WriterImpl::beat_and_reap() noexcept {
  const WriteView v = current();
  if (!v) return;
  const std::uint64_t now = monotonic_ns();
  // relaxed: the heartbeat carries no data; readers only compare its age.
  at(v.header().heartbeat_ns).store(now, std::memory_order_relaxed);
  reassert();
  (void)consumer_table::reap(v, now, changing_since_, [this](std::uint32_t entry, std::int32_t pid) {
    log(LogLevel::info,
        pid == layout::kReaping
            ? "reclaimed consumer entry " + std::to_string(entry) + ", stuck changing hands"
            : "reclaimed consumer entry " + std::to_string(entry) + " of dead pid " + std::to_string(pid));
  });
}

void WriterImpl::reassert() noexcept {
  std::uint32_t repaired = 0;
  {
    const std::lock_guard lk(mu_);                 // the view stays current (not retired) while we compare
    if (!view_ || view_.region->broken()) return;  // truncated: replaced on the next acquire()
    repaired = words_.reassert(view_);
    if (repaired != 0) notifier::wake_all(view_);  // sleepers look again at the restored words
  }
  if (repaired == 0) return;
  tampering_.fetch_add(repaired, std::memory_order_relaxed);
  tamper_unlogged_ += repaired;
  // At most one warning a second: an attacker must not flood the log.
  const std::uint64_t now = monotonic_ns();
  if (last_tamper_log_ns_ != 0 && now - last_tamper_log_ns_ < 1'000'000'000) return;
  last_tamper_log_ns_ = now;
  log(LogLevel::warn, "another process wrote words only the producer writes (" + std::to_string(tamper_unlogged_) +
                          " restored: state, sequence words, header); give write access to trusted consumers only");
  tamper_unlogged_ = 0;
}

void WriterImpl::log_demotion(std::uint32_t entry, std::int32_t pid, std::uint64_t now) noexcept {
  // A consumer can get itself demoted on every frame: one line a second, with a count.
  ++demotions_unlogged_;
  if (last_demotion_log_ns_ != 0 && now - last_demotion_log_ns_ < 1'000'000'000) return;
  last_demotion_log_ns_ = now;
  std::string more;
  if (demotions_unlogged_ > 1) more = " (" + std::to_string(demotions_unlogged_) + " demotions since the last report)";
  demotions_unlogged_ = 0;
  log(LogLevel::warn, "lossless consumer pid " + std::to_string(pid) + " (entry " + std::to_string(entry) +
                          ") took no frame for " + std::to_string(opt_.max_block.count()) +
                          " ms: demoted to lossy until it catches up; not waited for again for " +
                          std::to_string(opt_.demotion_window.count()) + " ms" + more);
}

std::optional<Marked> WriterImpl::mark(std::uint64_t seq, std::unique_lock<std::mutex>& drive) noexcept {
  // Every mark recorded with the word it left: the heartbeat compares with it.
  auto marked = [&](const WriteView& v, std::uint64_t owed) { return words_.mark(v, seq, newest_slot_, owed); };
  if (opt_.max_block.count() == 0) return marked(view_, 0);  // lossless off
  Marked m = marked(view_, owed_slots(view_, ledger_, monotonic_ns()));
  if (!m.blocked) return m;
  const WriteView v = view_;  // stays mapped while drive_ is released
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline = start + static_cast<std::uint64_t>(std::chrono::nanoseconds(opt_.max_block).count());
  lossless_waits_.fetch_add(1, std::memory_order_relaxed);
  bool retired = false;
  for (;;) {
    const std::uint32_t ticket = notifier::producer_wait_begin(v);
    m = marked(v, owed_slots(v, ledger_, monotonic_ns()));  // after raising the flag: SYNC(lossless)
    const std::uint64_t now = monotonic_ns();
    if (!m.blocked || now >= deadline) break;
    drive.unlock();
    (void)notifier::producer_wait(v, ticket, deadline - now);  // woken, timed out or EINTR: look again
    drive.lock();
    // close() or reconfigure() on another thread meanwhile (retire() woke us).
    if (closed_ || view_.region != v.region) {
      retired = true;
      break;
    }
  }
  notifier::producer_wait_end(v);
  // Still blocked after max_block: demote the slowest lossless consumers until a slot frees up
  // (bounded: each round excuses at least one more entry, or nobody is lossless any more).
  while (!retired && m.blocked) {
    const std::uint64_t now = monotonic_ns();
    const auto n = demote_slowest(v, ledger_, seq - 1, now, [this, now](std::uint32_t entry, std::int32_t pid) {
      log_demotion(entry, pid, now);
    });
    m = marked(v, n == 0 ? 0 : owed_slots(v, ledger_, now));
  }
  lossless_blocked_ns_.fetch_add(monotonic_ns() - start, std::memory_order_relaxed);
  if (retired) return std::nullopt;
  return m;
}

WriteSlot WriterImpl::acquire(const std::shared_ptr<WriterImpl>& self) noexcept {
  WriteSlot ws;
  std::unique_lock dl(drive_);
  if (closed_ || !view_) {
    ws.status_ = CommitStatus::closed;
    return ws;
  }
  if (outstanding_) {  // one slot at a time: commit or drop the previous one
    ws.status_ = CommitStatus::busy;
    return ws;
  }
  if (view_.region->broken() && !replace_broken()) {
    ws.status_ = CommitStatus::closed;
    return ws;
  }
  const std::uint64_t seq = next_seq_;
  outstanding_ = true;  // before mark() may release drive_: another acquire() meanwhile is busy
  const std::optional<Marked> m = mark(seq, dl);
  if (!m) {  // the generation was retired during the wait (and outstanding_ reset with it)
    ws.status_ = closed_ ? CommitStatus::closed : CommitStatus::stale_generation;
    return ws;
  }
  const WriteView& v = view_;
  ws.writer_ = self;
  ws.region_ = v.region;
  ws.format_ = v.geo.format;
  ws.slot_ = m->slot;
  ws.seq_ = seq;
  ws.generation_ = v.geo.generation;
  ws.data_ = v.pixels(m->slot);
  ws.status_ = CommitStatus::ok;
  return ws;
}

CommitResult WriterImpl::commit(WriteSlot& slot, std::uint64_t capture_ns, std::span<const std::byte> metadata,
                                const Origin* origin) noexcept {
  const std::lock_guard dl(drive_);
  if (closed_ || !view_) return {CommitStatus::closed, 0};
  if (slot.data_ == nullptr) return {CommitStatus::empty_slot, 0};
  if (slot.writer_.lock().get() != this) return {CommitStatus::foreign_slot, 0};
  if (!outstanding_ || slot.region_ != view_.region || slot.generation_ != view_.geo.generation) {
    return {CommitStatus::stale_generation, 0};
  }
  const WriteView& v = view_;
  const std::size_t record = origin != nullptr ? kOriginRecordSize : 0;
  if (record + metadata.size() > v.geo.metadata_capacity) return {CommitStatus::metadata_too_large, 0};
  std::uint64_t payload = v.geo.frame_bytes;
  if (v.geo.format.compressed()) {
    if (slot.payload_bytes_ == 0) return {CommitStatus::payload_missing, 0};
    if (slot.payload_bytes_ > v.geo.frame_bytes) return {CommitStatus::payload_too_large, 0};
    payload = slot.payload_bytes_;
  }
  std::byte* md = v.metadata(slot.slot_);
  if (origin != nullptr && !write_origin_record(*origin, {md, kOriginRecordSize})) return {CommitStatus::bad_origin, 0};
  if (!metadata.empty()) std::memcpy(md + record, metadata.data(), metadata.size());
  words_.commit(v, slot.slot_, slot.seq_,
                SlotWords{.capture_ns = capture_ns,
                          .metadata_size = static_cast<std::uint32_t>(record + metadata.size()),
                          .flags = origin != nullptr ? layout::kSlotHasOrigin : 0u,
                          .payload_bytes = payload});
  notifier::wake_consumers(v, slot.seq_);
  newest_slot_ = slot.slot_;
  next_seq_ = slot.seq_ + 1;
  outstanding_ = false;
  const std::uint64_t seq = slot.seq_;
  slot.writer_.reset();
  slot.region_.reset();
  slot.data_ = nullptr;
  slot.status_ = CommitStatus::empty_slot;
  return {CommitStatus::ok, seq};
}

template <class Fits, class Fill>
CommitResult WriterImpl::publish(const std::shared_ptr<WriterImpl>& self, std::uint64_t capture_ns, Fits&& fits,
                                 Fill&& fill, std::span<const std::byte> metadata, const Origin* origin) noexcept {
  {
    const std::lock_guard dl(drive_);
    if (closed_) return {CommitStatus::closed, 0};
    if (const CommitStatus s = fits(format_); s != CommitStatus::ok) return {s, 0};
    const std::size_t record = origin != nullptr ? kOriginRecordSize : 0;
    if (record + metadata.size() > opt_.metadata_capacity) return {CommitStatus::metadata_too_large, 0};
    // Refused before a slot is taken: an acquire() overwrites the oldest frame.
    if (origin != nullptr && check_stream_name(origin->stream)) return {CommitStatus::bad_origin, 0};
  }
  WriteSlot ws = acquire(self);
  if (!ws) return {ws.status(), 0};
  // reconfigure() on another thread between the check and the acquire: the slot has the new format.
  if (const CommitStatus s = fits(ws.format_); s != CommitStatus::ok) return {s, 0};
  fill(ws);  // the slot is ours alone: no lock while copying
  return commit(ws, capture_ns, metadata, origin);
}

bool WriterImpl::streaming_copies(const WriteSlot& ws, const ImageView& image) noexcept {
  const std::lock_guard dl(drive_);
  if (stream_copies_) return *stream_copies_;
  bool streaming = false;
  const std::size_t bytes = static_cast<std::size_t>(format_.row_bytes()) * format_.height;
  if (bytes < kStreamingCopyMin || ws.region_ != view_.region) {
    streaming = false;
  } else if (ws.seq_ == 1 && image.stride == format_.row_bytes() && view_.geo.slot_count >= 2) {
    // The generation's first frame (seq 1): no slot holds a committed frame and `ws` is the only
    // slot out, so the measurement may copy the caller's own image (tight rows) into it and into
    // another slot, as publish() will, without scratch buffers; their bytes are garbage after it.
    std::byte* other = view_.pixels(ws.slot_ == 0 ? 1 : 0);
    streaming = streaming_wins(bytes, image.data, ws.data_, other);
  } else {
    streaming = streaming_wins(bytes);
  }
  stream_copies_ = streaming;
  return streaming;
}

void WriterImpl::abandon(const std::shared_ptr<Region>& region, std::uint64_t generation, std::uint32_t slot) noexcept {
  const std::lock_guard dl(drive_);
  // Only the slot the writer still considers outstanding, in the generation it was taken from: a
  // retired generation's slot is nobody's business any more.
  if (!outstanding_ || view_.region != region || view_.geo.generation != generation) return;
  words_.abort(view_, slot);
  outstanding_ = false;
}

void WriterImpl::reconfigure(const FrameFormat& format) {
  const std::lock_guard dl(drive_);
  if (closed_) fail(errc::closed, name_, "reconfigure after close");
  const FrameFormat f = resolve(format);
  if (view_ && f == format_) return;
  outstanding_ = false;
  retire(layout::State::superseded);
  create_generation(f);  // after a failed attempt, this simply retries
  log(LogLevel::info, "new generation " + std::to_string(last_generation_) + " for " + to_string(f));
}

void WriterImpl::close() noexcept {
  const std::lock_guard dl(drive_);
  if (closed_) return;
  {
    const std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  retire(layout::State::closed);
  lock_.unlock_and_remove();
  closed_ = true;
}

WriterStats WriterImpl::stats() const {
  WriterStats s;
  const WriteView v = current();
  if (!v) return s;
  const auto& h = v.header();
  // relaxed: a statistics snapshot.
  s.generation = v.geo.generation;
  s.last_seq = load(h.last_committed_seq, std::memory_order_relaxed);
  s.forced_overwrites = load(h.forced_overwrites, std::memory_order_relaxed);
  s.consumers_reaped = load(h.consumers_reaped, std::memory_order_relaxed);
  s.commits_aborted = load(h.commits_aborted, std::memory_order_relaxed);
  s.lossless_demotions = load(h.lossless_demotions, std::memory_order_relaxed);
  s.lossless_waits = lossless_waits_.load(std::memory_order_relaxed);
  s.lossless_blocked_ns = lossless_blocked_ns_.load(std::memory_order_relaxed);
  s.tampering = tampering_.load(std::memory_order_relaxed);
  s.consumers = consumer_table::snapshot(v);
  return s;
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
    case CommitStatus::bad_origin: return "bad_origin";
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
    case CommitStatus::bad_origin: return "the origin's stream is not a valid stream name: nothing to record";
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

Writer::Writer(std::string_view name, WriterOptions options) {
  detail::check_name(name);
  if (auto problem = check_options(options)) detail::fail(errc::invalid_argument, name, *problem);
  impl_ = std::make_shared<detail::WriterImpl>(name, std::move(options));
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
  if (!impl_) {
    WriteSlot ws;
    ws.status_ = CommitStatus::closed;
    return ws;
  }
  return impl_->acquire(impl_);
}

CommitResult Writer::commit(WriteSlot& slot, std::uint64_t capture_ns, std::span<const std::byte> metadata,
                            const Origin* origin) noexcept {
  if (!impl_) return {CommitStatus::closed, 0};
  return impl_->commit(slot, capture_ns, metadata, origin);
}

CommitResult Writer::publish(const ImageView& image, std::uint64_t capture_ns, std::span<const std::byte> metadata,
                             const Origin* origin) noexcept {
  if (!impl_) return {CommitStatus::closed, 0};
  const auto fits = [&image](const FrameFormat& f) {
    const bool ok = image.data != nullptr && image.width == f.width && image.height == f.height &&
                    f.plane_count() == 1 && !f.compressed() &&
                    image.bytes_per_pixel == bytes_per_pixel(f.pixel_format) && image.stride >= f.row_bytes();
    return ok ? CommitStatus::ok : CommitStatus::format_mismatch;
  };
  return impl_->publish(
      impl_, capture_ns, fits,
      [&](WriteSlot& ws) {
        // Streaming stores where they win on this machine at this size (detail/copy.hpp); commit()
        // fences them before publishing.
        const bool streaming = impl_->streaming_copies(ws, image);
        detail::copy_rows(ws.data(), ws.stride(), image.data, image.stride, ws.format().row_bytes(), ws.format().height,
                          streaming);
      },
      metadata, origin);
}

CommitResult Writer::publish_planes(std::span<const PlaneView> planes, std::uint64_t capture_ns,
                                    std::span<const std::byte> metadata, const Origin* origin) noexcept {
  if (!impl_) return {CommitStatus::closed, 0};
  const auto fits = [planes](const FrameFormat& f) {
    if (f.compressed() || planes.size() != f.plane_count()) return CommitStatus::format_mismatch;
    for (std::uint32_t i = 0; i < f.plane_count(); ++i) {
      const PlaneLayout want = f.plane(i);
      const PlaneView& p = planes[i];
      if (p.data == nullptr || p.row_bytes != want.row_bytes || p.rows != want.rows || p.stride < p.row_bytes) {
        return CommitStatus::format_mismatch;
      }
    }
    return CommitStatus::ok;
  };
  return impl_->publish(
      impl_, capture_ns, fits,
      [planes](WriteSlot& ws) {
        for (std::uint32_t i = 0; i < ws.plane_count(); ++i) {
          const MutablePlane to = ws.plane(i);
          const PlaneView& p = planes[i];
          detail::copy_rows(to.data, to.stride, p.data, p.stride, p.row_bytes, p.rows, false);
        }
      },
      metadata, origin);
}

CommitResult Writer::publish_payload(std::span<const std::byte> payload, std::uint64_t capture_ns,
                                     std::span<const std::byte> metadata, const Origin* origin) noexcept {
  if (!impl_) return {CommitStatus::closed, 0};
  const auto fits = [payload](const FrameFormat& f) {
    if (!f.compressed()) return CommitStatus::format_mismatch;
    if (payload.empty()) return CommitStatus::payload_missing;
    if (payload.size() > f.frame_bytes()) return CommitStatus::payload_too_large;
    return CommitStatus::ok;
  };
  return impl_->publish(
      impl_, capture_ns, fits,
      [payload](WriteSlot& ws) {
        std::memcpy(ws.data(), payload.data(), payload.size());
        ws.set_payload_bytes(payload.size());
      },
      metadata, origin);
}

void Writer::reconfigure(const FrameFormat& format) {
  if (!impl_) throw Error(errc::closed, "reconfigure() on a moved-from Writer");
  impl_->reconfigure(format);
}

void Writer::close() noexcept {
  if (impl_) impl_->close();
}

const std::string& Writer::name() const noexcept {
  static const std::string kNone;
  return impl_ ? impl_->name() : kNone;
}
FrameFormat Writer::format() const noexcept {
  return impl_ ? impl_->format() : FrameFormat{0, 0, PixelFormat::gray8, 0};
}
std::uint64_t Writer::generation() const noexcept { return impl_ ? impl_->current().geo.generation : 0; }
std::uint32_t Writer::metadata_capacity() const noexcept { return impl_ ? impl_->metadata_capacity() : 0; }

WriterStats Writer::stats() const { return impl_ ? impl_->stats() : WriterStats{}; }

}  // namespace shmframe
