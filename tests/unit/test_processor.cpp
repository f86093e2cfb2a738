// shmframe::run() and the processing interface in one process: dispatch, output stages, the
// origin record, failures of the user's code, and every way a run ends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <shmframe/shmframe.hpp>
#include <stdexcept>
#include <thread>

#include "testkit.hpp"

using namespace std::chrono_literals;
using namespace shmframe;

namespace {

RunOptions quiet() {
  RunOptions o;
  o.handle_signals = false;
  o.idle_timeout = 20s;  // a bound for every run below; none should get near it
  return o;
}

// Publishes frames 1..n (pattern pixels) with a little metadata, from its own thread.
class Feeder {
 public:
  Feeder(const std::string& name, std::uint64_t n, std::chrono::milliseconds period = 2ms)
      : w_(name, testkit::small_options({.slots = 3})) {
    t_ = std::thread([this, n, period] {
      for (std::uint64_t s = 1; s <= n && !stop_; ++s) {
        WriteSlot slot = w_.acquire();
        if (!slot) return;
        testkit::fill_pattern(slot.data(), slot.format().frame_bytes(), s);
        const std::byte md[3] = {std::byte{'m'}, std::byte{'d'}, static_cast<std::byte>(s)};
        (void)w_.commit(slot, monotonic_ns(), md);
        std::this_thread::sleep_for(period);  // the camera's frame period, not synchronization
      }
    });
  }
  ~Feeder() {
    stop_ = true;
    t_.join();
  }
  Writer& writer() { return w_; }

 private:
  Writer w_;
  std::atomic<bool> stop_{false};
  std::thread t_;
};

struct Recorder : Processor {
  std::vector<std::uint64_t> seqs;
  std::vector<Origin> origins;
  std::vector<std::string> metadata;
  int attached = 0, closed = 0, idles = 0;
  std::function<void(const Input&, Output&)> extra;
  void on_attached(const StreamInfo&) override { ++attached; }
  bool on_frame(const Input& in, Output& out) override {
    EXPECT_TRUE(testkit::check_pattern(in.data(), in.format().frame_bytes(), in.seq()) || !in.still_valid());
    seqs.push_back(in.seq());
    origins.push_back(in.origin());
    metadata.emplace_back(reinterpret_cast<const char*>(in.metadata().data()), in.metadata().size());
    if (extra) extra(in, out);
    return in.still_valid();
  }
  void on_closed(std::uint64_t) override { ++closed; }
  void on_idle(const RunStatus&) override { ++idles; }
};

}  // namespace

TEST(Processor, RunDeliversFramesWithTheStreamAsTheirOriginAndStopsAfterMaxFrames) {
  testkit::StreamGuard g("proc-basic");
  Feeder f(g.name(), 1000);
  Reader r(g.name());
  Recorder p;
  RunOptions o = quiet();
  o.max_frames = 10;
  const RunResult res = run(r, p, o);
  EXPECT_EQ(res.end, RunEnd::frames_done) << res.message;
  EXPECT_EQ(res.status.processed, 10u);
  ASSERT_EQ(p.seqs.size(), 10u);
  EXPECT_EQ(p.attached, 1);
  for (std::size_t i = 0; i < p.seqs.size(); ++i) {
    EXPECT_EQ(p.origins[i].stream, g.name());
    EXPECT_EQ(p.origins[i].seq, p.seqs[i]);
    EXPECT_EQ(p.origins[i].hops, 0u);
    EXPECT_EQ(p.metadata[i].substr(0, 2), "md");  // no record: all of it is the user's
  }
}

