// SetMatcher (issue 21): the rule that makes synchronised sets, on capture times alone. The
// cases are the issue's: phase-locked cameras, a 12 ms offset against 5 and 20 ms tolerances,
// 30 fps with 15 fps, a stream that stops, a restart; each frame in at most one set, and no
// queue longer than its capacity (the reader's hold limit).
#include <gtest/gtest.h>

#include <shmframe/detail/set_matcher.hpp>
#include <vector>

using shmframe::detail::MatchPolicy;
using Matcher = shmframe::detail::SetMatcher<int>;

namespace {

constexpr std::uint64_t kMs = 1'000'000;

struct Outcome {
  std::vector<std::vector<int>> sets;
  std::vector<std::pair<std::size_t, int>> unmatched;
  std::uint64_t max_spread = 0;
};

// Frames of several streams, each (stream, capture_ns, id), pushed in the order given; pop() after
// each push, as the SyncReader does after each frame it takes.
Outcome run(Matcher& m, const std::vector<std::tuple<std::size_t, std::uint64_t, int>>& frames) {
  Outcome o;
  for (const auto& [stream, capture, id] : frames) {
    m.push(stream, {capture, capture, id}, o.unmatched);
    for (std::size_t i = 0; i < m.size(); ++i) EXPECT_LE(m.queued(i), 2u) << "a queue outgrew its capacity";
    while (auto set = m.pop(o.unmatched)) {
      std::vector<int> ids;
      std::uint64_t lo = UINT64_MAX, hi = 0;
      for (const auto& e : *set) {
        ids.push_back(e.value);
        lo = std::min(lo, e.capture_ns);
        hi = std::max(hi, e.capture_ns);
      }
      o.max_spread = std::max(o.max_spread, hi - lo);
      o.sets.push_back(ids);
    }
  }
  return o;
}

// Two cameras at `fps`, the second `offset` later; frames pushed in capture order. Ids: stream
// 0's frame k is k, stream 1's is 1000 + k.
std::vector<std::tuple<std::size_t, std::uint64_t, int>> pair_of_cameras(int frames, std::uint64_t period,
                                                                         std::uint64_t offset) {
  std::vector<std::tuple<std::size_t, std::uint64_t, int>> out;
  for (int k = 0; k < frames; ++k) {
    const std::uint64_t t = 1'000 * kMs + static_cast<std::uint64_t>(k) * period;
    out.emplace_back(0, t, k);
    out.emplace_back(1, t + offset, 1000 + k);
  }
  return out;
}

}  // namespace

TEST(SetMatcher, PhaseLockedCamerasMakeEveryPairASetAtTheDefaultTolerance) {
  Matcher m(MatchPolicy::approximate, 0, {1, 1});
  const Outcome o = run(m, pair_of_cameras(300, 33'333'333, 0));
  ASSERT_EQ(o.sets.size(), 300u);
  EXPECT_TRUE(o.unmatched.empty());
  EXPECT_EQ(o.max_spread, 0u);
  for (int k = 0; k < 300; ++k) EXPECT_EQ(o.sets[k], (std::vector<int>{k, 1000 + k}));
}

TEST(SetMatcher, AnOffsetBeyondTheToleranceMakesNoSetAndEveryFrameIsUnmatched) {
  Matcher m(MatchPolicy::approximate, 5 * kMs, {1, 1});
  const Outcome o = run(m, pair_of_cameras(300, 33'333'333, 12 * kMs));
  EXPECT_TRUE(o.sets.empty());
  // Every frame but the last of each stream (still queued, waiting for a partner) is unmatched.
  EXPECT_GE(o.unmatched.size(), 598u);
}

TEST(SetMatcher, AnOffsetWithinTheToleranceMakesEveryPairASet) {
  Matcher m(MatchPolicy::approximate, 20 * kMs, {1, 1});
  const Outcome o = run(m, pair_of_cameras(300, 33'333'333, 12 * kMs));
  ASSERT_EQ(o.sets.size(), 300u);
  EXPECT_TRUE(o.unmatched.empty());
  EXPECT_EQ(o.max_spread, 12 * kMs);
  for (int k = 0; k < 300; ++k) EXPECT_EQ(o.sets[k], (std::vector<int>{k, 1000 + k}));
}

