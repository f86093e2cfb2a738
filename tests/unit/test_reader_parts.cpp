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

using shmframe::detail::CommitWaiter;
using shmframe::detail::EndJudge;
using shmframe::detail::may_poll;
using Verdict = EndJudge::Verdict;

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