TEST(Processor, AStageCarriesTheOriginAndTheUsersMetadataToItsOutput) {
  testkit::StreamGuard in("proc-in"), out("proc-out");
  Feeder f(in.name(), 1000);
  Reader r(in.name());
  Recorder stage;
  stage.extra = [](const Input& i, Output& o) {
    ASSERT_TRUE(o.enabled());
    // A new format for the output (the stage's choice): gray8 of half the width.
    const OutputBuffer b = o.acquire(FrameFormat{i.width() / 2, i.height(), PixelFormat::gray8, 0});
    ASSERT_TRUE(b);
    for (std::uint32_t y = 0; y < i.height(); ++y) std::memcpy(b.row(y), i.row(y), b.format.row_bytes());
    const std::byte md[2] = {std::byte{'o'}, std::byte{'k'}};
    EXPECT_TRUE(o.commit(md));
  };
  RunOptions o = quiet();
  o.max_frames = 20;
  o.output = out.name();
  Reader downstream(out.name());
  std::vector<Origin> seen;
  std::vector<std::string> seen_md;
  std::thread consumer([&] {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (seen.size() < 5 && std::chrono::steady_clock::now() < deadline) {
      Event e = downstream.wait(200ms);
      if (e.kind != EventKind::frame) continue;
      EXPECT_EQ(e.frame.format().pixel_format, PixelFormat::gray8);
      const std::optional<Origin> origin = e.frame.origin();
      ASSERT_TRUE(origin);
      seen.push_back(*origin);
      seen_md.emplace_back(reinterpret_cast<const char*>(e.frame.metadata().data()), e.frame.metadata().size());
      EXPECT_EQ(e.frame.capture_ns(), origin->capture_ns);
    }
  });
  const RunResult res = run(r, stage, o);
  consumer.join();
  EXPECT_EQ(res.end, RunEnd::frames_done) << res.message;
  EXPECT_EQ(res.status.published, 20u);
  ASSERT_GE(seen.size(), 5u);
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].stream, in.name());
    EXPECT_EQ(seen[k].hops, 1u);
    EXPECT_GE(seen[k].seq, 1u);
    EXPECT_EQ(seen_md[k], "ok");
  }
}

TEST(Processor, AThrowingProcessorIsCountedAndTheRunGoesOn) {
  testkit::StreamGuard g("proc-throw");
  Feeder f(g.name(), 1000);
  Reader r(g.name());
  Recorder p;
  int calls = 0;
  p.extra = [&calls](const Input&, Output&) {
    if (++calls % 2 == 0) throw std::runtime_error("boom");
  };
  std::vector<std::string> logged;
  RunOptions o = quiet();
  o.max_frames = 5;
  o.log = [&logged](LogLevel, const std::string& m) { logged.push_back(m); };
  const RunResult res = run(r, p, o);
  EXPECT_EQ(res.end, RunEnd::frames_done);
  EXPECT_EQ(res.status.processed, 5u);
  EXPECT_GE(res.status.errors, 4u);
  ASSERT_FALSE(logged.empty());
  EXPECT_NE(logged.front().find("boom"), std::string::npos) << logged.front();
}

TEST(Processor, RunEndsOnCloseStopAndTimeout) {
  {
    testkit::StreamGuard g("proc-close");
    auto feeder = std::make_unique<Feeder>(g.name(), 5);
    Reader r(g.name());
    r.attach(5s);  // before the close, so that the run sees it
    Recorder p;
    RunOptions o = quiet();
    o.exit_on_close = true;
    std::thread closer([&] {
      feeder.reset();  // joins after 5 frames, then the Writer closes the stream
    });
    const RunResult res = run(r, p, o);
    closer.join();
    EXPECT_EQ(res.end, RunEnd::closed) << res.message;
    EXPECT_EQ(p.closed, 1);
  }
  {
    testkit::StreamGuard g("proc-stop");
    Reader r(g.name());
    Recorder p;
    std::atomic<bool> stop{true};
    RunOptions o = quiet();
    o.stop = &stop;
    EXPECT_EQ(run(r, p, o).end, RunEnd::stopped);
  }
  {
    testkit::StreamGuard g("proc-timeout");
    Reader r(g.name());
    Recorder p;
    RunOptions o = quiet();
    o.idle_timeout = 300ms;
    o.idle_period = 100ms;
    const RunResult res = run(r, p, o);
    EXPECT_EQ(res.end, RunEnd::timed_out);
    EXPECT_NE(res.message.find("does not exist"), std::string::npos) << res.message;
    EXPECT_GE(p.idles, 1);
  }
}

