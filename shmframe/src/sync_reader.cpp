// SyncReader: sets of frames across streams (docs/PROTOCOL.md, "Synchronised sets"). The members
// are ordinary Readers, looked at without blocking (wait(0)); the matching is detail::SetMatcher;
// the one blocking wait is notifier::wait_any() on every member at once.
#include "shmframe/sync_reader.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <set>

#include "shmframe/detail/commit_wait.hpp"
#include "shmframe/detail/errors.hpp"
#include "shmframe/detail/histogram.hpp"
#include "shmframe/detail/interrupt.hpp"
#include "shmframe/detail/notifier.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/set_matcher.hpp"

namespace shmframe {

namespace {
using Matcher = detail::SetMatcher<Frame>;
// While a period is not known yet: how long a frame may wait for its partners.
constexpr std::uint64_t kUnknownPeriodHoldNs = 1'000'000'000;
// Events a member may yield in one look before the others get theirs.
constexpr int kEventsPerLook = 16;
// How often every member is looked at, news or not (liveness: a producer that stopped beating).
constexpr std::uint64_t kFullLookNs = 20'000'000;
}  // namespace

std::string_view to_string(SyncPolicy p) noexcept { return p == SyncPolicy::exact ? "exact" : "approximate"; }

std::optional<SyncPolicy> parse_sync_policy(std::string_view text) noexcept {
  if (text == "approximate") return SyncPolicy::approximate;
  if (text == "exact") return SyncPolicy::exact;
  return std::nullopt;
}

std::string_view to_string(SyncEventKind k) noexcept {
  switch (k) {
    case SyncEventKind::set: return "set";
    case SyncEventKind::attached: return "attached";
    case SyncEventKind::producer_lost: return "producer_lost";
    case SyncEventKind::closed: return "closed";
    case SyncEventKind::timeout: return "timeout";
    case SyncEventKind::interrupted: return "interrupted";
    case SyncEventKind::error: return "error";
    case SyncEventKind::corrupt: return "corrupt";
  }
  return "unknown";
}

struct SyncReader::Impl {
  std::vector<std::string> names;
  SyncOptions opt;
  std::vector<Reader> members;
  detail::Interrupt interrupt;
  Matcher matcher;
  std::deque<SyncEvent> ready;                        // member events and sets, in the order they happened
  std::vector<detail::notifier::WaitTarget> targets;  // one per member, read before each look
  std::vector<detail::notifier::WaitTarget> order;    // the same, those the next set needs first
  Matcher::Unmatched dropped;
  std::uint64_t next_full_look = 0;
  std::atomic<std::uint64_t> polled{0};  // waits that polled (wait policy spin or predictive)
  // The members' wait policy, applied to the one wait on all of them; predictive learns the rhythm
  // of the sets' completions.
  detail::CommitWaiter waiter;

  static bool quiet(const detail::notifier::WaitTarget& t) noexcept {
    // acquire: as the ticket's own load (notifier::ticket()).
    return t.wake.word != nullptr && !t.pending &&
           std::atomic_ref<std::uint32_t>(*const_cast<std::uint32_t*>(t.wake.word)).load(std::memory_order_acquire) ==
               t.ticket;  // NOLINT(cppcoreguidelines-pro-type-const-cast): atomic_ref needs a non-const word
  }
  std::uint64_t sets = 0;
  std::vector<std::uint64_t> unmatched;
  detail::LatencyHistogram spread, latency;

  Impl(std::vector<std::string> n, SyncOptions o)
      : names(std::move(n)), opt(std::move(o)),
        matcher(opt.policy == SyncPolicy::exact ? detail::MatchPolicy::exact : detail::MatchPolicy::approximate,
                opt.tolerance ? static_cast<std::uint64_t>(opt.tolerance->count()) : 0,
                std::vector<std::size_t>(names.size(), 1)),
        targets(names.size()), waiter(opt.reader.wait, opt.reader.spin_limit, &interrupt, &polled),
        unmatched(names.size(), 0) {
    ReaderOptions ro = opt.reader;
    if (ro.delivery == Delivery::latest) ro.delivery = Delivery::every_frame;
    members.reserve(names.size());
    for (const std::string& name : names) members.emplace_back(name, ro);
  }

  void count(Matcher::Unmatched& out) noexcept {
    for (auto& [stream, frame] : out) {
      ++unmatched[stream];
      frame.release();
    }
    out.clear();
  }

  // How long a queued frame may wait for its partners (documented in sync_reader.hpp).
  std::uint64_t hold_bound() const noexcept {
    const std::uint64_t slowest = matcher.slowest_period();
    if (slowest == 0) return kUnknownPeriodHoldNs;
    return 2 * slowest + matcher.tolerance();
  }