// 30 fps with 15 fps: a set per slow frame, with the fast frame captured with it; the fast
// stream's frames in between are unmatched.
TEST(SetMatcher, ThirtyWithFifteenMakesSetsAtFifteenAndHalfTheFastFramesAreUnmatched) {
  for (const std::size_t capacity : {std::size_t{1}, std::size_t{2}}) {
    Matcher m(MatchPolicy::approximate, 0, {capacity, capacity});
    std::vector<std::tuple<std::size_t, std::uint64_t, int>> frames;
    const std::uint64_t period = 33'333'333;
    for (int k = 0; k < 300; ++k) {
      const std::uint64_t t = 1'000 * kMs + static_cast<std::uint64_t>(k) * period;
      frames.emplace_back(0, t, k);
      if (k % 2 == 0) frames.emplace_back(1, t, 1000 + k / 2);
    }
    const Outcome o = run(m, frames);
    ASSERT_EQ(o.sets.size(), 150u) << "capacity " << capacity;
    for (int j = 0; j < 150; ++j) EXPECT_EQ(o.sets[j], (std::vector<int>{2 * j, 1000 + j}));
    std::size_t fast_unmatched = 0;
    for (const auto& [stream, id] : o.unmatched) {
      EXPECT_EQ(stream, 0u) << "a slow frame went unmatched";
      EXPECT_EQ(id % 2, 1) << "a fast frame that had a partner went unmatched";
      ++fast_unmatched;
    }
    EXPECT_GE(fast_unmatched, 148u);
  }
}

// Approximate, with jitter: the closest partner wins, never an earlier one within the tolerance.
TEST(SetMatcher, AStreamsNextFrameReplacesItsHeadWhenItIsCloser) {
  Matcher m(MatchPolicy::approximate, 30 * kMs, {2, 2});
  Outcome o = run(m, {{0, 100 * kMs, 1}, {0, 120 * kMs, 2}, {1, 119 * kMs, 10}});
  ASSERT_EQ(o.sets.size(), 1u);
  EXPECT_EQ(o.sets[0], (std::vector<int>{2, 10}));
  ASSERT_EQ(o.unmatched.size(), 1u);
  EXPECT_EQ(o.unmatched[0], (std::pair<std::size_t, int>{0, 1}));
}

TEST(SetMatcher, ExactMatchesEqualKeysOnly) {
  Matcher m(MatchPolicy::exact, 0, {2, 2, 2});
  Outcome o = run(m, {{0, 10, 1}, {1, 10, 2}, {2, 11, 3}, {0, 11, 4}, {1, 11, 5}});
  ASSERT_EQ(o.sets.size(), 1u);
  EXPECT_EQ(o.sets[0], (std::vector<int>{4, 5, 3}));
  EXPECT_EQ(o.unmatched.size(), 2u);  // frames 1 and 2: stream 2 has none at 10
}

// A stream that stops: its partner's frames are released by age, not held until it resumes.
TEST(SetMatcher, AStoppedStreamsPartnersAreReleasedByAge) {
  Matcher m(MatchPolicy::approximate, 5 * kMs, {2, 2});
  Outcome o = run(m, {{0, 100 * kMs, 1}, {1, 100 * kMs, 10}, {0, 133 * kMs, 2}, {0, 166 * kMs, 3}});
  EXPECT_EQ(o.sets.size(), 1u);
  EXPECT_EQ(m.queued(0), 2u);
  m.release_older_than(150 * kMs, o.unmatched);
  EXPECT_EQ(m.queued(0), 1u);
  m.release_older_than(200 * kMs, o.unmatched);
  EXPECT_EQ(m.queued(0), 0u);
  EXPECT_EQ(o.unmatched.size(), 2u);
}

// A restart: the stream's queue and clock go; sets resume with its new frames.
TEST(SetMatcher, ARestartDropsTheStreamsQueueAndSetsResume) {
  Matcher m(MatchPolicy::approximate, 5 * kMs, {2, 2});
  Outcome o = run(m, {{0, 100 * kMs, 1}, {1, 90 * kMs, 10}});
  m.restart(1, o.unmatched);
  EXPECT_EQ(m.queued(1), 0u);
  const Outcome after = run(m, {{1, 101 * kMs, 11}});
  ASSERT_EQ(after.sets.size(), 1u);
  EXPECT_EQ(after.sets[0], (std::vector<int>{1, 11}));
}

TEST(SetMatcher, AFrameOlderThanItsStreamsLastIsRefused) {
  Matcher m(MatchPolicy::approximate, 5 * kMs, {2, 2});
  Outcome o = run(m, {{0, 100 * kMs, 1}, {0, 90 * kMs, 2}});
  ASSERT_EQ(o.unmatched.size(), 1u);
  EXPECT_EQ(o.unmatched[0].second, 2);
}