TEST(Processor, AnOutputNameOwnedByAnotherProducerEndsTheRunWithAnError) {
  testkit::StreamGuard in("proc-own-in"), out("proc-own-out");
  Feeder f(in.name(), 1000);
  Writer squatter(out.name(), testkit::small_options());
  Reader r(in.name());
  Recorder p;
  p.extra = [](const Input& i, Output& o) { (void)o.acquire(i.format()); };
  RunOptions o = quiet();
  o.output = out.name();
  const RunResult res = run(r, p, o);
  EXPECT_EQ(res.end, RunEnd::error);
  EXPECT_NE(res.message.find(out.name()), std::string::npos) << res.message;
}

TEST(Processor, OriginRecordsRoundTripAndGarbageIsNotARecord) {
  Origin o{"cam0", 42, 3, 123456789, 2};
  std::vector<std::byte> buf(kOriginRecordSize + 4);
  ASSERT_TRUE(write_origin_record(o, buf));
  const std::optional<Origin> p = read_origin_record(buf);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->stream, "cam0");
  EXPECT_EQ(p->seq, 42u);
  EXPECT_EQ(p->generation, 3u);
  EXPECT_EQ(p->capture_ns, 123456789u);
  EXPECT_EQ(p->hops, 2u);
  // Corrupt the name length, the magic, or cut it short: not a record.
  auto broken = buf;
  broken[36] = std::byte{200};
  EXPECT_FALSE(read_origin_record(broken));
  broken = buf;
  broken[0] = std::byte{0};
  EXPECT_FALSE(read_origin_record(broken));
  EXPECT_FALSE(read_origin_record(std::span(buf).first(50)));
  broken = buf;
  broken[40] = std::byte{'/'};  // not a stream name
  EXPECT_FALSE(read_origin_record(broken));
  EXPECT_FALSE(write_origin_record(Origin{std::string(65, 'a'), 1, 1, 1, 1}, buf));
  EXPECT_FALSE(write_origin_record(Origin{"a/b", 1, 1, 1, 1}, buf));
}

// The record is found by the slot's flag (ABI 7), never by its look: a producer's own metadata
// that happens to be a valid record stays the user's, and the frame is its own origin. A commit
// with an origin is flagged; one that does not fit the capacity, or names no stream, is refused.
TEST(Processor, OnlyAFlaggedFrameHasAnOrigin) {
  testkit::StreamGuard g("origin-flag");
  WriterOptions wo = testkit::small_options({});
  wo.metadata_capacity = static_cast<std::uint32_t>(kOriginRecordSize + 8);
  Writer w(g.name(), wo);
  Reader r(g.name(), [] {
    ReaderOptions ro;
    ro.delivery = Delivery::every_frame;
    return ro;
  }());
  r.attach(2s);
  std::vector<std::byte> lookalike(kOriginRecordSize);
  ASSERT_TRUE(write_origin_record(Origin{"cam0", 7, 1, 1, 1}, lookalike));
  const std::vector<std::byte> pixels(w.format().frame_bytes());
  const ImageView img{pixels.data(), w.format().row_bytes(), w.format().width, w.format().height,
                      bytes_per_pixel(w.format().pixel_format)};
  ASSERT_TRUE(w.publish(img, 5, lookalike));  // the user's bytes, not a record
  const Origin origin{"cam0", 9, 4, 3, 2};
  const std::byte user[8] = {std::byte{'u'}};
  ASSERT_TRUE(w.publish(img, 6, user, &origin));
  EXPECT_EQ(w.publish(img, 6, std::span(lookalike).first(9), &origin).status, CommitStatus::metadata_too_large);
  const Origin bad{"a/b", 1, 1, 1, 1};
  EXPECT_EQ(w.publish(img, 6, {}, &bad).status, CommitStatus::bad_origin);
  Event e = r.wait(2s);
  ASSERT_EQ(e.kind, EventKind::frame);
  EXPECT_FALSE(e.frame.origin()) << "metadata that looks like a record was taken for one";
  EXPECT_EQ(e.frame.metadata().size(), kOriginRecordSize);
  e = r.wait(2s);
  ASSERT_EQ(e.kind, EventKind::frame);
  const std::optional<Origin> got = e.frame.origin();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->stream, "cam0");
  EXPECT_EQ(got->seq, 9u);
  EXPECT_EQ(got->hops, 2u);
  EXPECT_EQ(e.frame.metadata().size(), 8u);
  EXPECT_EQ(e.frame.metadata()[0], std::byte{'u'});
}

