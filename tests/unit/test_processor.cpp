// shmframe::run() and the processing interface in one process: dispatch, output stages, the
// origin record, failures of the user's code, and every way a run ends.
#include <gtest/gtest.h>

#include <atomic>
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
      const ParsedMetadata md = parse_metadata(e.frame.metadata());
      ASSERT_TRUE(md.origin);
      seen.push_back(*md.origin);
      seen_md.emplace_back(reinterpret_cast<const char*>(md.user.data()), md.user.size());
      EXPECT_EQ(e.frame.capture_ns(), md.origin->capture_ns);
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
  std::memcpy(buf.data() + kOriginRecordSize, "user", 4);
  const ParsedMetadata p = parse_metadata(buf);
  ASSERT_TRUE(p.origin);
  EXPECT_EQ(p.origin->stream, "cam0");
  EXPECT_EQ(p.origin->seq, 42u);
  EXPECT_EQ(p.origin->generation, 3u);
  EXPECT_EQ(p.origin->capture_ns, 123456789u);
  EXPECT_EQ(p.origin->hops, 2u);
  EXPECT_EQ(p.user.size(), 4u);
  // Corrupt the name length, the magic, or cut it short: no record, all bytes the user's.
  auto broken = buf;
  broken[36] = std::byte{200};
  EXPECT_FALSE(parse_metadata(broken).origin);
  broken = buf;
  broken[0] = std::byte{0};
  EXPECT_FALSE(parse_metadata(broken).origin);
  EXPECT_FALSE(parse_metadata(std::span(buf).first(50)).origin);
  broken = buf;
  broken[40] = std::byte{'/'};  // not a stream name
  EXPECT_FALSE(parse_metadata(broken).origin);
  EXPECT_FALSE(write_origin_record(Origin{std::string(65, 'a'), 1, 1, 1, 1}, buf));
}
