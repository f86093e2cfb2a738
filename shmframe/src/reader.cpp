// Reader: the consumer's event loop over the mechanisms (attacher, consumer table, slot
// protocol, notifier). docs/PROTOCOL.md describes the same steps for other implementations.
#include "shmframe/reader.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "shmframe/detail/attacher.hpp"
#include "shmframe/detail/commit_wait.hpp"
#include "shmframe/detail/consumer_table.hpp"
#include "shmframe/detail/end_judge.hpp"
#include "shmframe/detail/errors.hpp"
#include "shmframe/detail/interrupt.hpp"
#include "shmframe/detail/notifier.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/predictor.hpp"
#include "shmframe/detail/slot_protocol.hpp"

namespace shmframe {
namespace detail {

// Counters of one Reader, shared with its Frames (released on any thread).
struct ReaderCounters {
  std::atomic<std::uint64_t> frames{0}, drops{0}, overruns{0}, unheld{0}, demotions{0}, attaches{0}, producer_lost{0},
      version_mismatches{0}, bad_magic{0}, corrupt{0}, permission_denied{0}, init_failures{0}, polled{0};

  void count(errc code) noexcept {
    switch (code) {
      case errc::abi_mismatch: ++version_mismatches; break;
      case errc::bad_magic: ++bad_magic; break;
      case errc::corrupt: ++corrupt; break;
      case errc::permission_denied: ++permission_denied; break;
      case errc::init_timeout:
      case errc::creator_died: ++init_failures; break;
      default: break;
    }
  }
  ReaderStats snapshot() const noexcept {
    ReaderStats s;
    s.frames = frames.load(std::memory_order_relaxed);
    s.drops = drops.load(std::memory_order_relaxed);
    s.overruns = overruns.load(std::memory_order_relaxed);
    s.unheld = unheld.load(std::memory_order_relaxed);
    s.demotions = demotions.load(std::memory_order_relaxed);
    s.attaches = attaches.load(std::memory_order_relaxed);
    s.producer_lost = producer_lost.load(std::memory_order_relaxed);
    s.version_mismatches = version_mismatches.load(std::memory_order_relaxed);
    s.bad_magic = bad_magic.load(std::memory_order_relaxed);
    s.corrupt = corrupt.load(std::memory_order_relaxed);
    s.permission_denied = permission_denied.load(std::memory_order_relaxed);
    s.init_failures = init_failures.load(std::memory_order_relaxed);
    s.polled = polled.load(std::memory_order_relaxed);
    return s;
  }
};

// One attached generation: the mapping, its validated geometry, our consumer entry and the
// slots our frames hold. Frames share it, so it outlives the Reader's use of it. Read-only: the
// mapping is PROT_READ, `wview` is empty and there is no entry (me() must not be called).
struct Attachment {
  Attachment(ReadView v, WriteView w, std::uint32_t e, std::int32_t p, bool l, std::shared_ptr<ReaderCounters> c)
      : view(std::move(v)), wview(std::move(w)), entry(e), pid(p), lossless(l), holds(p), counters(std::move(c)) {}
  ReadView view;
  WriteView wview;  // the same mapping, writable; empty when read-only
  std::uint32_t entry;
  std::int32_t pid;
  bool lossless;  // the producer may wait for our progress: tell it (notifier::wake_producer)
  Holds holds;
  std::shared_ptr<ReaderCounters> counters;

  bool read_only() const noexcept { return !wview; }
  layout::ConsumerEntry& me() const noexcept { return wview.consumer(entry); }
  layout::ConsumerEntry* entry_or_null() const noexcept { return read_only() ? nullptr : &me(); }
  notifier::WakeWord wake() const noexcept {
    return read_only() ? notifier::reader_wake(view) : notifier::entry_wake(me());
  }
};

namespace {
Event event(EventKind k, std::uint64_t generation = 0, std::string message = {}) {
  Event e;
  e.kind = k;
  e.generation = generation;
  e.message = std::move(message);
  return e;
}
std::int32_t own_pid() noexcept { return static_cast<std::int32_t>(getpid()); }
std::uint32_t policy_code(WaitPolicy w) noexcept {
  switch (w) {
    case WaitPolicy::block: return static_cast<std::uint32_t>(layout::WaitPolicyCode::block);
    case WaitPolicy::predictive: return static_cast<std::uint32_t>(layout::WaitPolicyCode::predictive);
    case WaitPolicy::spin: return static_cast<std::uint32_t>(layout::WaitPolicyCode::spin);
  }
  return 0;
}
}  // namespace

class ReaderCore {
 public:
  ReaderCore(std::string_view name, ReaderOptions opt)
      : name_(name), opt_(std::move(opt)),
        attacher_(
            name_, opt_.ready_timeout,
            [this](const std::string& m) { log(LogLevel::warn, stream_tag(name_) + ": " + m); }, opt_.expect_owner,
            &interrupt_) {}
  ~ReaderCore() { give_back(); }
  ReaderCore(const ReaderCore&) = delete;
  ReaderCore& operator=(const ReaderCore&) = delete;

