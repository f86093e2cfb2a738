// shmframe/detail/commit_wait.hpp: how an attached reader waits for the next commit, as its wait
// policy says (block, spin, predictive; docs/PROTOCOL.md, "Wait policies").
//
// Apart from ReaderCore, which decides what to do with a frame or an event: this only decides how
// to spend the time until the wake word moves. Internal; one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>

#include "shmframe/detail/notifier.hpp"
#include "shmframe/detail/predictor.hpp"
#include "shmframe/modes.hpp"

namespace shmframe::detail {

class Interrupt;

// May a reader poll now? Not when as many readers poll as there are CPUs besides one. Predictive,
// also not when the producer, every consumer it wakes and this reader need more CPUs than
// `cpus`: a consumer woken at the commit would preempt the poller, which then takes its frame
// later than if it had slept (issue 18: 0.8-1.3 ms behind a block consumer on 2 CPUs).
// `a`: the stream's activity; a read-only reader has no entry, so it is not among a.consumers.
bool may_poll(const notifier::Activity& a, bool predictive, bool read_only, std::uint32_t cpus) noexcept;
// The same over several streams read at once (a SyncReader), each Activity counting this reader
// among its consumers: at a set's completion every producer, every other consumer they wake and
// this reader want a CPU.
bool may_poll(std::span<const notifier::Activity> streams, bool predictive, std::uint32_t cpus) noexcept;

// The CPUs this thread may run on (its affinity: a reader pinned to one CPU must not poll it),
// else the online ones.
std::uint32_t usable_cpus() noexcept;

class CommitWaiter {
 public:
  // `spin_limit`: how long spin polls (0: until the deadline), and predictive's widest window (0:
  // 1 ms). `interrupt` (may be null) ends every wait; `polled` (may be null) counts polling waits.
  CommitWaiter(WaitPolicy policy, std::chrono::nanoseconds spin_limit, const Interrupt* interrupt,
               std::atomic<std::uint64_t>* polled, std::uint32_t cpus = usable_cpus()) noexcept;

  // A frame taken: predictive learns the producer's rhythm from commit times.
  void observe(std::uint64_t seq, std::uint64_t commit_ns) noexcept { predictor_.observe(seq, commit_ns); }
  // A new generation, or sequence numbers that jumped: forget the rhythm.
  void reset() noexcept { predictor_.reset(); }
  // Waits until the wake word moves past `ticket` or until `until` (CLOCK_MONOTONIC ns). Returns
  // 0, ETIMEDOUT, EAGAIN, EINTR or ECANCELED, like notifier::wait_for_commit().
  int await(const ReadView& v, bool read_only, const notifier::WakeWord& wake, std::uint32_t ticket,
            std::uint64_t until) noexcept;
  // The same policy over several streams at once (a SyncReader's members, as notifier::wait_any()
  // takes them; `streams`: their activity, each counting this reader). Predictive learns the
  // rhythm of what observe() is given (a SyncReader: its sets' completions).
  int await_any(std::span<const notifier::WaitTarget> targets, std::span<const notifier::Activity> streams,
                std::uint64_t until) noexcept;
  // Whether the policy ever polls (block: never; no activity to read then).
  bool polls() const noexcept { return policy_ != WaitPolicy::block; }

 private:
  // The policy, once for both: `allowed(predictive)`, `sleep(until)` (0, ETIMEDOUT, EAGAIN,
  // EINTR, ECANCELED) and `poll(until)` (true: the word moved) say how for one stream or several.
  template <class MayPoll, class Sleep, class Poll>
  int apply(MayPoll allowed, Sleep sleep, Poll poll, std::uint64_t until) noexcept;
  bool may_poll_now(const ReadView& v, bool predictive, bool read_only) const noexcept;
  void count_poll() noexcept;

  WaitPolicy policy_;
  std::uint64_t limit_ns_;
  const Interrupt* interrupt_;
  std::atomic<std::uint64_t>* polled_;
  std::uint32_t cpus_;
  ArrivalPredictor predictor_;
  std::uint64_t sleep_overshoot_ = 0;  // EWMA of how late timed sleeps end (predictive)
};

}  // namespace shmframe::detail
