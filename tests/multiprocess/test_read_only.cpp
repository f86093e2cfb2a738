// Read-only consumers (issue 10, ABI 4): a consumer that can only read the segment (a 0644 / 0640
// stream of another user, or Access::read_only) attaches without a consumer entry, sleeps on the
// header's reader_wake word, and cannot disturb anyone. What it gives up: no held frames, no
// lossless delivery, not listed. Each test would fail if the read-only path broke: a consumer of
// another user refused (the old behaviour), a reader that is never woken (its waits would time
// out: the producers here beat every 10 s, far beyond each wait), an entry claimed anyway.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <shmframe/detail/segment.hpp>
#include <shmframe/inspect.hpp>
#include <shmframe/layout.hpp>
#include <thread>

#include "children.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
using testkit::StreamGuard;

namespace {

// A producer whose heartbeat is far longer than any wait below, so that a reader's wait slices
// (one heartbeat each) never end early: a reader not woken by commits sleeps through each whole
// wait and skips hundreds of frames (see woken()).
WriterOptions slow_beat(mode_t mode = 0600) {
  WriterOptions o = children::options();
  o.heartbeat = 10s;
  o.mode = mode;
  return o;
}

// `n` waits in a row must each return a frame, newer than the last, with the pattern of its seq
// when still valid. Returns the number of frames that were (0 on a timeout or a torn frame), and
// in `skipped` how many frames were committed between the first and the last but not taken.
int frames_in_a_row(Reader& r, int n, std::chrono::milliseconds each, std::uint64_t* skipped = nullptr) {
  std::uint64_t first = 0, last = 0;
  for (int i = 0; i < n; ++i) {
    Event e = r.wait(each);
    if (e.kind == EventKind::attached) {
      --i;
      continue;
    }
    if (e.kind != EventKind::frame) {
      ADD_FAILURE() << "wait " << i << ": " << to_string(e.kind) << " instead of a frame " << e.message;
      return 0;
    }
    EXPECT_GT(e.frame.seq(), last);
    last = e.frame.seq();
    if (first == 0) first = last;
    const bool ok = testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq());
    if (e.frame.still_valid() && !ok) {
      ADD_FAILURE() << "frame " << e.frame.seq() << " validated but its pixels are not its own";
      return 0;
    }
  }
  if (skipped != nullptr) *skipped = last - first + 1 - static_cast<std::uint64_t>(n);
  return n;
}

// Woken by the producer, not by the end of each wait. A wait that runs out still returns the
// newest frame, so the sign of a reader nobody wakes is how many frames it skips: one wait (2 s)
// of a stream committing every 2 ms, ~1000 per frame taken. A woken reader skips few; the bound
// (10 per frame taken) leaves a margin of ~100x either way.
constexpr std::chrono::milliseconds kWaitEach = 2s;
bool woken(int frames, std::uint64_t skipped) { return skipped <= 10u * static_cast<std::uint64_t>(frames); }

}  // namespace