  void attach(std::chrono::milliseconds timeout);
  Event wait(std::chrono::nanoseconds timeout) noexcept;
  Frame take(std::uint64_t seq) noexcept;
  Frame take_latest() noexcept;
  bool copy_latest(std::byte* dst, std::size_t dst_stride, std::uint64_t* seq) noexcept;
  void give_back() noexcept;
  // What wait() would sleep on now, for waiting on several readers at once. The ticket is read
  // here: call it before looking for news (wait(0)), like wait() does.
  notifier::WaitTarget wait_target() noexcept {
    notifier::WaitTarget t;
    if (att_) {
      t.wake = att_->wake();
      t.ticket = notifier::ticket(t.wake);
      t.until = monotonic_ns() + att_->view.geo.heartbeat_interval_ns;  // liveness checks
      t.pending = pending();
      t.keep = att_;
    } else {
      t.fd = attacher_.watch_fd();
      t.until = attacher_.next_look();
      // Without inotify the watcher looks every 50 ms (its degraded mode).
      if (t.fd < 0) t.until = std::min(t.until == 0 ? UINT64_MAX : t.until, monotonic_ns() + 50'000'000);
    }
    return t;
  }
  bool pending() const noexcept { return att_ && latest_seq(att_->view) > last_seq_; }
  notifier::Activity activity() const noexcept {
    if (!att_) return {};
    notifier::Activity a = notifier::activity(att_->view);
    a.consumers += att_->read_only() ? 1 : 0;  // no entry of ours to count
    return a;
  }
  // A sign of life outside wait() (a Reader driven by latest()/read() only).
  void beat() noexcept {
    if (att_ && !att_->read_only()) (void)consumer_table::beat(att_->me(), att_->pid, monotonic_ns());
  }
  std::uint32_t hold_limit() const noexcept {
    return att_ && !att_->read_only() ? std::max(1u, att_->view.geo.slot_count - 1) : 0;
  }
  bool attached() const noexcept { return att_ != nullptr; }
  bool read_only() const noexcept { return att_ && att_->read_only(); }
  const std::string& name() const noexcept { return name_; }
  Interrupt& interrupt() noexcept { return interrupt_; }
  const Interrupt& interrupt() const noexcept { return interrupt_; }
  StreamInfo info() const noexcept {
    if (!att_) return {};
    return stream_info(att_->view);
  }
  ReaderStats stats() const noexcept { return counters_->snapshot(); }

 private:
  void log(LogLevel l, const std::string& m) const noexcept {
    if (!opt_.log) return;
    try {
      opt_.log(l, m);
    } catch (...) {  // a throwing log callback must not take the stream down
    }
  }
  // One attach attempt: probe + claim. Throws Error (counted).
  bool try_attach(std::uint64_t deadline);
  Event frame_event(Frame f, std::uint64_t missed);
  // Our entry's counters and last_seq (and, lossless, the producer's wake-up) for a frame taken.
  void publish_progress(const Frame& f, std::uint64_t missed) noexcept;
  // The reader's phase. detached: no segment (attaching); attached: following a generation;
  // lost: attached to a generation whose producer is gone or stalled (its frames stay readable
  // until a new generation shows up or the producer resumes). Attached or lost <=> att_ is set.
  enum class Phase { detached, attached, lost };
  // How a reader leaves its entry when it detaches: given back (released, for the next
  // consumer), or abandoned (it is no longer ours: reclaimed, or the segment was truncated).
  enum class Leave { give_back, abandon };
  // The one place the phase changes (as in PipeWire's streams, where one function sets the
  // state): what leaving and entering a phase does is done here, and only here.
  void enter(Phase next, Leave how = Leave::give_back) noexcept;
  // One turn of wait() in each phase: an event to return, or nullopt to go round again.
  // They may throw std::bad_alloc (building a message); wait() turns that into an error event.
  std::optional<Event> step_detached(std::uint64_t deadline);
  std::optional<Event> step_attached(std::uint64_t deadline);
  std::optional<Event> step_lost(std::uint64_t deadline);
  // What an attached or lost reader finds when it looks at its segment: an event to return
  // (`event`), a phase change or a wait already done (`again`: go round), or nothing new (wait
  // from `ticket`, read before looking).
  struct Look {
    std::optional<Event> event;
    bool again = false;
    std::uint32_t ticket = 0;
  };
  Look look(std::uint64_t now, std::uint64_t deadline);
  // The mapping and the entry are still ours: an empty Look. Else (truncated, or the entry
  // reclaimed) detaches: `again`, with the event to report, if any.
  Look check_attachment(std::uint64_t now);
  // A value only a hostile or broken writer stores (PROTOCOL.md, "Hostile writers"): counted
  // and returned as an EventKind::corrupt event.
  Event corrupt_event(const std::string& what);
  // The header says CLOSED or SUPERSEDED. True when that is to be believed: the name no longer
  // refers to our segment, or its producer is gone (producer_gone(): never judged on the
  // heartbeat alone, which any writer can forge). Otherwise someone else wrote it (EndJudge).
  bool end_believed(const ReadView& v, std::uint64_t now) const noexcept;
  // An end not believed yet (EndJudge's grace): waits for the name to change, until the grace
  // ends or the deadline. An event (timeout, interrupted) or nullopt: go round.
  std::optional<Event> wait_out_grace(std::uint64_t now, std::uint64_t deadline) noexcept;
  Event forged_end_event(std::uint32_t state);
  // Remembers when last_committed_seq last changed (producer_stalled()'s progress).
  void note_progress(std::uint64_t latest, std::uint64_t now) noexcept {
    if (latest == seen_latest_) return;
    seen_latest_ = latest;
    progress_ns_ = now;
  }
  // The next frame to deliver: seq + 1 in every-frame mode while a slot holds it, else the newest.
  Frame take_next() noexcept;