namespace {
// A processor that says when its run() is inside its loop (its first on_idle).
struct Idler : Processor {
  std::atomic<bool> idled{false};
  bool on_frame(const Input&, Output&) override { return true; }
  void on_idle(const RunStatus&) override { idled = true; }
};
}  // namespace

TEST(Processor, InterruptingTheReaderStopsARunAtOnce) {
  // The best of three runs, each stopped from another thread while it waits for a stream that
  // does not exist: a stop that is seen only between events (up to idle_period, 1 s) fails.
  testkit::StreamGuard g("proc-interrupt");
  auto best = std::chrono::steady_clock::duration::max();
  for (int i = 0; i < 3; ++i) {
    Reader r(g.name());
    Idler p;
    RunOptions o = quiet();
    o.idle_period = 10ms;  // only to learn that the loop runs
    std::atomic<std::int64_t> stopped_at{0};
    std::thread stopper([&] {
      ASSERT_TRUE(testkit::wait_until([&] { return p.idled.load(); }, 5s));
      stopped_at = std::chrono::steady_clock::now().time_since_epoch().count();
      r.interrupt();
    });
    const RunResult res = run(r, p, o);
    const auto end = std::chrono::steady_clock::now();
    stopper.join();
    EXPECT_EQ(res.end, RunEnd::stopped) << res.message;
    best = std::min(best, end - std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(stopped_at)));
  }
  EXPECT_LT(best, 20ms);
}

namespace {
std::atomic<int> g_own_sigint{0};
void own_sigint(int) { ++g_own_sigint; }
}  // namespace

