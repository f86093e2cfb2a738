// The Reader's parts, each alone (issue 18, part 5): EndJudge (believing CLOSED / SUPERSEDED),
// may_poll() and CommitWaiter (the wait policies' waits). The Reader end to end is tested in
// test_validation (forgeries), test_wait_policy and test_interrupt.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <shmframe/detail/commit_wait.hpp>
#include <shmframe/detail/end_judge.hpp>
#include <shmframe/detail/interrupt.hpp>
#include <shmframe/detail/os.hpp>
#include <shmframe/layout.hpp>
#include <thread>
#include <vector>

#include "testkit.hpp"

using shmframe::detail::CommitWaiter;
using shmframe::detail::EndJudge;
using shmframe::detail::may_poll;
using Verdict = EndJudge::Verdict;
using namespace std::chrono_literals;

namespace {
constexpr auto kReady = static_cast<std::uint32_t>(shmframe::layout::State::ready);
constexpr auto kClosed = static_cast<std::uint32_t>(shmframe::layout::State::closed);
constexpr auto kSuperseded = static_cast<std::uint32_t>(shmframe::layout::State::superseded);
constexpr std::uint64_t kInterval = 100;
}  // namespace

TEST(EndJudge, ABelievedEndEndsTheStream) {
  EndJudge j;
  EXPECT_EQ(j.judge(kReady, false, 1, kInterval), Verdict::live);
  EXPECT_EQ(j.judge(kClosed, true, 2, kInterval), Verdict::closed);
  EXPECT_EQ(j.judge(kSuperseded, true, 3, kInterval), Verdict::superseded);
}

TEST(EndJudge, AnEndNotBelievedGetsOneIntervalThenIsReportedOnceThenIgnored) {
  EndJudge j;
  EXPECT_EQ(j.judge(kClosed, false, 1000, kInterval), Verdict::grace);
  EXPECT_EQ(j.grace_end(), 1000 + kInterval);
  EXPECT_EQ(j.judge(kClosed, false, 1050, kInterval), Verdict::grace);
  EXPECT_EQ(j.grace_end(), 1000 + kInterval) << "the grace runs from the first sight";
  EXPECT_EQ(j.judge(kClosed, false, 1100, kInterval), Verdict::forged);
  EXPECT_EQ(j.judge(kClosed, false, 1200, kInterval), Verdict::live) << "reported once, then ignored";
  EXPECT_EQ(j.judge(kSuperseded, false, 1300, kInterval), Verdict::live);
  // Believed later (the producer died meanwhile): the end counts.
  EXPECT_EQ(j.judge(kClosed, true, 1400, kInterval), Verdict::closed);
}

TEST(EndJudge, ReadyAgainOrANewAttachmentJudgesTheNextForgeryAfresh) {
  EndJudge j;
  EXPECT_EQ(j.judge(kClosed, false, 0 + 1, kInterval), Verdict::grace);
  EXPECT_EQ(j.judge(kClosed, false, 200, kInterval), Verdict::forged);
  EXPECT_EQ(j.judge(kReady, false, 300, kInterval), Verdict::live);
  EXPECT_EQ(j.judge(kClosed, false, 400, kInterval), Verdict::grace);
  EXPECT_EQ(j.grace_end(), 400 + kInterval);
  EXPECT_EQ(j.judge(kClosed, false, 500, kInterval), Verdict::forged);
  j.reset();
  EXPECT_EQ(j.judge(kClosed, false, 600, kInterval), Verdict::grace);
}

TEST(MayPoll, NotWhenEveryCpuButOneIsPollingAlready) {
  EXPECT_TRUE(may_poll({.consumers = 1, .pollers = 0}, false, false, 2));
  EXPECT_FALSE(may_poll({.consumers = 2, .pollers = 1}, false, false, 2));
  EXPECT_TRUE(may_poll({.consumers = 4, .pollers = 2}, false, false, 4));
  EXPECT_FALSE(may_poll({.consumers = 4, .pollers = 3}, false, false, 4));
  EXPECT_TRUE(may_poll({.consumers = 1, .pollers = 0}, false, false, 1)) << "one CPU: one poller at most";
}

