// The consumer table's mechanism on its own (detail/consumer_table.hpp): claim, judge, reap and
// release against entries crafted by hand, in a segment this test creates. The end-to-end
// versions (real processes killed, stopped, squatting) are in tests/multiprocess.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmframe/detail/consumer_table.hpp>
#include <shmframe/detail/os.hpp>
#include <shmframe/detail/segment.hpp>
#include <shmframe/error.hpp>
#include <vector>

#include "testkit.hpp"

using namespace shmframe;
using namespace shmframe::detail;
using consumer_table::Owner;

namespace {

constexpr std::uint64_t kInterval = 100'000'000;  // the segment's heartbeat interval

// A segment of `consumers` entries, all free, for this test alone.
struct Table {
  testkit::StreamGuard guard;
  WriteView v;
  explicit Table(const char* tag, std::uint32_t consumers = 4) : guard(tag) {
    Geometry geo = plan_geometry(guard.name(), FrameFormat{16, 8, PixelFormat::gray8, 0}, 2, consumers, 0);
    geo.generation = 1;
    geo.heartbeat_interval_ns = kInterval;
    v = create_segment(guard.name(), geo, 0600, false, {});
  }
  layout::ConsumerEntry& entry(std::uint32_t i) const { return v.consumer(i); }
};

std::int32_t self() { return static_cast<std::int32_t>(getpid()); }

// A pid that certainly belonged to a process that has exited (reaped, so not a zombie).
std::int32_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return static_cast<std::int32_t>(child);
}

// An entry as its owner leaves it: owned by `pid`, active, with `ticks` and a heartbeat `age` old.
void own(layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t ticks, std::uint64_t age, std::uint32_t active = 1) {
  const std::uint64_t now = monotonic_ns();
  e.owner_pid = pid;
  e.active = active;
  e.owner_start_ticks = ticks;
  e.heartbeat_ns = now - std::min(now, age);
}

}  // namespace

TEST(ConsumerTable, AClaimTakesAFreeEntryAndResetsEveryFieldButWake) {
  Table t("ct-claim");
  auto& e = t.entry(0);
  // What a previous owner left (free again: owner_pid 0).
  e.wake = 77;
  e.held = 3;
  e.last_seq = 9;
  e.frames = 9;
  e.drops = 2;
  e.overruns = 1;
  e.waiting = 1;
  e.delivery = 2;
  e.demotions = 4;
  e.wait_policy = 2;
  e.polling = 1;
  e.wake_latency_ns = 1234;
  const auto i = consumer_table::claim(t.v, self(), t.guard.name());
  ASSERT_EQ(i, std::optional<std::uint32_t>(0));
  EXPECT_EQ(e.owner_pid, self());
  EXPECT_EQ(e.active, 1u);
  EXPECT_EQ(e.owner_start_ticks, process_start_ticks(getpid()));
  EXPECT_EQ(e.wake, 77u) << "wake only ever counts up";
  for (std::uint64_t v : {std::uint64_t{e.held}, e.last_seq, e.frames, e.drops, e.overruns, std::uint64_t{e.waiting},
                          std::uint64_t{e.delivery}, std::uint64_t{e.demotions}, std::uint64_t{e.wait_policy},
                          std::uint64_t{e.polling}, std::uint64_t{e.wake_latency_ns}}) {
    EXPECT_EQ(v, 0u);
  }
}

TEST(ConsumerTable, JudgeTellsFreeChangingLiveAndGoneOwners) {
  Table t("ct-judge");
  auto& e = t.entry(0);
  const std::uint64_t now = monotonic_ns();
  const std::uint64_t ticks = process_start_ticks(getpid());
  auto judge = [&](std::int32_t pid) { return consumer_table::judge(e, pid, now, kInterval); };
  EXPECT_EQ(judge(0), Owner::free);
  EXPECT_EQ(judge(layout::kReaping), Owner::changing_hands);
  EXPECT_EQ(judge(-5), Owner::gone) << "no process has a negative id";
  own(e, self(), ticks, 0);
  EXPECT_EQ(judge(self()), Owner::live);
  own(e, self(), ticks + 1, 0);
  EXPECT_EQ(judge(self()), Owner::gone) << "another process now has the pid (start time differs)";
  const std::int32_t dead = dead_pid();
  own(e, dead, 0, 0);
  EXPECT_EQ(judge(dead), Owner::gone);
  // pid 1 always lives: written into an entry that never became active and never beats, it is
  // someone's forgery, not an owner.
  own(e, 1, 0, 2 * kInterval, 0);
  EXPECT_EQ(judge(1), Owner::gone);
  own(e, 1, 0, 0, 0);
  EXPECT_EQ(judge(1), Owner::live) << "a claimer between its CAS and its first beat";
}