TEST(Processor, ASignalStopsEveryConcurrentRunAndTheLastRestoresTheHandler) {
  struct sigaction mine {
  }, old{};
  mine.sa_handler = own_sigint;
  sigemptyset(&mine.sa_mask);
  ASSERT_EQ(sigaction(SIGINT, &mine, &old), 0);
  testkit::StreamGuard a("proc-sig-a"), b("proc-sig-b");
  Reader ra(a.name()), rb(b.name());
  Idler pa, pb;
  RunOptions o = quiet();
  o.handle_signals = true;
  o.idle_period = 10ms;
  RunResult res_a, res_b;
  std::thread ta([&] { res_a = run(ra, pa, o); });
  std::thread tb([&] { res_b = run(rb, pb, o); });
  // Both runs are in their loops, their handler in place: one SIGINT for the process.
  const bool both = testkit::wait_until([&] { return pa.idled.load() && pb.idled.load(); }, 5s);
  EXPECT_TRUE(both);
  const auto t0 = std::chrono::steady_clock::now();
  kill(getpid(), SIGINT);
  ta.join();
  tb.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(res_a.end, RunEnd::stopped) << res_a.message;
  EXPECT_EQ(res_b.end, RunEnd::stopped) << res_b.message;
  EXPECT_EQ(g_own_sigint.load(), 0) << "the signal reached the handler run() replaced";
  // The handler in place before the runs is back once both have ended.
  struct sigaction now {};
  ASSERT_EQ(sigaction(SIGINT, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, own_sigint);
  sigaction(SIGINT, &old, nullptr);
}

namespace {
// An object at the stream's name of `bytes` bytes of `fill`, mode 0600: debris (zeros: never
// READY, no creator) or not a shmframe segment at all (anything else).
void plant(const std::string& stream, char fill, std::size_t bytes = 4096) {
  const std::string path = "/dev/shm/shmframe." + stream;
  const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  const std::string data(bytes, fill);
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(fd);
}
}  // namespace

TEST(Processor, ARunSurvivesAnErrorThatWaitingCuresAndEndsOnAFatalOne) {
  {
    // Never READY, no creator: init_timeout every ready_timeout, not fatal; the producer that
    // replaces the object is followed.
    testkit::StreamGuard g("proc-transient");
    plant(g.name(), '\0');
    ReaderOptions ro;
    ro.ready_timeout = 100ms;
    Reader r(g.name(), ro);
    Recorder p;
    RunOptions o = quiet();
    o.max_frames = 3;
    RunResult res;
    std::thread t([&] { res = run(r, p, o); });
    EXPECT_TRUE(testkit::wait_until([&] { return r.stats().init_failures >= 2; }, 10s));
    {
      Feeder f(g.name(), 1000);
      t.join();
    }
    EXPECT_EQ(res.end, RunEnd::frames_done) << res.message;
    EXPECT_EQ(p.seqs.size(), 3u);
  }
  {
    // Not a shmframe segment: fatal, the run ends with the error.
    testkit::StreamGuard g("proc-fatal");
    plant(g.name(), 'x');
    Reader r(g.name());
    Recorder p;
    const RunResult res = run(r, p, quiet());
    EXPECT_EQ(res.end, RunEnd::error);
    EXPECT_NE(res.message.find("not a shmframe segment"), std::string::npos) << res.message;
  }
}

// Issue 22: a stage that does not check its input publishes nothing computed from pixels that
// changed under it. The input is force-overwritten in the middle of on_frame() (another consumer
// holds the only other slot); the processor commits its result anyway and reports success; run()
// refuses the result at commit() and counts the frame as discarded.
TEST(Processor, AResultReadFromAnOverwrittenInputIsNeverPublished) {
  testkit::StreamGuard in("proc-torn-in"), out("proc-torn-out");
  Writer w(in.name(), testkit::small_options({.slots = 2}));
  const auto put = [&w](std::uint64_t seq) {
    WriteSlot slot = w.acquire();
    ASSERT_TRUE(slot);
    testkit::fill_pattern(slot.data(), slot.format().frame_bytes(), seq);
    ASSERT_TRUE(w.commit(slot, monotonic_ns()));
  };
  put(1);
  Reader r(in.name());
  Reader hog(in.name());
  hog.attach(1s);
  Frame hogged;
  bool committed = true;
  bool overwritten = false;
  Recorder stage;
  stage.extra = [&](const Input& i, Output& o) {
    const OutputBuffer b = o.acquire(i.format());
    ASSERT_TRUE(b);
    put(2);
    hogged = hog.read(2);  // every slot held now: ours (frame 1) and the hog's
    ASSERT_TRUE(hogged.held());
    put(3);  // forced: the oldest held slot, our input
    overwritten = !i.still_valid();
    committed = o.commit();
    r.interrupt();
  };
  RunOptions o = quiet();
  o.output = out.name();
  const RunResult res = run(r, stage, o);
  EXPECT_EQ(res.end, RunEnd::stopped) << res.message;
  ASSERT_TRUE(overwritten) << "the setup must overwrite the input (forced_overwrites " << w.stats().forced_overwrites
                           << ")";
  EXPECT_FALSE(committed) << "commit() published a result computed from an overwritten input";
  EXPECT_EQ(res.status.published, 0u);
  EXPECT_EQ(res.status.discarded, 1u);
  EXPECT_EQ(res.status.processed, 0u);
}