  // Lossless: arms the entry once caught up (first frame, or after a demotion); counts demotions.
  void keep_lossless(std::uint64_t latest) noexcept;

  std::string name_;
  ReaderOptions opt_;
  Interrupt interrupt_;  // before attacher_ and waiter_, which keep a pointer to it
  Attacher attacher_;
  Phase phase_ = Phase::detached;
  std::shared_ptr<Attachment> att_;  // set while attached or lost
  std::shared_ptr<ReaderCounters> counters_ = std::make_shared<ReaderCounters>();
  CommitWaiter waiter_{opt_.wait, opt_.spin_limit, &interrupt_, &counters_->polled};  // the wait policy
  EndJudge end_;                                                                      // CLOSED / SUPERSEDED believed?

  std::uint64_t last_seq_ = 0;
  // Every frame / lossless, attached before the generation's first commit: its first frame is
  // seq 1, not the newest (nothing before it was committed without us).
  bool from_first_ = false;
  // The frames skipped before taking `seq`. A late joiner's first frame skips none: frames before
  // the attach were never ours.
  std::uint64_t skipped_before(std::uint64_t seq) const noexcept {
    return last_seq_ != 0 || from_first_ ? seq - last_seq_ - 1 : 0;
  }
  std::uint64_t seen_latest_ = 0;  // last_committed_seq when it last changed ...
  std::uint64_t progress_ns_ = 0;  // ... and when that was: a producer that commits is not stalled
  bool demotion_seen_ = false;
};

bool ReaderCore::try_attach(std::uint64_t deadline) {
  try {
    // Lossless needs an entry (the producer waits on it): never fall back to read-only then.
    const Access access = opt_.delivery == Delivery::lossless && opt_.access == Access::automatic ? Access::read_write
                                                                                                  : opt_.access;
    Attacher::Found found = attacher_.probe(deadline, access);
    if (found.probe != Attacher::Probe::ready) return false;
    ReadView& v = found.view;
    WriteView& w = found.wview;
    const std::int32_t pid = own_pid();
    std::optional<std::uint32_t> entry = 0;
    if (w) {
      entry = consumer_table::claim(w, pid, name_);
      if (!entry) {
        // Full, but some entries are changing hands: free again soon (the producer reaps stuck
        // ones within an interval). Look again then; nothing announces it.
        attacher_.recheck_at(monotonic_ns() + v.geo.heartbeat_interval_ns);
        return false;
      }
    }
    try {
      att_ = std::make_shared<Attachment>(v, w, *entry, pid, opt_.delivery == Delivery::lossless, counters_);
    } catch (...) {
      if (w) consumer_table::release(w, *entry, pid);
      throw;
    }
    enter(Phase::attached);
    if (from_first_ && att_->lossless) {
      // Attached before the first commit: armed at once, with the claim's last_seq = 0, so the
      // producer keeps frame 1 for us (nothing is owed yet: arming cannot block it on a frame
      // we skipped). SYNC(lossless): the seq_cst store keep_lossless() makes.
      at(att_->me().delivery).store(static_cast<std::uint32_t>(layout::Delivery::lossless), std::memory_order_seq_cst);
    }
    ++counters_->attaches;
    if (att_->read_only()) {
      log(LogLevel::info, stream_tag(name_) + ": attached read-only (" +
                              (opt_.access == Access::read_only ? std::string("as asked")
                                                                : std::string("no write access to the segment")) +
                              "): no consumer entry, frames are not held, not listed in --status");
    } else {
      // relaxed: for observers (--list).
      at(att_->me().wait_policy).store(policy_code(opt_.wait), std::memory_order_relaxed);
    }
    if (att_->view.region->owner_uid() != geteuid()) {
      log(LogLevel::warn, stream_tag(name_) + ": produced by another user (segment owned by uid " +
                              std::to_string(att_->view.region->owner_uid()) + ")");
    }
    return true;
  } catch (const Error& e) {
    counters_->count(e.value());
    throw;
  }
}

void ReaderCore::give_back() noexcept { enter(Phase::detached); }

void ReaderCore::enter(Phase next, Leave how) noexcept {
  if (next == Phase::detached && att_) {
    if (how == Leave::abandon) {
      att_->holds.abandon();  // our bookkeeping only: the entry may be someone else's now
    } else if (!att_->read_only()) {
      // Holds first (frames still out then hold nothing and never touch the entry again), then
      // the entry itself.
      att_->holds.detach(att_->me());
      consumer_table::release(att_->wview, att_->entry, att_->pid);
      // A producer asleep waiting for this lossless consumer stops counting it now, not at the
      // end of its max block (SYNC(lossless): the release's delivery = 0 was stored seq_cst).
      if (att_->lossless) notifier::wake_producer(att_->wview);
    }
    att_.reset();
  }
  if (next == Phase::attached && phase_ == Phase::detached) {
    // A new attachment (att_ just set): nothing of the last one carries over.
    last_seq_ = 0;
    from_first_ = opt_.delivery != Delivery::latest && latest_seq(att_->view) == 0;
    seen_latest_ = 0;
    progress_ns_ = monotonic_ns();
    end_.reset();
    waiter_.reset();
  }
  phase_ = next;
}

void ReaderCore::attach(std::chrono::milliseconds timeout) {
  if (att_) return;
  const std::uint64_t deadline = monotonic_ns() + static_cast<std::uint64_t>(std::chrono::nanoseconds(timeout).count());
  attacher_.forget_skipped();
  for (;;) {
    if (try_attach(deadline)) return;
    const int r = attacher_.wait_for_change(deadline);
    if (r == ECANCELED) fail(errc::interrupted, name_, "attach interrupted (Reader::interrupt())");
    if (r == EINTR) fail(errc::interrupted, name_, "attach interrupted by a signal");
    if (r == ETIMEDOUT && monotonic_ns() >= deadline) break;
  }
  if (attacher_.waiting_for_ready()) {
    fail(errc::init_timeout, name_, "not READY within " + std::to_string(timeout.count()) + " ms");
  }
  fail(errc::not_found, name_,
       "not found (no " + object_path(segment_object(name_)) + " after " + std::to_string(timeout.count()) +
           " ms): start a producer with --name " + name_);
}

Frame ReaderCore::take(std::uint64_t seq) noexcept {
  Frame f;
  if (!att_) return f;
  const ReadView& v = att_->view;
  auto t = detail::take(v, att_->entry_or_null(), &att_->holds, seq, hold_limit());
  if (!t) return f;
  if (!t->held && !att_->read_only()) ++counters_->unheld;  // read-only: none is held, by design
  f.att_ = att_;
  f.slot_ = t->slot;
  f.seq_ = seq;
  f.capture_ns_ = t->capture_ns;
  f.commit_ns_ = t->commit_ns;
  f.data_ = v.pixels(t->slot);
  f.metadata_ = v.metadata(t->slot);
  f.metadata_size_ = t->metadata_size;
  // A flagged frame's metadata starts with its origin record; the user's follows it.
  if ((t->flags & layout::kSlotHasOrigin) != 0 && f.metadata_size_ >= kOriginRecordSize) {
    f.origin_record_ = f.metadata_;
    f.metadata_ += kOriginRecordSize;
    f.metadata_size_ -= kOriginRecordSize;
  }
  f.payload_bytes_ = t->payload_bytes;
  f.held_ = t->held;
  return f;
}

Frame ReaderCore::take_latest() noexcept {
  if (!att_) return {};
  std::uint64_t tried = 0;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t seq = latest_seq(att_->view);
    // No frame yet, or the newest one is unreadable and nothing newer came (one slot being
    // rewritten, or a producer that died mid-write): nothing to take, and no overrun.
    if (seq == 0 || seq == tried) return {};
    // A newer frame after a failed take: the producer lapped us on the one we tried.
    if (tried != 0) ++counters_->overruns;
    Frame f = take(seq);
    if (f) return f;
    tried = seq;
  }
  return {};
}

bool ReaderCore::copy_latest(std::byte* dst, std::size_t dst_stride, std::uint64_t* seq) noexcept {
  if (!att_ || dst == nullptr) return false;
  if (dst_stride < att_->view.geo.format.row_bytes()) return false;
  for (int attempt = 0; attempt < 64; ++attempt) {
    Frame f = take_latest();
    if (!f) return false;
    // A copy taken while the slot was being rewritten is discarded and retried with the newer frame.
    if (f.copy_to(dst, dst_stride)) {
      if (seq != nullptr) *seq = f.seq();
      return true;
    }
  }
  return false;
}

Event ReaderCore::frame_event(Frame f, std::uint64_t missed) {
  last_seq_ = f.seq();
  ++counters_->frames;
  counters_->drops += missed;
  waiter_.observe(f.seq(), f.commit_ns());
  if (phase_ == Phase::lost) enter(Phase::attached);  // the producer came back (e.g. SIGCONT)
  Event ev;
  ev.kind = EventKind::frame;
  ev.generation = att_->view.geo.generation;
  ev.dropped = missed;
  ev.frame = std::move(f);
  if (!att_->read_only()) publish_progress(ev.frame, missed);
  return ev;
}

void ReaderCore::publish_progress(const Frame& f, std::uint64_t missed) noexcept {
  auto& me = att_->me();
  if (att_->lossless) {
    // SYNC(lossless) consumer store side: seq_cst, then wake_producer() loads producer_waiting.
    at(me.last_seq).store(last_seq_, std::memory_order_seq_cst);
    notifier::wake_producer(att_->wview);
    keep_lossless(latest_seq(att_->view));
  } else {
    // relaxed: statistics for observers; no data depends on them.
    at(me.last_seq).store(last_seq_, std::memory_order_relaxed);
  }
  // relaxed: statistics for observers; no data depends on them.
  at(me.frames).fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t now = monotonic_ns();
  const std::uint64_t wake = now > f.commit_ns() ? now - f.commit_ns() : 0;
  at(me.wake_latency_ns)
      .store(static_cast<std::uint32_t>(std::min<std::uint64_t>(wake, UINT32_MAX)), std::memory_order_relaxed);
  if (missed != 0) at(me.drops).fetch_add(missed, std::memory_order_relaxed);
}

void ReaderCore::keep_lossless(std::uint64_t latest) noexcept {
  auto& me = att_->me();
  // relaxed: only the producer changes it from lossless (to demoted, by CAS), and we act on it
  // no sooner than the next frame anyway.
  const std::uint32_t d = at(me.delivery).load(std::memory_order_relaxed);
  if (d == static_cast<std::uint32_t>(layout::Delivery::lossless)) return;
  if (d == static_cast<std::uint32_t>(layout::Delivery::demoted) && !demotion_seen_) {
    demotion_seen_ = true;
    ++counters_->demotions;
    log(LogLevel::warn, stream_tag(name_) +
                            ": demoted to lossy by the producer (we blocked it for its max block); "
                            "lossless again once caught up");
  }
  if (last_seq_ < latest) return;
  // Caught up with the newest frame: nothing is owed yet, so arming cannot block the producer
  // on a frame we skipped. seq_cst: ordered before the producer's next owed_slots() scan.
  at(me.delivery).store(static_cast<std::uint32_t>(layout::Delivery::lossless), std::memory_order_seq_cst);
  demotion_seen_ = false;
}

Event ReaderCore::wait(std::chrono::nanoseconds timeout) noexcept {
  const std::uint64_t deadline = monotonic_ns() +
                                 static_cast<std::uint64_t>(std::max<std::int64_t>(0, timeout.count()));
  try {
    for (;;) {
      if (interrupt_.raised()) return event(EventKind::interrupted);
      std::optional<Event> ev;
      switch (phase_) {
        case Phase::detached: ev = step_detached(deadline); break;
        case Phase::attached: ev = step_attached(deadline); break;
        case Phase::lost: ev = step_lost(deadline); break;
      }
      if (ev) return std::move(*ev);
    }
  } catch (const std::exception& e) {
    // Out of memory building a message or an attachment: an error the caller may retry; wait()
    // never throws. The short message needs no allocation.
    Event ev;
    ev.kind = EventKind::error;
    ev.error = make_error_code(errc::system_error);
    try {
      ev.message = stream_tag(name_) + ": " + e.what();
    } catch (...) {
      ev.message = "out of memory";
    }
    return ev;
  }
}

std::optional<Event> ReaderCore::step_detached(std::uint64_t deadline) {
  try {
    if (try_attach(deadline)) return event(EventKind::attached, att_->view.geo.generation);
  } catch (const Error& e) {
    Event ev = event(EventKind::error, 0, e.what());
    ev.error = e.code();
    return ev;
  }
  const int r = attacher_.wait_for_change(deadline);
  if (notifier::interrupted(r)) return event(EventKind::interrupted);
  if (r == ETIMEDOUT && monotonic_ns() >= deadline) return event(EventKind::timeout);
  return std::nullopt;
}

Event ReaderCore::corrupt_event(const std::string& what) {
  ++counters_->corrupt;
  return event(EventKind::corrupt, att_ ? att_->view.geo.generation : 0, stream_tag(name_) + ": " + what);
}

bool ReaderCore::end_believed(const ReadView& v, std::uint64_t now) const noexcept {
  return !name_refers_to(segment_object(name_), v.region->dev(), v.region->ino()) || producer_gone(v, name_, now);
}

std::optional<Event> ReaderCore::wait_out_grace(std::uint64_t now, std::uint64_t deadline) noexcept {
  // A closing producer unlinks the name right after its store: inotify wakes us then.
  if (now >= deadline) return event(EventKind::timeout);
  if (notifier::interrupted(attacher_.wait_for_change(std::min(deadline, end_.grace_end())))) {
    return event(EventKind::interrupted);
  }
  return std::nullopt;
}

Event ReaderCore::forged_end_event(std::uint32_t state) {
  const char* what = state == static_cast<std::uint32_t>(layout::State::closed) ? "CLOSED" : "SUPERSEDED";
  return corrupt_event(std::string("the segment's state says ") + what + " but its producer (pid " +
                       std::to_string(att_->view.geo.writer_pid) +
                       ") is alive and still owns the name: another process wrote it; ignored "
                       "(the producer restores it). Give write access to trusted consumers only");
}

ReaderCore::Look ReaderCore::check_attachment(std::uint64_t now) {
  const ReadView& v = att_->view;
  // The first touch of the entry (read-only: there is none to lose).
  const bool ours = att_->read_only() || consumer_table::beat(att_->me(), att_->pid, now);
  Look l;
  if (v.region->broken()) {
    // Truncated under us: the SIGBUS guard put zero pages in its place (frames we hold fail
    // still_valid()). Our entry went with it. Skip the object; its producer replaces it.
    attacher_.skip(v.region->dev(), v.region->ino());
    l.event = corrupt_event(
        "the segment was truncated under us (another process with write access shrank it): "
        "dropped it; attaching the producer's next generation. Give write access to trusted "
        "consumers only");
    l.again = true;
    enter(Phase::detached, Leave::abandon);
  } else if (!ours) {
    // The producer reclaimed our entry (we looked dead, e.g. stopped for long), or someone else
    // wrote its owner: re-attach.
    log(LogLevel::warn, stream_tag(name_) + ": our consumer entry was reclaimed; re-attaching");
    l.again = true;
    enter(Phase::detached, Leave::abandon);
  }
  return l;
}

ReaderCore::Look ReaderCore::look(std::uint64_t now, std::uint64_t deadline) {
  if (Look l = check_attachment(now); l.again) return l;
  const ReadView& v = att_->view;
  Look l;
  l.ticket = notifier::ticket(att_->wake());
  const std::uint32_t state = load_state(v.header());
  const EndJudge::Verdict verdict = end_.judge(state, EndJudge::is_end(state) && end_believed(v, now), now,
                                               v.geo.heartbeat_interval_ns);
  switch (verdict) {
    case EndJudge::Verdict::superseded:
      enter(Phase::detached);
      l.again = true;
      return l;
    case EndJudge::Verdict::grace:
      l.event = wait_out_grace(now, deadline);
      l.again = true;
      return l;
    case EndJudge::Verdict::forged: l.event = forged_end_event(state); return l;
    case EndJudge::Verdict::live:
    case EndJudge::Verdict::closed: break;
  }
  const std::uint64_t latest = latest_seq(v);
  note_progress(latest, now);
  if (latest < last_seq_) {
    // Sequence numbers only grow within a generation: someone wrote a sequence word or the
    // header (a consumer with write access). Re-synchronise on the newest frame.
    const std::uint64_t was = last_seq_;
    last_seq_ = 0;
    from_first_ = false;
    waiter_.reset();
    l.event = corrupt_event("last_committed_seq went back from " + std::to_string(was) + " to " +
                            std::to_string(latest) + " within generation " + std::to_string(v.geo.generation) +
                            ": another process wrote to the segment; re-synchronised on the newest frame. Give "
                            "write access to trusted consumers only");
    return l;
  }
  // A new frame first, also after a close: frames committed before it are delivered (every
  // frame / lossless: each one a slot still holds; latest: the newest), then the close. A closed
  // producer writes no more, so the slots stay as they were.
  if (latest > last_seq_) {
    if (Frame f = take_next(); f) {
      const std::uint64_t missed = skipped_before(f.seq());
      l.event = frame_event(std::move(f), missed);
      return l;
    }
    // Lapped while taking it, or the header names a frame no slot holds (corruption): wait.
    // The ticket was read first, so a commit since then ends the wait at once.
  }
  if (verdict == EndJudge::Verdict::closed) {
    l.event = event(EventKind::closed, v.geo.generation);
    attacher_.skip(v.region->dev(), v.region->ino());
    enter(Phase::detached);
  }
  return l;
}

std::optional<Event> ReaderCore::step_attached(std::uint64_t deadline) {
  const std::uint64_t now = monotonic_ns();
  Look l = look(now, deadline);
  if (l.event || l.again) return std::move(l.event);
  // Liveness before the deadline: a wait(0) (SyncReader's look at each member) sees a loss too.
  const ReadView& v = att_->view;
  const std::uint64_t t = monotonic_ns();
  if (const bool gone = producer_gone(v, name_, t); gone || producer_stalled(v, t, progress_ns_)) {
    enter(Phase::lost);
    ++counters_->producer_lost;
    return event(EventKind::producer_lost, v.geo.generation,
                 stream_tag(name_) + ": producer pid " + std::to_string(v.geo.writer_pid) +
                     (gone ? " is gone" : " stopped beating and committing (stopped or hung)"));
  }
  if (now >= deadline) return event(EventKind::timeout);
  const std::uint64_t until = now + std::min(deadline - now, v.geo.heartbeat_interval_ns);
  if (notifier::interrupted(waiter_.await(v, att_->read_only(), att_->wake(), l.ticket, until)))
    return event(EventKind::interrupted);
  return std::nullopt;
}

std::optional<Event> ReaderCore::step_lost(std::uint64_t deadline) {
  const std::uint64_t now = monotonic_ns();
  Look l = look(now, deadline);
  if (l.event || l.again) return std::move(l.event);
  const ReadView& v = att_->view;
  // Keep the old mapping (frames taken stay readable) until a new generation shows up.
  if (name_moved_on(segment_object(name_), v.region->dev(), v.region->ino())) {
    enter(Phase::detached);
    return std::nullopt;
  }
  if (const std::uint64_t t = monotonic_ns(); !producer_gone(v, name_, t) && !producer_stalled(v, t, progress_ns_)) {
    enter(Phase::attached);  // beating again (e.g. SIGCONT)
    return std::nullopt;
  }
  if (now >= deadline) return event(EventKind::timeout);
  const std::uint64_t until = now + std::min(deadline - now, v.geo.heartbeat_interval_ns);
  // On our wake word, not on the name: a stopped producer that resumes (SIGCONT) wakes us with
  // its first commit, so no frame waits for the end of the slice; a successor wakes us when it
  // supersedes this segment; one that could not (unreadable layout) is seen at the end of the
  // slice, by the name check above.
  const std::uint64_t t = monotonic_ns();
  if (t < until && notifier::interrupted(notifier::wait_for_commit(att_->wake(), l.ticket, until - t, &interrupt_))) {
    return event(EventKind::interrupted);
  }
  return std::nullopt;
}

Frame ReaderCore::take_next() noexcept {
  Frame f;
  const std::uint64_t latest = latest_seq(att_->view);
  // Every frame / lossless: seq + 1 whenever it is committed, even when it is the newest (taking
  // "the newest" instead would read last_committed_seq again, and a commit in between would skip
  // seq + 1).
  if (opt_.delivery != Delivery::latest && (last_seq_ != 0 || from_first_) && last_seq_ + 1 <= latest) {
    f = take(last_seq_ + 1);
  }
  if (!f) f = take_latest();
  if (f && f.seq() <= last_seq_) f.release();  // nothing newer after all
  return f;
}

}  // namespace detail