TEST(ConsumerTable, AFullTableIsTakenOverFromAGoneOwnerAtOnceAndLiveOwnersAreTooMany) {
  Table t("ct-full", 2);
  const std::uint64_t ticks = process_start_ticks(getpid());
  own(t.entry(0), self(), ticks, 0);
  own(t.entry(1), -5, 0, 0);
  EXPECT_EQ(consumer_table::claim(t.v, self(), t.guard.name()), std::optional<std::uint32_t>(1));
  EXPECT_EQ(t.entry(1).owner_pid, self());
  // Both live now: the next claimer is refused, naming the fix.
  try {
    (void)consumer_table::claim(t.v, self(), t.guard.name());
    ADD_FAILURE() << "claimed an entry of a full table";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::too_many_consumers);
    EXPECT_NE(std::string(e.what()).find("--max-consumers"), std::string::npos) << e.what();
  }
  // An entry changing hands is free again soon: not final.
  t.entry(1).owner_pid = layout::kReaping;
  EXPECT_EQ(consumer_table::claim(t.v, self(), t.guard.name()), std::nullopt);
}

TEST(ConsumerTable, ReapFreesDeadOwnersAfterThreeIntervalsAndStuckEntriesAfterOne) {
  Table t("ct-reap");
  const std::int32_t dead = dead_pid();
  const std::uint64_t ticks = process_start_ticks(getpid());
  own(t.entry(0), dead, 0, 3 * kInterval + 1);     // dead and silent: reaped
  own(t.entry(1), dead, 0, kInterval);             // dead but beat lately (another pid namespace?): kept
  own(t.entry(2), self(), ticks, 10 * kInterval);  // alive, even if silent: kept
  t.entry(3).owner_pid = layout::kReaping;         // changing hands
  t.entry(0).held = 1;
  std::vector<std::uint64_t> since;
  std::vector<std::uint32_t> reaped;
  const auto record = [&](std::uint32_t i, std::int32_t) { reaped.push_back(i); };
  const std::uint64_t now = monotonic_ns();
  EXPECT_EQ(consumer_table::reap(t.v, now, since, record), 1u);
  EXPECT_EQ(reaped, std::vector<std::uint32_t>{0});
  EXPECT_EQ(t.entry(0).owner_pid, 0);
  EXPECT_EQ(t.entry(0).held, 0u) << "a reaped entry's holds free their slots";
  EXPECT_EQ(t.entry(1).owner_pid, dead);
  EXPECT_EQ(t.entry(2).owner_pid, self());
  EXPECT_EQ(t.entry(3).owner_pid, layout::kReaping) << "changing hands for microseconds is normal";
  // Still -1 a whole interval later: its taker died in the middle, or someone wrote it.
  EXPECT_EQ(consumer_table::reap(t.v, now + kInterval, since, record), 1u);
  EXPECT_EQ(t.entry(3).owner_pid, 0);
  EXPECT_EQ(t.v.header().consumers_reaped, 2u);
}

TEST(ConsumerTable, AReleaseTouchesAnEntryOnlyWhileItIsOurs) {
  Table t("ct-release");
  const auto i = consumer_table::claim(t.v, self(), t.guard.name());
  ASSERT_TRUE(i);
  auto& e = t.entry(*i);
  // Reaped meanwhile and taken by another consumer: its fields must stay as they are.
  own(e, 4242, 7, 0);
  e.held = 1;
  consumer_table::release(t.v, *i, self());
  EXPECT_EQ(e.owner_pid, 4242);
  EXPECT_EQ(e.held, 1u);
  EXPECT_FALSE(consumer_table::beat(e, self(), monotonic_ns())) << "a beat tells the entry is no longer ours";
  // Ours: released, free for the next claimer.
  own(e, self(), process_start_ticks(getpid()), 0);
  e.delivery = 1;
  consumer_table::release(t.v, *i, self());
  EXPECT_EQ(e.owner_pid, 0);
  EXPECT_EQ(e.active, 0u);
  EXPECT_EQ(e.delivery, 0u);
  EXPECT_EQ(e.held, 0u);
}