// Another user may read (mode 0644) but not write: it attaches read-only by itself, takes frames,
// owns no entry, and sees the close. Asking for read-write instead, or for lossless delivery,
// is refused with a message that names read-only access.
TEST(ReadOnly, AnotherUserAttachesReadOnlyToA0644Stream) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("ro-other");
  LinePipe wp, cp;
  Child writer([&] { return children::produce(g.name(), slow_beat(0644), 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child other([&] {
    if (children::become_nobody() != 0) return 50;
    Reader r(g.name());
    r.attach(5s);
    if (!r.read_only() || r.hold_limit() != 0) return 10;
    std::uint64_t skipped = 0;
    if (frames_in_a_row(r, 20, kWaitEach, &skipped) != 20 || !woken(20, skipped)) return 11;
    cp.send(Record("frames"));
    for (;;) {  // the parent closes the stream now
      Event e = r.wait(10s);
      if (e.kind == EventKind::closed) break;
      if (e.kind != EventKind::frame) return 12;
    }
    // Read-write only, or lossless (which needs an entry): refused, naming the way out.
    ReaderOptions rw;
    rw.access = Access::read_write;
    ReaderOptions lossless;
    lossless.delivery = Delivery::lossless;
    for (const ReaderOptions& o : {rw, lossless}) {
      Reader denied(g.name(), o);
      Event e = denied.wait(5s);
      if (e.kind != EventKind::error || e.error != errc::permission_denied) return 13;
      if (e.message.find("read-only") == std::string::npos) return 14;
    }
    return 0;
  });
  ASSERT_TRUE(cp.recv_kind("frames", 20s));
  // It owns no consumer entry: nothing of it is listed, nothing of it can be reaped or forged.
  EXPECT_TRUE(inspect(g.name()).consumers.empty());
  writer.kill_and_reap(SIGTERM);  // a clean close
  // The refusals need a stream again: the same one, produced anew.
  Child again([&] { return children::produce(g.name(), slow_beat(0644), 0, 2000); });
  EXPECT_EQ(other.exit_code(30s), 0);
  again.kill_and_reap(SIGTERM);
}

// Woken by every commit, whatever its wait policy: the producer bumps and wakes reader_wake.
class ReadOnlyWake : public ::testing::TestWithParam<WaitPolicy> {};

TEST_P(ReadOnlyWake, EveryCommitWakesIt) {
  StreamGuard g("ro-wake");
  LinePipe wp;
  Child writer([&] { return children::produce(g.name(), slow_beat(), 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  ReaderOptions o;
  o.access = Access::read_only;
  o.wait = GetParam();
  Reader r(g.name(), o);
  r.attach(5s);
  EXPECT_TRUE(r.read_only());
  std::uint64_t skipped = 0;
  EXPECT_EQ(frames_in_a_row(r, 50, kWaitEach, &skipped), 50);
  EXPECT_TRUE(woken(50, skipped)) << skipped << " frames skipped: not woken by the commits";
  EXPECT_TRUE(inspect(g.name()).consumers.empty());
  EXPECT_EQ(r.stats().unheld, 0u) << "read-only frames are unheld by design, not counted as over the limit";
  writer.kill_and_reap(SIGTERM);
}

INSTANTIATE_TEST_SUITE_P(Policies, ReadOnlyWake,
                         ::testing::Values(WaitPolicy::block, WaitPolicy::predictive, WaitPolicy::spin),
                         [](const auto& p) { return std::string(to_string(p.param)); });

// What read-only gives up: its frames are not held, so the producer may overwrite them while a
// free slot exists elsewhere; a read-write reader's frame in the same place survives.
TEST(ReadOnly, HoldsNothingSoItsFramesCanBeOverwritten) {
  StreamGuard g("ro-hold");
  Writer w(g.name(), testkit::small_options({.slots = 2}));
  for (const Access access : {Access::read_only, Access::read_write}) {
    ReaderOptions o;
    o.access = access;
    Reader r(g.name(), o);
    r.attach(2s);
    ASSERT_NE(children::put_pattern(w), 0u);
    Event e = r.wait(2s);
    while (e.kind == EventKind::attached) e = r.wait(2s);
    ASSERT_EQ(e.kind, EventKind::frame);
    EXPECT_EQ(e.frame.held(), access == Access::read_write);
    // Two more commits: with 2 slots, the second lands on the first frame's slot unless it is held.
    ASSERT_NE(children::put_pattern(w), 0u);
    ASSERT_NE(children::put_pattern(w), 0u);
    EXPECT_EQ(e.frame.still_valid(), access == Access::read_write) << to_string(access);
    EXPECT_EQ(inspect(g.name()).consumers.size(), access == Access::read_write ? 1u : 0u);
  }
}

TEST(ReadOnly, LosslessNeedsWriteAccess) {
  ReaderOptions o;
  o.access = Access::read_only;
  o.delivery = Delivery::lossless;
  try {
    Reader r("ro-lossless", o);
    ADD_FAILURE() << "a read-only lossless Reader was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("write access"), std::string::npos) << e.what();
  }
}

// A killed producer is lost to a read-only reader as to any other; its successor's new
// generation is attached (the successor wakes reader_wake when it supersedes the old segment).
TEST(ReadOnly, FollowsAKilledProducersSuccessor) {
  StreamGuard g("ro-successor");
  LinePipe wp1, wp2;
  Child first([&] { return children::produce(g.name(), children::options(), 0, 2000, &wp1); });
  auto r1 = wp1.recv_kind("ready", 10s);
  ASSERT_TRUE(r1);
  ReaderOptions o;
  o.access = Access::read_only;
  Reader r(g.name(), o);
  r.attach(5s);
  ASSERT_EQ(frames_in_a_row(r, 5, 3s), 5);
  first.kill_and_reap(SIGKILL);
  bool lost = false;
  for (int i = 0; i < 100 && !lost; ++i) lost = r.wait(100ms).kind == EventKind::producer_lost;
  EXPECT_TRUE(lost);
  Child second([&] { return children::produce(g.name(), children::options(), 0, 2000, &wp2); });
  auto r2 = wp2.recv_kind("ready", 10s);
  ASSERT_TRUE(r2);
  std::uint64_t attached_gen = 0;
  for (int i = 0; i < 100 && attached_gen == 0; ++i) {
    Event e = r.wait(100ms);
    if (e.kind == EventKind::attached) attached_gen = e.generation;
  }
  EXPECT_EQ(attached_gen, r2->get_u64("gen"));
  EXPECT_NE(attached_gen, r1->get_u64("gen"));
  EXPECT_TRUE(r.read_only());
  EXPECT_EQ(frames_in_a_row(r, 5, 3s), 5);
  second.kill_and_reap(SIGTERM);
}

// A process with write access stores into reader_wake over and over: read-only readers still
// get every wake-up (the producer wakes the word after each commit whatever it holds).
TEST(ReadOnly, AHostileWriterCannotSilenceIt) {
  StreamGuard g("ro-hostile");
  LinePipe wp;
  Child writer([&] { return children::produce(g.name(), slow_beat(0666), 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  ReaderOptions o;
  o.access = Access::read_only;
  Reader r(g.name(), o);
  r.attach(5s);
  const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  void* base = mmap(nullptr, sizeof(layout::SegmentHeader), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  ASSERT_NE(base, MAP_FAILED);
  auto* word = &static_cast<layout::SegmentHeader*>(base)->reader_wake;
  std::atomic<bool> stop{false};
  std::thread hostile([&] {
    while (!stop.load()) {
      detail::at(*word).store(7, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  std::uint64_t skipped = 0;
  EXPECT_EQ(frames_in_a_row(r, 30, kWaitEach, &skipped), 30);
  EXPECT_TRUE(woken(30, skipped)) << skipped << " frames skipped: not woken by the commits";
  stop = true;
  hostile.join();
  munmap(base, sizeof(layout::SegmentHeader));
  writer.kill_and_reap(SIGTERM);
}
