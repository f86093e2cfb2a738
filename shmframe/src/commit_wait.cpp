// CommitWaiter: the wait policies (docs/PROTOCOL.md, "Wait policies").
#include "shmframe/detail/commit_wait.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "shmframe/detail/os.hpp"

namespace shmframe::detail {

namespace {
// The widest polling window of the predictive policy unless ReaderOptions::spin_limit says.
constexpr std::uint64_t kPredictiveWindowNs = 1'000'000;
}  // namespace

std::uint32_t usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return static_cast<std::uint32_t>(CPU_COUNT(&set));
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<std::uint32_t>(n) : 1u;
}

bool may_poll(const notifier::Activity& a, bool predictive, bool read_only, std::uint32_t cpus) noexcept {
  notifier::Activity ours = a;
  ours.consumers += read_only ? 1 : 0;  // we have no entry read-only
  return may_poll(std::span<const notifier::Activity>(&ours, 1), predictive, cpus);
}

bool may_poll(std::span<const notifier::Activity> streams, bool predictive, std::uint32_t cpus) noexcept {
  std::uint32_t pollers = 0;
  std::uint32_t consumers = 0;
  for (const notifier::Activity& a : streams) {
    pollers = std::max(pollers, a.pollers);
    consumers += a.consumers;
  }
  if (pollers >= std::max<std::uint32_t>(1, cpus - std::min(cpus, 1u))) return false;
  if (!predictive) return true;
  // At a commit the producers, every consumer they wake and we all want a CPU at once: N
  // producers and the consumers, we counted once (in each stream's N counts): sum + 1.
  return consumers + 1 <= cpus;
}

CommitWaiter::CommitWaiter(WaitPolicy policy, std::chrono::nanoseconds spin_limit, const Interrupt* interrupt,
                           std::atomic<std::uint64_t>* polled, std::uint32_t cpus) noexcept
    : policy_(policy), limit_ns_(static_cast<std::uint64_t>(std::max<std::int64_t>(0, spin_limit.count()))),
      interrupt_(interrupt), polled_(polled), cpus_(cpus) {}

void CommitWaiter::count_poll() noexcept {
  if (polled_ != nullptr) polled_->fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
}

bool CommitWaiter::may_poll_now(const ReadView& v, bool predictive, bool read_only) const noexcept {
  return may_poll(notifier::activity(v), predictive, read_only, cpus_);
}

template <class MayPoll, class Sleep, class Poll>
int CommitWaiter::apply(MayPoll allowed, Sleep sleep, Poll poll, std::uint64_t until) noexcept {
  std::uint64_t now = monotonic_ns();
  if (now >= until) return ETIMEDOUT;
  switch (policy_) {
    case WaitPolicy::block: break;
    case WaitPolicy::spin: {
      const std::uint64_t stop = limit_ns_ == 0 ? until : std::min(until, now + limit_ns_);
      if (!allowed(false)) break;
      count_poll();
      if (poll(stop)) return 0;
      break;
    }
    case WaitPolicy::predictive: {
      const auto w = predictor_.next(now, limit_ns_ == 0 ? kPredictiveWindowNs : limit_ns_);
      if (!w || !allowed(true)) break;
      // Asleep until the window opens, minus what timed sleeps overshoot here (a VM's timer
      // can be late by most of a millisecond); a frame that comes early wakes us as in block.
      const std::uint64_t wake_at = w->begin_ns - std::min(w->begin_ns, sleep_overshoot_);
      if (now < wake_at) {
        const int r = sleep(std::min(until, wake_at));
        if (r != ETIMEDOUT) return r;
        now = monotonic_ns();
        const std::uint64_t late = std::min<std::uint64_t>(now - std::min(now, wake_at), 2'000'000);
        sleep_overshoot_ = sleep_overshoot_ - sleep_overshoot_ / 8 + late / 8;  // EWMA, weight 1/8
        if (now >= until) return ETIMEDOUT;
      }
      count_poll();
      if (poll(std::min(until, w->end_ns))) return 0;
      break;  // late: sleep until it comes
    }
  }
  if (monotonic_ns() >= until) return ETIMEDOUT;
  return sleep(until);
}

int CommitWaiter::await(const ReadView& v, bool read_only, const notifier::WakeWord& wake, std::uint32_t ticket,
                        std::uint64_t until) noexcept {
  return apply([&](bool predictive) { return may_poll_now(v, predictive, read_only); },
               [&](std::uint64_t t) {
                 const std::uint64_t now = monotonic_ns();
                 return now >= t ? ETIMEDOUT : notifier::wait_for_commit(wake, ticket, t - now, interrupt_);
               },
               [&](std::uint64_t t) { return notifier::poll_for_commit(wake, ticket, t, interrupt_); }, until);
}

int CommitWaiter::await_any(std::span<const notifier::WaitTarget> targets, std::span<const notifier::Activity> streams,
                            std::uint64_t until) noexcept {
  // Each target's own limit (a member's liveness check) bounds the polling too; a member without
  // a word (detached: its inotify fd) leaves only the sleep.
  bool words = true;
  for (const notifier::WaitTarget& t : targets) {
    if (t.until != 0) until = std::min(until, t.until);
    words = words && t.wake.word != nullptr;
  }
  return apply([&](bool predictive) { return words && may_poll(streams, predictive, cpus_); },
               [&](std::uint64_t t) {
                 const std::uint64_t now = monotonic_ns();
                 return now >= t ? ETIMEDOUT : notifier::wait_any(targets, interrupt_, t - now);
               },
               [&](std::uint64_t t) { return notifier::poll_any(targets, t, interrupt_); }, until);
}

}  // namespace shmframe::detail