namespace detail {
notifier::WaitTarget wait_target(Reader& r) noexcept {
  return r.impl_ ? r.impl_->wait_target() : notifier::WaitTarget{};
}
bool has_pending(const Reader& r) noexcept { return r.impl_ && r.impl_->pending(); }
notifier::Activity activity(const Reader& r) noexcept { return r.impl_ ? r.impl_->activity() : notifier::Activity{}; }
}  // namespace detail

std::optional<std::uint32_t> parse_owner(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const std::string t(text);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(t.c_str(), &end, 10);
  if (*end == '\0' && t[0] >= '0' && t[0] <= '9') {
    if (errno != 0 || n > 0xFFFFFFFEull) return std::nullopt;  // (uid_t)-1 means "no user"
    return static_cast<std::uint32_t>(n);
  }
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* found = nullptr;
  while (getpwnam_r(t.c_str(), &pw, buf.data(), buf.size(), &found) == ERANGE && buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (found == nullptr) return std::nullopt;
  return static_cast<std::uint32_t>(found->pw_uid);
}

bool is_fatal(std::error_code error) noexcept {
  if (error.category() != category()) return true;  // not ours: nothing says waiting helps
  switch (static_cast<errc>(error.value())) {
    case errc::init_timeout:        // the creator may only be slow; a restart replaces it
    case errc::creator_died:        // the next producer replaces the segment
    case errc::too_many_consumers:  // entries free up as consumers leave or are reaped
    case errc::not_found:           // a producer may still come
    case errc::interrupted: return false;
    default: return true;
  }
}

bool Event::fatal() const noexcept { return kind == EventKind::error && is_fatal(error); }

std::string_view to_string(EventKind k) noexcept {
  switch (k) {
    case EventKind::frame: return "frame";
    case EventKind::attached: return "attached";
    case EventKind::producer_lost: return "producer_lost";
    case EventKind::closed: return "closed";
    case EventKind::timeout: return "timeout";
    case EventKind::interrupted: return "interrupted";
    case EventKind::error: return "error";
    case EventKind::corrupt: return "corrupt";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
Frame::Frame(Frame&& o) noexcept { *this = std::move(o); }

Frame& Frame::operator=(Frame&& o) noexcept {
  if (this != &o) {
    release();
    att_ = std::move(o.att_);
    slot_ = o.slot_;
    seq_ = o.seq_;
    capture_ns_ = o.capture_ns_;
    commit_ns_ = o.commit_ns_;
    data_ = std::exchange(o.data_, nullptr);
    metadata_ = std::exchange(o.metadata_, nullptr);
    origin_record_ = std::exchange(o.origin_record_, nullptr);
    metadata_size_ = std::exchange(o.metadata_size_, 0);
    payload_bytes_ = std::exchange(o.payload_bytes_, 0);
    held_ = std::exchange(o.held_, false);
    pinned_ = std::exchange(o.pinned_, false);
  }
  return *this;
}

Frame::~Frame() { release(); }

std::uint64_t Frame::generation() const noexcept { return att_ ? att_->view.geo.generation : 0; }

const FrameFormat& Frame::format() const noexcept {
  static const FrameFormat kNone{0, 0, PixelFormat::gray8, 0};
  return att_ ? att_->view.geo.format : kNone;
}

bool Frame::still_valid() const noexcept { return att_ && detail::still_valid(att_->view, slot_, seq_); }

PlaneView Frame::plane(std::uint32_t i) const noexcept {
  if (!att_ || i >= plane_count()) return {};
  const FrameFormat& f = format();
  if (f.compressed()) return {data_, payload_bytes_, static_cast<std::uint32_t>(payload_bytes_), 1};
  const PlaneLayout p = f.plane(i);
  return {data_ + p.offset, p.stride, p.row_bytes, p.rows};
}

bool Frame::copy_to(std::span<const MutablePlane> planes) const noexcept {
  if (!att_ || planes.size() < plane_count()) return false;
  for (std::uint32_t i = 0; i < plane_count(); ++i) {
    const PlaneView p = plane(i);
    if (planes[i].data == nullptr || planes[i].stride < p.row_bytes) return false;
  }
  for (std::uint32_t i = 0; i < plane_count(); ++i) {
    const PlaneView p = plane(i);
    copy_rows(planes[i].data, planes[i].stride, p.data, p.stride, p.row_bytes, p.rows);
  }
  // Validate after copying (the seqlock read; still_valid() fences first).
  return still_valid();
}

bool Frame::copy_to(std::byte* dst, std::size_t dst_stride) const noexcept {
  if (!att_ || dst == nullptr || dst_stride > UINT32_MAX) return false;
  const FrameFormat& f = format();
  if (f.compressed()) {
    const MutablePlane whole{dst, dst_stride, 0, 0};
    return copy_to(std::span(&whole, 1));
  }
  const FrameFormat to{f.width, f.height, f.pixel_format, static_cast<std::uint32_t>(dst_stride)};
  MutablePlane planes[kMaxPlanes];
  for (std::uint32_t i = 0; i < plane_count(); ++i) {
    const PlaneLayout p = to.plane(i);
    planes[i] = {dst + p.offset, p.stride, p.row_bytes, p.rows};
  }
  return copy_to(std::span(planes, plane_count()));
}

bool Frame::pin() noexcept {
  if (pinned_) return true;
  if (!att_ || !held_ || att_->read_only()) return false;
  pinned_ = att_->holds.pin(att_->view, att_->me(), slot_, seq_);
  return pinned_;
}

void Frame::release() noexcept {
  if (!att_) return;
  const bool overrun = !still_valid();
  if (overrun) ++att_->counters->overruns;
  if (!att_->read_only() && pinned_) att_->holds.unpin(att_->me(), slot_);
  if (!att_->read_only()) att_->holds.release(att_->me(), slot_, held_, overrun);
  // A freed slot may be what a producer waits for (SYNC(lossless): the hold was cleared seq_cst).
  if (att_->lossless && held_) detail::notifier::wake_producer(att_->wview);
  att_.reset();
  data_ = nullptr;
  metadata_ = nullptr;
  origin_record_ = nullptr;
  metadata_size_ = 0;
  payload_bytes_ = 0;
  held_ = false;
  pinned_ = false;
}

std::optional<Origin> Frame::origin() const {
  if (origin_record_ == nullptr) return std::nullopt;
  return read_origin_record({origin_record_, kOriginRecordSize});
}

// ---------------------------------------------------------------------------------------
Reader::Reader(std::string_view name, ReaderOptions options) {
  detail::check_name(name);
  if (options.access == Access::read_only && options.delivery == Delivery::lossless) {
    throw Error(errc::invalid_argument,
                "lossless delivery needs a consumer entry, so write access to the segment: drop read-only, or use "
                "latest / every-frame delivery");
  }
  impl_ = std::make_unique<detail::ReaderCore>(name, std::move(options));
}

Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&& o) noexcept {
  if (this != &o) impl_ = std::move(o.impl_);
  return *this;
}
Reader::~Reader() = default;

// A moved-from Reader is inert: every call is safe and does nothing (attach() throws).
void Reader::attach(std::chrono::milliseconds timeout) {
  if (!impl_) throw Error(errc::invalid_argument, "attach() on a moved-from Reader");
  impl_->attach(timeout);
}
bool Reader::attached() const noexcept { return impl_ && impl_->attached(); }
void Reader::interrupt() noexcept {
  if (impl_) impl_->interrupt().raise();
}
void Reader::clear_interrupt() noexcept {
  if (impl_) impl_->interrupt().clear();
}
bool Reader::interrupt_requested() const noexcept { return impl_ && impl_->interrupt().raised(); }
void Reader::detach() noexcept {
  if (impl_) impl_->give_back();
}
Event Reader::wait(std::chrono::nanoseconds timeout) noexcept {
  if (!impl_) {
    Event e;
    e.kind = EventKind::error;
    e.error = make_error_code(errc::invalid_argument);
    e.message = "wait() on a moved-from Reader";
    return e;
  }
  return impl_->wait(timeout);
}
Frame Reader::latest() noexcept {
  if (!impl_) return {};
  impl_->beat();
  return impl_->take_latest();
}
Frame Reader::read(std::uint64_t seq) noexcept {
  if (!impl_) return {};
  impl_->beat();
  return impl_->take(seq);
}
bool Reader::copy_latest(std::byte* dst, std::size_t dst_stride, std::uint64_t* seq) noexcept {
  if (!impl_) return false;
  impl_->beat();
  return impl_->copy_latest(dst, dst_stride, seq);
}
std::uint32_t Reader::hold_limit() const noexcept { return impl_ ? impl_->hold_limit() : 0; }
bool Reader::read_only() const noexcept { return impl_ && impl_->read_only(); }
const std::string& Reader::name() const noexcept {
  static const std::string kNone;
  return impl_ ? impl_->name() : kNone;
}
StreamInfo Reader::info() const noexcept { return impl_ ? impl_->info() : StreamInfo{}; }
ReaderStats Reader::stats() const noexcept { return impl_ ? impl_->stats() : ReaderStats{}; }

}  // namespace shmframe