TEST(MayPoll, PredictiveOnlyWhenTheProducerAndEveryConsumerHaveACpu) {
  // issue 18: a block consumer beside a predictive one on 2 CPUs preempted the poller.
  EXPECT_TRUE(may_poll({.consumers = 1, .pollers = 0}, true, false, 2));
  EXPECT_FALSE(may_poll({.consumers = 2, .pollers = 0}, true, false, 2));
  EXPECT_TRUE(may_poll({.consumers = 2, .pollers = 0}, true, false, 3));
  // Read-only: no entry, so the reader is not among the counted consumers.
  EXPECT_TRUE(may_poll({.consumers = 0, .pollers = 0}, true, true, 2));
  EXPECT_FALSE(may_poll({.consumers = 1, .pollers = 0}, true, true, 2));
}

// Block: sleeps on the word until it moves, the deadline, or the interrupt.
TEST(CommitWaiter, BlockWakesOnACommitTimesOutAndIsInterruptible) {
  std::uint32_t word = 7;
  const shmframe::detail::notifier::WakeWord wake{&word, nullptr, nullptr};
  shmframe::detail::Interrupt interrupt;
  std::atomic<std::uint64_t> polled{0};
  CommitWaiter w(shmframe::WaitPolicy::block, std::chrono::nanoseconds(0), &interrupt, &polled, 2);
  const shmframe::detail::ReadView none;
  const std::uint64_t start = shmframe::detail::monotonic_ns();
  EXPECT_EQ(w.await(none, false, wake, 7, start + 20'000'000), ETIMEDOUT);
  EXPECT_GE(shmframe::detail::monotonic_ns() - start, 20'000'000u) << "returned before its deadline";
  EXPECT_NE(w.await(none, false, wake, 6, start + 5'000'000'000), ETIMEDOUT) << "the word had moved already";
  std::thread committer([&] {
    std::atomic_ref<std::uint32_t>(word).store(8, std::memory_order_seq_cst);
    shmframe::detail::notifier::wake_word(&word);
  });
  const int r = w.await(none, false, wake, 7, shmframe::detail::monotonic_ns() + 5'000'000'000);
  committer.join();
  EXPECT_TRUE(r == 0 || r == EAGAIN) << r;
  interrupt.raise();
  EXPECT_EQ(w.await(none, false, wake, 8, shmframe::detail::monotonic_ns() + 5'000'000'000), ECANCELED);
  EXPECT_EQ(polled.load(), 0u) << "block never polls";
}

TEST(MayPoll, ASetPollsPredictivelyOnlyWhenEveryProducerAndConsumerHasACpu) {
  using shmframe::detail::notifier::Activity;
  // Two streams read only by us: two producers and us at a set's completion.
  const std::vector<Activity> two{{.consumers = 1, .pollers = 0}, {.consumers = 1, .pollers = 0}};
  EXPECT_FALSE(may_poll(two, true, 2)) << "2 producers + us on 2 CPUs";
  EXPECT_TRUE(may_poll(two, true, 3));
  EXPECT_TRUE(may_poll(two, false, 2)) << "spin asks for no CPU of the producers'";
  // Another consumer on one stream wants a CPU too.
  const std::vector<Activity> shared{{.consumers = 2, .pollers = 0}, {.consumers = 1, .pollers = 0}};
  EXPECT_FALSE(may_poll(shared, true, 3));
  EXPECT_TRUE(may_poll(shared, true, 4));
  // A poller on any stream counts as on one: not when every CPU but one polls already.
  const std::vector<Activity> polled{{.consumers = 2, .pollers = 1}, {.consumers = 1, .pollers = 0}};
  EXPECT_FALSE(may_poll(polled, false, 2));
  EXPECT_TRUE(may_poll(polled, false, 4));
}

// The policies over several words (a SyncReader's wait): spin ends when any word moves, block
// sleeps on all of them; both end at the deadline and on the interrupt.
TEST(CommitWaiter, OverSeveralWordsAnyMoveEndsTheWait) {
  using shmframe::detail::notifier::Activity;
  using shmframe::detail::notifier::WaitTarget;
  std::uint32_t words[2] = {3, 5};
  std::uint32_t polling[2] = {0, 0};
  std::vector<WaitTarget> targets(2);
  for (int i = 0; i < 2; ++i) {
    targets[i].wake = {&words[i], nullptr, &polling[i]};
    targets[i].ticket = words[i];
  }
  const std::vector<Activity> streams{{.consumers = 1, .pollers = 0}, {.consumers = 1, .pollers = 0}};
  for (const auto policy : {shmframe::WaitPolicy::spin, shmframe::WaitPolicy::block}) {
    words[0] = 3;
    words[1] = 5;
    shmframe::detail::Interrupt interrupt;
    std::atomic<std::uint64_t> polled{0};
    CommitWaiter w(policy, std::chrono::nanoseconds(0), &interrupt, &polled, 2);
    const std::uint64_t start = shmframe::detail::monotonic_ns();
    EXPECT_EQ(w.await_any(targets, streams, start + 20'000'000), ETIMEDOUT);
    EXPECT_GE(shmframe::detail::monotonic_ns() - start, 20'000'000u) << "returned before its deadline";
    // The second word; block without futex_waitv sleeps on the first one only (its fallback).
    const std::size_t k = policy == shmframe::WaitPolicy::spin || shmframe::detail::notifier::any_wait_kind() ==
                                                                      shmframe::detail::notifier::AnyWait::futex_waitv
                              ? 1
                              : 0;
    // Spin: the commit lands while it polls (its flag up), so the poll, not a sleep after it, must
    // see the word move.
    const bool spin = policy == shmframe::WaitPolicy::spin;
    std::thread committer([&] {
      if (spin) {
        (void)testkit::wait_until([&] { return std::atomic_ref<std::uint32_t>(polling[k]).load() == 1; }, 4s);
      }
      std::atomic_ref<std::uint32_t>(words[k]).store(words[k] + 1, std::memory_order_seq_cst);
      shmframe::detail::notifier::wake_word(&words[k]);
    });
    const std::uint64_t begun = shmframe::detail::monotonic_ns();
    const int r = w.await_any(targets, streams, begun + 30'000'000'000);
    committer.join();
    EXPECT_TRUE(r == 0 || r == EAGAIN) << r;
    EXPECT_LT(shmframe::detail::monotonic_ns() - begun, 10'000'000'000u) << "the move was not seen until the deadline";
    EXPECT_EQ(polling[0] + polling[1], 0u) << "the polling flags are lowered after";
    targets[k].ticket = words[k];
    interrupt.raise();
    EXPECT_EQ(w.await_any(targets, streams, shmframe::detail::monotonic_ns() + 5'000'000'000), ECANCELED);
    targets[0].ticket = 3;
    targets[1].ticket = 5;
    if (policy == shmframe::WaitPolicy::spin) {
      EXPECT_GE(polled.load(), 2u) << "spin polls";
    } else {
      EXPECT_EQ(polled.load(), 0u) << "block never polls";
    }
  }
}

// Predictive over several words: polls in the window of the rhythm observe() was given (a
// SyncReader's sets), only where every producer and we have a CPU each.
TEST(CommitWaiter, PredictiveOverSeveralWordsPollsAroundTheLearntRhythm) {
  using shmframe::detail::notifier::Activity;
  using shmframe::detail::notifier::WaitTarget;
  std::uint32_t words[2] = {3, 5};
  std::vector<WaitTarget> targets(2);
  for (int i = 0; i < 2; ++i) {
    targets[i].wake = {&words[i], nullptr, nullptr};
    targets[i].ticket = words[i];
  }
  const std::vector<Activity> streams{{.consumers = 1, .pollers = 0}, {.consumers = 1, .pollers = 0}};
  constexpr std::uint64_t kPeriod = 20'000'000;
  for (const std::uint32_t cpus : {8u, 2u}) {
    SCOPED_TRACE(cpus);
    shmframe::detail::Interrupt interrupt;
    std::atomic<std::uint64_t> polled{0};
    CommitWaiter w(shmframe::WaitPolicy::predictive, std::chrono::nanoseconds(0), &interrupt, &polled, cpus);
    // 12 sets on the rhythm, the last one 15 ms ago: the next is due in 5 ms.
    const std::uint64_t now = shmframe::detail::monotonic_ns();
    for (std::uint64_t k = 1; k <= 12; ++k) w.observe(k, now - 15'000'000 - (12 - k) * kPeriod);
    // Nothing commits: it sleeps to the window, polls through it (8 CPUs), then sleeps to the end.
    EXPECT_EQ(w.await_any(targets, streams, now + 40'000'000), ETIMEDOUT);
    EXPECT_EQ(polled.load(), cpus == 8 ? 1u : 0u) << "2 producers and us on " << cpus << " CPUs";
  }
}