  void member_event(std::size_t i, Event e, Matcher::Unmatched& out) {
    SyncEvent se;
    se.stream = i;
    switch (e.kind) {
      case EventKind::frame: {
        const std::uint64_t capture = e.frame.capture_ns();
        matcher.push(i, Matcher::Entry{capture, capture, std::move(e.frame)}, out);
        return;
      }
      case EventKind::attached:
        // A new generation: the old one's frames can no longer be in a set.
        matcher.restart(i, out);
        matcher.set_capacity(i, members[i].hold_limit(), out);
        waiter.reset();  // the sets' rhythm starts again
        se.kind = SyncEventKind::attached;
        break;
      // Frames queued before a loss or a close may still meet their partners (the other stream's
      // frame of the same instant can come a moment later); hold_bound() releases the rest.
      case EventKind::producer_lost: se.kind = SyncEventKind::producer_lost; break;
      case EventKind::closed: se.kind = SyncEventKind::closed; break;
      case EventKind::error: se.kind = SyncEventKind::error; break;
      case EventKind::corrupt: se.kind = SyncEventKind::corrupt; break;
      case EventKind::timeout:
      case EventKind::interrupted: return;  // a member's own: not ours to report
    }
    se.event = std::move(e);
    ready.push_back(std::move(se));
  }

  // Takes what every member has without blocking, makes the sets that are final and releases
  // frames held too long. True when a member attached, detached or was lost (its target is stale).
  bool look() {
    bool changed = false;
    // Members with news first (their word moved since the ticket was read): a set they complete
    // goes out before anything else is done.
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (!quiet(targets[i])) changed = take(i) || changed;
    }
    make_sets(dropped);
    // Every member, for their liveness checks too (a producer that stopped beating), at least every
    // kFullLookNs; not in a look that made a set (the next look without one does it).
    if (const std::uint64_t start = detail::monotonic_ns(); start >= next_full_look && ready.empty()) {
      next_full_look = start + kFullLookNs;
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (quiet(targets[i])) changed = take(i) || changed;
      }
      make_sets(dropped);
    }
    const std::uint64_t now = detail::monotonic_ns();
    // Partners of a stream that stopped are not held for ever.
    if (const std::uint64_t bound = hold_bound(); now > bound) matcher.release_older_than(now - bound, dropped);
    count(dropped);
    return changed;
  }

  // Takes what member `i` has (up to kEventsPerLook events). True when it attached, detached or
  // was lost (its target is stale).
  bool take(std::size_t i) {
    bool changed = false;
    for (int k = 0; k < kEventsPerLook; ++k) {
      // Room first, so that the frame taken next is held (a full queue would drop its oldest
      // for it anyway).
      if (targets[i].pending) matcher.make_room(i, dropped);
      Event e = members[i].wait(std::chrono::nanoseconds(0));
      if (e.kind == EventKind::timeout) break;
      const bool frame = e.kind == EventKind::frame;
      changed = changed || !frame;
      member_event(i, std::move(e), dropped);
      targets[i].pending = detail::has_pending(members[i]);
      if (frame && !targets[i].pending) break;  // nothing newer committed
    }
    return changed;
  }

  // Sleeps on every member at once until something changes, `deadline`, or a queued frame's time
  // to be released. The members the next set waits for come first (the fallback watches only one).
  int sleep(std::uint64_t now, std::uint64_t deadline) {
    order.clear();
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (matcher.queued(i) == 0) order.push_back(targets[i]);
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (matcher.queued(i) != 0) order.push_back(targets[i]);
    }
    std::uint64_t until = deadline;
    if (const std::uint64_t oldest = matcher.oldest_capture(); oldest != 0) {
      until = std::min(until, std::max(now + 1'000'000, oldest + hold_bound()));
    }
    if (!waiter.polls()) return detail::notifier::wait_any(order, &interrupt, until - now);
    std::array<detail::notifier::Activity, kMaxSyncStreams> streams{};
    for (std::size_t i = 0; i < members.size(); ++i) streams.at(i) = detail::activity(members[i]);
    return waiter.await_any(order, std::span(streams).first(members.size()), until);
  }

  void make_sets(Matcher::Unmatched& out) {
    for (;;) {
      // Built only when the matcher has a set: a look without one allocates nothing.
      FrameSet s;
      std::uint64_t lo = UINT64_MAX;
      std::uint64_t hi = 0;
      const bool made = matcher.pop(out, [&](Matcher::Entry&& e) {
        if (s.frames.empty()) s.frames.reserve(members.size());
        lo = std::min(lo, e.capture_ns);
        hi = std::max(hi, e.capture_ns);
        s.complete_ns = std::max(s.complete_ns, e.value.commit_ns());
        s.frames.push_back(std::move(e.value));
      });
      if (!made) return;
      s.spread_ns = hi - lo;
      s.capture_ns = lo;
      ++sets;
      waiter.observe(sets, s.complete_ns);
      spread.add(s.spread_ns);
      const std::uint64_t now = detail::monotonic_ns();
      latency.add(now > s.complete_ns ? now - s.complete_ns : 0);
      SyncEvent& se = ready.emplace_back();
      se.kind = SyncEventKind::set;
      se.set = std::move(s);
    }
  }
};

