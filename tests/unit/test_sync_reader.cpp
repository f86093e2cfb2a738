// SyncReader in one process (issue 21): camera threads that commit on a shared grid of ticks
// (the phase lock of shmframe-producer, in-process), read as sets. The cross-process cases (two
// producers, SIGKILL, SIGSTOP) are in tests/apps/test_sync.cpp.
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <shmframe/shmframe.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "shmframe/detail/commit_wait.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using namespace shmframe;

namespace {

constexpr std::uint64_t kMs = 1'000'000;

void sleep_until_ns(std::uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000ull), static_cast<long>(t % 1'000'000'000ull)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

// A camera on its own thread: `frames` frames, one every `period`, on the grid that starts at
// `start` (+ `offset`), each stamped with its tick (as a triggered camera stamps its exposure).
class Camera {
 public:
  // `close_at_end`: close the stream after the last frame (else when the Camera goes).
  Camera(const std::string& name, std::uint64_t start, std::uint64_t period, std::uint64_t offset, int frames,
         std::uint32_t width = 64, bool close_at_end = false)
      : writer_(name, options(width)), thread_([=, this] {
          for (int k = 0; k < frames && !stop_; ++k) {
            const std::uint64_t tick = start + offset + static_cast<std::uint64_t>(k) * period;
            sleep_until_ns(tick);
            WriteSlot s = writer_.acquire();
            if (!s) continue;
            testkit::fill_pattern(s.data(), s.format().frame_bytes(), s.seq());
            (void)writer_.commit(s, tick);
          }
          if (close_at_end) writer_.close();
        }) {}
  ~Camera() {
    stop_ = true;
    thread_.join();
  }
  void join() { thread_.join(); }
  Writer& writer() { return writer_; }

 private:
  static WriterOptions options(std::uint32_t width) {
    WriterOptions o = testkit::small_options({.slots = 3});
    o.format.width = width;
    return o;
  }
  Writer writer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The grid's start: the next multiple of 100 ms, at least 300 ms away (time to attach).
std::uint64_t grid_start() { return (monotonic_ns() / (100 * kMs) + 4) * 100 * kMs; }

struct Collected {
  std::vector<FrameSet> sets;  // released, metadata kept
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seqs;
  std::uint64_t max_spread = 0;
};

// Sets until `count` or `budget` passes.
Collected collect(SyncReader& r, std::size_t count, std::chrono::milliseconds budget) {
  Collected c;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (c.seqs.size() < count && std::chrono::steady_clock::now() < deadline) {
    SyncEvent e = r.wait(testkit::left_until(deadline));
    if (e.kind != SyncEventKind::set) continue;
    EXPECT_EQ(e.set.frames.size(), 2u);
    for (const Frame& f : e.set.frames) {
      EXPECT_TRUE(testkit::check_pattern(f.data(), f.format().frame_bytes(), f.seq()));
      EXPECT_TRUE(f.still_valid());
    }
    c.seqs.emplace_back(e.set.frames[0].seq(), e.set.frames[1].seq());
    c.max_spread = std::max(c.max_spread, e.set.spread_ns);
  }
  return c;
}

SyncOptions tolerance(std::chrono::nanoseconds t) {
  SyncOptions o;
  o.tolerance = t;
  return o;
}

}  // namespace

TEST(SyncReader, BadInputIsRefusedWithAReason) {
  auto says = [](const std::function<void()>& make, const std::string& what) {
    try {
      make();
      ADD_FAILURE() << "accepted; wanted: " << what;
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::invalid_argument) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  says([] { SyncReader r({"a"}); }, "2 to 8 streams, not 1");
  says([] { SyncReader r({"a", "b", "c", "d", "e", "f", "g", "h", "i"}); }, "2 to 8 streams, not 9");
  says([] { SyncReader r({"a", "b", "a"}); }, "named twice");
  says([] { SyncReader r({"a", "b"}, tolerance(0ns)); }, "matches nothing");
  EXPECT_THROW(SyncReader({"a", "b/c"}), Error);
}

// Phase-locked cameras: every pair a set, spread 0, nothing unmatched.
TEST(SyncReader, PhaseLockedCamerasGiveEveryPairAsASet) {
  testkit::StreamGuard a("sync-a"), b("sync-b");
  SyncReader r({a.name(), b.name()});
  const std::uint64_t start = grid_start();
  Camera ca(a.name(), start, 10 * kMs, 0, 60), cb(b.name(), start, 10 * kMs, 0, 60);
  const Collected c = collect(r, 60, 10s);
  ASSERT_EQ(c.seqs.size(), 60u);
  for (std::size_t k = 0; k < c.seqs.size(); ++k) EXPECT_EQ(c.seqs[k].first, c.seqs[k].second) << k;
  EXPECT_EQ(c.max_spread, 0u);
  const SyncStats s = r.stats();
  EXPECT_EQ(s.sets, 60u);
  EXPECT_EQ(s.unmatched, (std::vector<std::uint64_t>{0, 0}));
  EXPECT_TRUE(s.wait == "futex_waitv" || s.wait == "first-word") << s.wait;
  EXPECT_LT(s.latency_p50_ms, 100.0);
}

// Read-only members (no consumer entry): their wake word is the header's, and the one wait on
// every member still ends at each commit: every pair a set.
TEST(SyncReader, ReadOnlyMembersGiveEveryPairAsASet) {
  testkit::StreamGuard a("sync-ro-a"), b("sync-ro-b");
  SyncOptions o;
  o.reader.access = Access::read_only;
  SyncReader r({a.name(), b.name()}, o);
  const std::uint64_t start = grid_start();
  Camera ca(a.name(), start, 10 * kMs, 0, 40), cb(b.name(), start, 10 * kMs, 0, 40);
  const Collected c = collect(r, 40, 10s);
  ASSERT_EQ(c.seqs.size(), 40u);
  EXPECT_TRUE(r.member(0).read_only());
  EXPECT_TRUE(r.member(1).read_only());
  for (std::size_t k = 0; k < c.seqs.size(); ++k) EXPECT_EQ(c.seqs[k].first, c.seqs[k].second) << k;
  EXPECT_EQ(r.stats().unmatched, (std::vector<std::uint64_t>{0, 0}));
  // Woken by the commits, not by the 100 ms heartbeat slices (what a wait on the wrong word gives):
  // a functional bound, far from any speed claim.
  EXPECT_LT(r.stats().latency_p50_ms, 20.0);
}

// One camera 12 ms late: nothing within 5 ms (every frame unmatched), every pair within 20 ms.
TEST(SyncReader, AnOffsetOutsideTheToleranceMakesNoSetAndInsideItEveryPair) {
  for (const auto tol : {5ms, 20ms}) {
    testkit::StreamGuard a("sync-off-a"), b("sync-off-b");
    SyncReader r({a.name(), b.name()}, tolerance(tol));
    const std::uint64_t start = grid_start();
    {
      Camera ca(a.name(), start, 33 * kMs, 0, 30), cb(b.name(), start, 33 * kMs, 12 * kMs, 30);
      const Collected c = collect(r, 30, tol == 5ms ? 1600ms : 10s);
      if (tol == 5ms) {
        EXPECT_TRUE(c.seqs.empty()) << c.seqs.size() << " sets at 5 ms";
      } else {
        ASSERT_EQ(c.seqs.size(), 30u);
        EXPECT_EQ(c.max_spread, 12 * kMs);
      }
    }
    const SyncStats s = r.stats();
    if (tol == 5ms) {
      EXPECT_EQ(s.sets, 0u);
      EXPECT_GE(s.unmatched[0] + s.unmatched[1], 40u) << "frames taken but not counted unmatched";
    } else {
      EXPECT_EQ(s.unmatched, (std::vector<std::uint64_t>{0, 0}));
    }
  }
}

// The members' wait policy is the set's wait: spin polls every member's word (and delivers every
// pair); predictive polls around the sets' rhythm where the producers and we each have a CPU.
TEST(SyncReader, TheMembersWaitPolicyIsTheOneWaitOnAllOfThem) {
  for (const WaitPolicy policy : {WaitPolicy::spin, WaitPolicy::predictive}) {
    SCOPED_TRACE(policy == WaitPolicy::spin ? "spin" : "predictive");
    testkit::StreamGuard a("sync-wp-a"), b("sync-wp-b");
    SyncOptions o;
    o.reader.wait = policy;
    o.reader.spin_limit = 2ms;  // spin: a CPU for 2 ms at most per wait
    SyncReader r({a.name(), b.name()}, o);
    const std::uint64_t start = grid_start();
    Camera ca(a.name(), start, 10 * kMs, 0, 40), cb(b.name(), start, 10 * kMs, 0, 40);
    const Collected c = collect(r, 40, 10s);
    ASSERT_EQ(c.seqs.size(), 40u);
    for (std::size_t k = 0; k < c.seqs.size(); ++k) EXPECT_EQ(c.seqs[k].first, c.seqs[k].second) << k;
    const SyncStats s = r.stats();
    EXPECT_EQ(s.unmatched, (std::vector<std::uint64_t>{0, 0}));
    if (policy == WaitPolicy::spin) {
      EXPECT_GT(s.polled, 0u) << "spin never polled";
    } else if (detail::usable_cpus() < 3) {
      EXPECT_EQ(s.polled, 0u) << "predictive polled with 2 producers and us on " << detail::usable_cpus() << " CPUs";
    } else {
      EXPECT_GT(s.polled, 0u) << "predictive never polled, with a CPU for each producer and us";
    }
  }
}

// A stream that never appears: wait() keeps its timeout, and nothing is held.
TEST(SyncReader, AStreamThatNeverAppearsTimesOut) {
  testkit::StreamGuard a("sync-lone-a"), b("sync-lone-b");
  SyncReader r({a.name(), b.name()});
  Camera ca(a.name(), grid_start(), 10 * kMs, 0, 30);
  const auto start = std::chrono::steady_clock::now();
  bool attached_a = false;
  for (;;) {
    const SyncEvent e = r.wait(300ms);
    if (e.kind == SyncEventKind::attached) {
      EXPECT_EQ(e.stream, 0u);
      attached_a = true;
      continue;
    }
    EXPECT_EQ(e.kind, SyncEventKind::timeout) << to_string(e.kind);
    break;
  }
  EXPECT_TRUE(attached_a);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(r.stats().sets, 0u);
}

TEST(SyncReader, InterruptEndsAWaitAtOnce) {
  testkit::StreamGuard a("sync-int-a"), b("sync-int-b");
  SyncReader r({a.name(), b.name()});
  std::atomic<bool> done{false};
  SyncEventKind kind = SyncEventKind::set;
  std::thread waiter([&] {
    kind = r.wait(20s).kind;
    done = true;
  });
  EXPECT_FALSE(testkit::wait_until([&] { return done.load(); }, 50ms));
  const auto t = std::chrono::steady_clock::now();
  r.interrupt();
  waiter.join();
  EXPECT_EQ(kind, SyncEventKind::interrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - t, 1s);
}

// A camera that restarts with another size: an attached event for it, and no set mixes the old
// generation with the new.
TEST(SyncReader, ARestartedCameraResumesTheSetsWithItsNewGeneration) {
  testkit::StreamGuard a("sync-re-a"), b("sync-re-b");
  SyncReader r({a.name(), b.name()});
  const std::uint64_t start = grid_start();
  Camera ca(a.name(), start, 10 * kMs, 0, 150);
  std::uint64_t b_generation = 0;
  {
    Camera cb(b.name(), start, 10 * kMs, 0, 30);
    ASSERT_EQ(collect(r, 20, 10s).seqs.size(), 20u);
  }  // closed
  Camera cb2(b.name(), grid_start(), 10 * kMs, 0, 60, 96);
  b_generation = cb2.writer().generation();
  std::size_t after = 0;
  bool reattached = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (after < 20 && std::chrono::steady_clock::now() < deadline) {
    SyncEvent e = r.wait(testkit::left_until(deadline));
    if (e.kind == SyncEventKind::attached && e.stream == 1 && e.event.generation == b_generation) reattached = true;
    if (e.kind != SyncEventKind::set) continue;
    if (!reattached) continue;
    EXPECT_EQ(e.set.frames[1].generation(), b_generation) << "a set mixed the old generation in";
    EXPECT_EQ(e.set.frames[1].width(), 96u);
    ++after;
  }
  EXPECT_TRUE(reattached);
  EXPECT_EQ(after, 20u);
}

// run()'s multi-input form: a SetProcessor gets one Input per stream, captured together, and
// publishes with the first stream's origin; run() ends after max_frames sets.
namespace {
class PairStage final : public SetProcessor {
 public:
  bool on_set(std::span<const Input> set, Output& out) override {
    EXPECT_EQ(set.size(), 2u);
    EXPECT_EQ(set[0].capture_ns(), set[1].capture_ns());
    EXPECT_TRUE(testkit::check_pattern(set[1].data(), set[1].format().frame_bytes(), set[1].seq()));
    const OutputBuffer b = out.acquire(FrameFormat{8, 8, PixelFormat::gray8, 0});
    if (!b) return false;
    std::memset(b.data, static_cast<int>(set[0].seq() & 0xff), b.format.frame_bytes());
    return out.commit();
  }
  void on_attached(std::size_t stream, const StreamInfo& info) override {
    attached.push_back(stream);
    EXPECT_NE(info.generation, 0u);
  }
  void on_closed(std::size_t stream, std::uint64_t) override { closed.push_back(stream); }
  std::vector<std::size_t> attached, closed;
};
}  // namespace

TEST(SetRun, ASetProcessorGetsEverySetAndPublishesWithTheFirstStreamsOrigin) {
  testkit::StreamGuard a("srun-a"), b("srun-b"), out("srun-out");
  SyncReader r({a.name(), b.name()});
  const std::uint64_t start = grid_start();
  Camera ca(a.name(), start, 10 * kMs, 0, 200), cb(b.name(), start, 10 * kMs, 0, 200);
  PairStage stage;
  RunOptions opt;
  opt.max_frames = 20;
  opt.output = out.name();
  opt.handle_signals = false;
  opt.idle_timeout = 10s;  // bounded even if the sets never come
  RunResult result;
  std::thread runner([&] { result = run(r, stage, opt); });
  ReaderOptions ro;
  ro.delivery = Delivery::every_frame;
  Reader output(out.name(), ro);
  int seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (seen < 3 && std::chrono::steady_clock::now() < deadline) {
    Event e = output.wait(testkit::left_until(deadline));
    if (e.kind != EventKind::frame) continue;
    ++seen;
    const std::optional<Origin> o = e.frame.origin();
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->stream, a.name());
    EXPECT_EQ(o->hops, 1u);
    EXPECT_EQ(static_cast<std::uint8_t>(e.frame.data()[0]), static_cast<std::uint8_t>(o->seq & 0xff));
  }
  runner.join();
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(result.end, RunEnd::frames_done) << result.message;
  EXPECT_EQ(result.status.processed, 20u);
  EXPECT_EQ(result.status.published, 20u);
  EXPECT_GE(result.status.sets, 20u);
  EXPECT_EQ(stage.attached.size(), 2u);
}

// exit_on_close ends the run once every stream closed, each close said with its stream.
TEST(SetRun, ExitOnCloseEndsTheRunWhenEveryStreamClosed) {
  testkit::StreamGuard a("srun-c-a"), b("srun-c-b");
  SyncReader r({a.name(), b.name()});
  PairStage stage;
  RunOptions opt;
  opt.exit_on_close = true;
  opt.handle_signals = false;
  opt.idle_timeout = 10s;
  const std::uint64_t start = grid_start();
  Camera ca(a.name(), start, 10 * kMs, 0, 30, 64, true), cb(b.name(), start, 10 * kMs, 0, 30, 64, true);
  const RunResult result = run(r, stage, opt);
  EXPECT_EQ(result.end, RunEnd::closed) << result.message;
  std::sort(stage.closed.begin(), stage.closed.end());
  EXPECT_EQ(stage.closed, (std::vector<std::size_t>{0, 1}));
}

// Nothing there: the idle timeout ends the run naming each stream's state; interrupt() stops it.
TEST(SetRun, TimeoutNamesTheMissingStreamsAndInterruptStops) {
  testkit::StreamGuard a("srun-t-a"), b("srun-t-b");
  SyncReader r({a.name(), b.name()});
  PairStage stage;
  RunOptions opt;
  opt.handle_signals = false;
  opt.idle_timeout = 200ms;
  const RunResult timed = run(r, stage, opt);
  EXPECT_EQ(timed.end, RunEnd::timed_out);
  EXPECT_NE(timed.message.find(a.name() + " not found"), std::string::npos) << timed.message;
  opt.idle_timeout = 0ms;
  r.interrupt();
  EXPECT_EQ(run(r, stage, opt).end, RunEnd::stopped);
}

// A processor that throws is logged and counted; the run goes on and its sets are released.
TEST(SetRun, AThrowingSetProcessorIsCountedAndTheRunGoesOn) {
  struct Throws final : SetProcessor {
    int calls = 0;
    bool on_set(std::span<const Input>, Output&) override {
      if (++calls % 2 == 0) throw std::runtime_error("every second set");
      return true;
    }
  };
  testkit::StreamGuard a("srun-x-a"), b("srun-x-b");
  SyncReader r({a.name(), b.name()});
  const std::uint64_t start = grid_start();
  Camera ca(a.name(), start, 10 * kMs, 0, 200), cb(b.name(), start, 10 * kMs, 0, 200);
  Throws stage;
  std::vector<std::string> logged;
  RunOptions opt;
  opt.max_frames = 5;
  opt.handle_signals = false;
  opt.idle_timeout = 10s;
  opt.log = [&](LogLevel, const std::string& m) { logged.push_back(m); };
  const RunResult result = run(r, stage, opt);
  EXPECT_EQ(result.end, RunEnd::frames_done) << result.message;
  EXPECT_EQ(result.status.processed, 5u);
  EXPECT_GE(result.status.errors, 4u);
  EXPECT_TRUE(std::any_of(logged.begin(), logged.end(),
                          [](const std::string& m) { return m.find("every second set") != std::string::npos; }));
}