SyncReader::SyncReader(std::vector<std::string> names, SyncOptions options) {
  if (names.size() < kMinSyncStreams || names.size() > kMaxSyncStreams) {
    detail::fail(errc::invalid_argument, names.empty() ? std::string_view("sync") : names.front(),
                 "a synchronised set takes 2 to 8 streams, not " + std::to_string(names.size()));
  }
  std::set<std::string> seen;
  for (const std::string& n : names) {
    detail::check_name(n);
    if (!seen.insert(n).second) {
      detail::fail(errc::invalid_argument, n, "stream '" + n + "' is named twice: a set takes each stream once");
    }
  }
  if (options.tolerance && options.tolerance->count() <= 0) {
    detail::fail(errc::invalid_argument, names.front(),
                 "a tolerance of " + std::to_string(options.tolerance->count()) +
                     " ns matches nothing: give the widest spread of capture times a set may have (e.g. 5 ms), or "
                     "none for half the slowest stream's period; for equal capture times use the exact policy");
  }
  impl_ = std::make_unique<Impl>(std::move(names), std::move(options));
}

SyncReader::SyncReader(SyncReader&&) noexcept = default;
SyncReader& SyncReader::operator=(SyncReader&&) noexcept = default;
SyncReader::~SyncReader() = default;

SyncEvent SyncReader::wait(std::chrono::nanoseconds timeout) noexcept {
  SyncEvent out;
  if (!impl_) return out;
  Impl& d = *impl_;
  const std::uint64_t deadline = detail::monotonic_ns() +
                                 static_cast<std::uint64_t>(std::max<std::int64_t>(0, timeout.count()));
  try {
    for (;;) {
      if (!d.ready.empty()) {
        out = std::move(d.ready.front());
        d.ready.pop_front();
        return out;
      }
      if (d.interrupt.raised()) {
        out.kind = SyncEventKind::interrupted;
        return out;
      }
      // Tickets first: a commit after this point ends the sleep below at once.
      for (std::size_t i = 0; i < d.members.size(); ++i) d.targets[i] = detail::wait_target(d.members[i]);
      if (d.look() || !d.ready.empty()) continue;
      const std::uint64_t now = detail::monotonic_ns();
      if (now >= deadline) {
        out.kind = SyncEventKind::timeout;
        return out;
      }
      if (detail::notifier::interrupted(d.sleep(now, deadline))) {
        out.kind = SyncEventKind::interrupted;
        return out;
      }
    }
  } catch (const std::exception& e) {
    out = SyncEvent{};
    out.kind = SyncEventKind::error;
    out.event.kind = EventKind::error;
    out.event.error = make_error_code(errc::system_error);
    out.event.message = e.what();
    return out;
  }
}

void SyncReader::interrupt() noexcept {
  if (impl_) impl_->interrupt.raise();
}
void SyncReader::clear_interrupt() noexcept {
  if (impl_) impl_->interrupt.clear();
}
bool SyncReader::interrupt_requested() const noexcept { return impl_ && impl_->interrupt.raised(); }
std::size_t SyncReader::size() const noexcept { return impl_ ? impl_->names.size() : 0; }
const std::vector<std::string>& SyncReader::names() const noexcept {
  static const std::vector<std::string> kNone;
  return impl_ ? impl_->names : kNone;
}
const Reader& SyncReader::member(std::size_t i) const { return impl_->members.at(i); }

SyncStats SyncReader::stats() const {
  SyncStats s;
  if (!impl_) return s;
  const Impl& d = *impl_;
  s.sets = d.sets;
  s.unmatched = d.unmatched;
  s.spread_p50_ms = d.spread.percentile_ms(50);
  s.spread_p99_ms = d.spread.percentile_ms(99);
  s.latency_p50_ms = d.latency.percentile_ms(50);
  s.latency_p99_ms = d.latency.percentile_ms(99);
  s.tolerance_ns = d.opt.policy == SyncPolicy::exact ? 0 : d.matcher.tolerance();
  s.polled = d.polled.load(std::memory_order_relaxed);  // relaxed: a statistic
  s.wait = detail::notifier::any_wait_kind() == detail::notifier::AnyWait::futex_waitv ? "futex_waitv" : "first-word";
  for (const Reader& r : d.members) s.members.push_back(r.stats());
  return s;
}

}  // namespace shmframe
