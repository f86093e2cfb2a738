// The apps as a user runs them: shmframe-producer and shmframe-consumer binaries, their
// output, exit codes and error messages.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <set>
#include <shmframe/layout.hpp>
#include <shmframe/shmframe.hpp>

#include "app_process.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;
using testkit::App;
using testkit::Child;
using testkit::kConsumer;
using testkit::kProducer;
using testkit::LinePipe;
using testkit::StreamGuard;

namespace {

std::string crc_of(const cv::Mat& m) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int y = 0; y < m.rows; ++y) crc = crc32(crc, m.ptr(y), static_cast<uInt>(m.cols * m.elemSize()));
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
  return hex;
}

}  // namespace

TEST(Apps, ProbeConsumerStartedFirstReadsTheTestPatternAndProducerClosesOnSigint) {
  StreamGuard g("app-probe");
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--frames", "30", "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--fps", "200", "--width", "320", "--height", "240"});
  auto gen = consumer.event("generation", 10s);
  ASSERT_TRUE(gen) << consumer.errors();
  EXPECT_EQ((*gen)["width"], 320);
  EXPECT_EQ((*gen)["format"], "bgr8");
  std::uint64_t last_seq = 0, last_dropped = 0;
  for (int i = 0; i < 30; ++i) {
    auto f = consumer.event("frame", 10s);
    ASSERT_TRUE(f) << "frame " << i;
    const std::uint64_t seq = (*f)["seq"], dropped = (*f)["dropped"];
    EXPECT_GT(seq, last_seq);
    if (last_seq != 0) {
      EXPECT_EQ(dropped - last_dropped, seq - last_seq - 1);
    }
    EXPECT_EQ((*f)["height"], 240);
    EXPECT_EQ((*f)["generation"], (*gen)["generation"]);
    EXPECT_EQ((*f)["crc32"].get<std::string>().size(), 8u);
    EXPECT_GE((*f)["commit_ns"].get<std::uint64_t>(), (*f)["capture_ns"].get<std::uint64_t>());
    EXPECT_EQ((*f).begin().key(), "event");  // the documented field order
    last_seq = seq;
    last_dropped = dropped;
  }
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
  EXPECT_NE(access(g.path().c_str(), F_OK), 0) << "producer left its segment behind";
}

TEST(Apps, FileSourceFramesArriveExactlyAsOpenCvDecodesThem) {
  StreamGuard g("app-file");
  const std::string path = "/tmp/shmframe-test-" + std::to_string(getpid()) + ".avi";
  struct Unlink {
    std::string p;
    ~Unlink() { ::unlink(p.c_str()); }
  } cleanup{path};
  {
    cv::VideoWriter vw(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, cv::Size(160, 120));
    ASSERT_TRUE(vw.isOpened());
    for (int i = 0; i < 20; ++i) {
      cv::Mat img(120, 160, CV_8UC3, cv::Scalar(i * 10, 255 - i * 10, (i * 37) % 255));
      cv::circle(img, cv::Point(8 * i, 60), 10, cv::Scalar(255, 255, 255), cv::FILLED);
      vw.write(img);
    }
  }
  std::vector<std::string> expected;
  {
    cv::VideoCapture cap(path);
    ASSERT_TRUE(cap.isOpened());
    cv::Mat m;
    while (cap.read(m)) expected.push_back(crc_of(m));
  }
  ASSERT_EQ(expected.size(), 20u);
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--every-frame", "--frames", "20",
                "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--source", "file:" + path, "--fps", "50", "--slots", "32"});
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto f = consumer.event("frame", 10s);
    ASSERT_TRUE(f) << consumer.errors();
    const std::uint64_t seq = (*f)["seq"];
    ASSERT_GE(seq, 1u);
    ASSERT_LE(seq, expected.size());
    EXPECT_EQ((*f)["crc32"], expected[seq - 1]) << "frame " << seq << " differs from the decoded file";
    EXPECT_EQ((*f)["width"], 160);
  }
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  EXPECT_EQ(producer.proc->exit_code(10s), 0) << "producer must exit 0 at the end of the file";
}

TEST(Apps, ConsumerFollowsAProducerRestartWithoutRestarting) {
  StreamGuard g("app-restart");
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--timeout-ms", "30000"});
  auto first = std::make_unique<App>(
      std::vector<std::string>{kProducer, "--name", g.name(), "--fps", "100", "--heartbeat-ms", "50"});
  auto gen1 = consumer.event("generation", 10s);
  ASSERT_TRUE(gen1);
  ASSERT_TRUE(consumer.event("frame", 10s));
  first->proc->kill_and_reap(SIGKILL);
  auto lost = consumer.event("producer_lost", 10s);
  ASSERT_TRUE(lost) << consumer.errors();
  App second({kProducer, "--name", g.name(), "--fps", "100"});
  auto gen2 = consumer.event("generation", 10s);
  ASSERT_TRUE(gen2) << consumer.errors();
  EXPECT_EQ((*gen2)["generation"].get<std::uint64_t>(), (*gen1)["generation"].get<std::uint64_t>() + 1);
  auto f = consumer.event("frame", 10s);
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)["generation"], (*gen2)["generation"]);
  EXPECT_GE((*f)["seq"].get<std::uint64_t>(), 1u);
}

TEST(Apps, ConsumerExitsAtOnceWhenTheStreamSpeaksAnotherAbi) {
  StreamGuard g("app-abi");
  {
    const std::string obj = shmframe::detail::segment_object(g.name());
    int fd = shm_open(obj.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    shmframe::layout::SegmentHeader h{};
    h.magic = shmframe::layout::kMagic;
    h.abi_version = 99;
    h.header_size = sizeof h;
    h.state = static_cast<std::uint32_t>(shmframe::layout::State::ready);
    ASSERT_EQ(ftruncate(fd, 65536), 0);
    ASSERT_EQ(pwrite(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
    close(fd);
  }
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe"});
  EXPECT_EQ(consumer.proc->exit_code(5s), 1);
  const std::string err = consumer.errors();
  EXPECT_NE(err.find("ABI version 99"), std::string::npos) << err;
  EXPECT_NE(err.find("rebuild"), std::string::npos) << err;
}

TEST(Apps, ConsumerTimeoutGivesUpAndSaysWhy) {
  StreamGuard g("app-timeout");
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--timeout-ms", "300"});
  EXPECT_EQ(consumer.proc->exit_code(5s), 3);
  const std::string err = consumer.errors();
  EXPECT_NE(err.find("no frame from stream '" + g.name() + "' for 300 ms"), std::string::npos) << err;
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
}

TEST(Apps, BadArgumentsAreRefusedWithAReason) {
  struct Case {
    std::vector<std::string> args;
    int code;
    const char* says;
  };
  const Case cases[] = {
      {{kProducer, "--name", "a/b"}, 2, "letters"},
      {{kProducer, "--format", "yuv420"}, 2, "--format"},
      {{kProducer, "--mode", "0644x"}, 2, "octal"},
      {{kProducer, "--mode", "0400"}, 2, "owner read+write"},
      {{kProducer, "--slots", "0"}, 2, "--slots"},
      {{kProducer, "--width", "640"}, 2, "both"},
      {{kProducer, "--name", "app-bad-src", "--source", "file:/nonexistent/x.avi"}, 1, "cannot open"},
      {{kProducer, "--name", "app-bad-src", "--source", "tv"}, 1, "unknown source"},
      {{kConsumer, "--processor", "nope"}, 2, "--processor"},
      {{kConsumer, "--name", ""}, 2, "1 to 64"},
      // Issue 10: an empty --name= took the next option as the stream name and waited forever.
      {{kConsumer, "--name=", "--status"}, 2, "looks like an option"},
      {{kConsumer, "--name", "--status"}, 2, "looks like an option"},
      {{kProducer, "--name=", "--fps", "10"}, 2, "looks like an option"},
      {{kConsumer, "--lossless", "--access", "read-only"}, 2, "write access"},
      {{kConsumer, "--access", "readonly"}, 2, "--access"},
      {{kConsumer, "--expect-owner", "no-such-user-here"}, 2, "neither a uid nor a user"},
      {{kProducer, "--phase-offset-ms", "5"}, 2, "--phase-lock"},
      {{kProducer, "--name", "app-bad-phase", "--phase-lock", "--fps", "0"}, 2, "--fps > 0"},
      {{kProducer, "--name", "app-bad-phase", "--phase-lock", "--fps", "30", "--phase-offset-ms", "40"},
       2,
       "not shorter than the frame period"},
  };
  for (const auto& c : cases) {
    App app(c.args);
    EXPECT_EQ(app.proc->exit_code(10s), c.code) << c.args.back();
    const std::string err = app.errors() + [&] {
      std::string o;
      while (auto l = app.out->recv(50ms)) o += *l + "\n";
      return o;
    }();
    EXPECT_NE(err.find(c.says), std::string::npos) << c.args.back() << ": " << err;
  }
}

TEST(Apps, SecondProducerAppIsRefusedNamingTheOwner) {
  StreamGuard g("app-owned");
  App first({kProducer, "--name", g.name(), "--fps", "50"});
  App watcher({kConsumer, "--name", g.name(), "--processor", "probe", "--frames", "1", "--timeout-ms", "10000"});
  ASSERT_TRUE(watcher.event("frame", 10s));  // first is up
  App second({kProducer, "--name", g.name()});
  EXPECT_EQ(second.proc->exit_code(10s), 1);
  const std::string err = second.errors();
  EXPECT_NE(err.find("already produced by pid " + std::to_string(first.proc->pid())), std::string::npos) << err;
  first.proc->signal(SIGTERM);
  EXPECT_EQ(first.proc->exit_code(10s), 0);
}

TEST(Apps, ProducerFramesCountExitsZeroAndTheConsumerSeesTheClose) {
  StreamGuard g("app-count");
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--every-frame", "--exit-on-close",
                "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--frames", "25", "--fps", "100", "--slots", "32"});
  EXPECT_EQ(producer.proc->exit_code(20s), 0);
  std::uint64_t last = 0;
  for (;;) {
    auto l = consumer.out->recv(10s);
    ASSERT_TRUE(l) << "no closed event";
    json j = json::parse(*l);
    if (j["event"] == "frame") last = j["seq"];
    if (j["event"] == "closed") break;
  }
  EXPECT_EQ(last, 25u) << "the 25th frame is the last one committed";
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  EXPECT_NE(access(g.path().c_str(), F_OK), 0);
}

TEST(Apps, StatsProcessorPrintsALiveLineEverySecond) {
  StreamGuard g("app-stats");
  App producer({kProducer, "--name", g.name(), "--fps", "50"});
  App consumer({kConsumer, "--name", g.name(), "--processor", "stats"});
  ASSERT_TRUE(consumer.out->recv_prefix("attached to '" + g.name() + "'", 10s));
  auto line = consumer.out->recv_prefix(g.name() + " gen ", 10s);  // first full one-second window
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("fps"), std::string::npos) << *line;
  EXPECT_NE(line->find("latency p50"), std::string::npos) << *line;
  EXPECT_NE(line->find("drops"), std::string::npos) << *line;
  consumer.proc->signal(SIGINT);
  EXPECT_EQ(consumer.proc->exit_code(10s), 0) << "Ctrl-C must end the consumer cleanly";
  producer.proc->signal(SIGTERM);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}

namespace {

// One producer run of the test pattern into a fresh stream, watched by a probe consumer that
// takes every frame: the stream's generation event and the crc32 of each seq it saw.
struct ProbeRun {
  json generation;
  std::map<std::uint64_t, std::string> crc;
};
ProbeRun probe_every_frame(const std::vector<std::string>& producer_args, int frames) {
  ProbeRun run;
  StreamGuard g("app-crc");
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--every-frame", "--exit-on-close",
                "--timeout-ms", "20000"});
  std::vector<std::string> args{kProducer, "--name", g.name(),  "--frames", std::to_string(frames),
                                "--fps",   "50",     "--slots", "32"};
  args.insert(args.end(), producer_args.begin(), producer_args.end());
  App producer(args);
  auto gen = consumer.event("generation", 10s);
  EXPECT_TRUE(gen) << consumer.errors();
  if (!gen) return run;
  run.generation = *gen;
  for (;;) {
    auto l = consumer.out->recv(10s);
    if (!l) {
      ADD_FAILURE() << "no closed event; stderr: " << consumer.errors();
      break;
    }
    json j = json::parse(*l);
    if (j["event"] == "frame") run.crc[j["seq"].get<std::uint64_t>()] = j["crc32"].get<std::string>();
    if (j["event"] == "closed") break;
  }
  EXPECT_EQ(producer.proc->exit_code(20s), 0) << producer.errors();
  EXPECT_EQ(consumer.proc->exit_code(10s), 0) << consumer.errors();
  return run;
}

}  // namespace

// --phase-lock: every frame is captured (and stamped) on the grid of the period on
// CLOCK_MONOTONIC, shifted by --phase-offset-ms: what lets two producers capture together.
TEST(Apps, PhaseLockedFramesAreCapturedOnTheGrid) {
  StreamGuard g("app-phase");
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--every-frame", "--exit-on-close",
                "--timeout-ms", "20000"});
  App producer(
      {kProducer, "--name", g.name(), "--fps", "50", "--frames", "10", "--phase-lock", "--phase-offset-ms", "7.5"});
  const std::uint64_t period = 20'000'000, offset = 7'500'000;
  int frames = 0;
  while (auto l = consumer.out->recv(10s)) {
    const json j = json::parse(*l);
    if (j["event"] == "closed") break;
    if (j["event"] != "frame") continue;
    ++frames;
    const auto capture = j["capture_ns"].get<std::uint64_t>();
    EXPECT_EQ((capture - offset) % period, 0u) << "seq " << j["seq"] << " captured at " << capture;
  }
  EXPECT_EQ(frames, 10) << consumer.errors();
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
  const std::string log = producer.errors();
  EXPECT_NE(log.find("phase-locked"), std::string::npos) << log;
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
}

// The test pattern is a function of the frame number (producer/sources.cpp: a fixed gradient,
// a bar at x = seq % width, the text "shmframe #seq"), and the probe's crc32 covers the visible
// bytes of each row only; so the same seq has the same crc32 whether rows are padded or not.
TEST(Apps, PaddedRowsCarryTheSamePixelsAsTightOnes) {
  const int frames = 20;
  const std::vector<std::string> format{"--width", "30", "--height", "8", "--format", "bgr8"};
  std::vector<std::string> padded_args = format;
  padded_args.insert(padded_args.end(), {"--stride-align", "64"});
  const ProbeRun tight = probe_every_frame(format, frames);
  const ProbeRun padded = probe_every_frame(padded_args, frames);
  ASSERT_FALSE(tight.generation.is_null());
  ASSERT_FALSE(padded.generation.is_null());
  EXPECT_EQ(tight.generation["stride"], 90);    // 30 * 3, tight
  EXPECT_EQ(padded.generation["stride"], 128);  // 90 rounded up to a multiple of 64
  EXPECT_EQ(padded.generation["width"], 30);
  // Late attaches may miss the first frames; most seqs must be in both runs.
  std::size_t compared = 0;
  std::set<std::string> distinct;
  for (const auto& [seq, crc] : padded.crc) {
    auto t = tight.crc.find(seq);
    if (t == tight.crc.end()) continue;
    ++compared;
    distinct.insert(crc);
    EXPECT_EQ(crc, t->second) << "seq " << seq << ": padded and tight frames differ";
  }
  EXPECT_GE(compared, static_cast<std::size_t>(frames / 2)) << "too few frames seen by both probes";
  EXPECT_GT(distinct.size(), 1u) << "every frame had the same crc: the comparison proves nothing";
  ASSERT_FALSE(padded.crc.empty());
  EXPECT_EQ(padded.crc.rbegin()->first, static_cast<std::uint64_t>(frames));
}

// Issue 10, integrity: the producer's test pattern is the library's pure function of (seq,
// format), so `--verify` checks every frame end to end. Each frame object says "pattern_ok";
// every format, padded rows included, passes.
TEST(Apps, VerifyChecksEveryFrameOfTheTestPattern) {
  for (const char* format : {"bgr8", "gray8", "rgb8", "bgra8"}) {
    StreamGuard g(std::string("app-verify-") + format);
    App consumer(
        {kConsumer, "--name", g.name(), "--processor", "probe", "--verify", "--frames", "15", "--timeout-ms", "20000"});
    App producer({kProducer, "--name", g.name(), "--fps", "100", "--width", "321", "--height", "67", "--format", format,
                  "--stride-align", "64"});
    int frames = 0;
    while (auto f = consumer.event("frame", 10s)) {
      ++frames;
      EXPECT_TRUE(f->value("pattern_ok", false)) << format << ": " << f->dump();
      if (frames == 15) break;
    }
    EXPECT_EQ(frames, 15) << format;
    EXPECT_EQ(consumer.proc->exit_code(10s), 0) << format << consumer.errors();
    producer.proc->signal(SIGTERM);
    EXPECT_EQ(producer.proc->exit_code(10s), 0);
  }
}

// A stream that is not the test pattern (here the protocol tests' own pattern): every frame is
// reported with where it first differs, and the consumer exits 4 naming the count.
TEST(Apps, VerifyReportsMismatchesAndExitsNonZero) {
  StreamGuard g("app-verify-bad");
  App consumer(
      {kConsumer, "--name", g.name(), "--processor", "probe", "--verify", "--frames", "5", "--timeout-ms", "20000"});
  Child producer([&] {
    shmframe::Writer w(g.name(), testkit::small_options());
    for (std::uint64_t n = 0; n < 2000; ++n) {
      shmframe::WriteSlot s = w.acquire();
      testkit::fill_pattern(s.data(), w.format().frame_bytes(), s.seq());
      (void)w.commit(s, shmframe::monotonic_ns());
      std::this_thread::sleep_for(5ms);  // the stream's frame period
    }
    return 0;
  });
  auto f = consumer.event("frame", 10s);
  ASSERT_TRUE(f) << consumer.errors();
  EXPECT_FALSE(f->value("pattern_ok", true)) << f->dump();
  ASSERT_TRUE(f->contains("mismatch")) << f->dump();
  EXPECT_EQ((*f)["mismatch"]["y"], 0);
  EXPECT_EQ(consumer.proc->exit_code(20s), 4);
  EXPECT_NE(consumer.errors().find("differed from the test pattern"), std::string::npos);
  producer.kill_and_reap(SIGKILL);
}

// Issue 22: a run with mismatches that then ends on an error (here: no frame for the timeout)
// reports both; before, the exit 4 of the mismatch hid the error. The error's code wins (3).
TEST(Apps, VerifyReportsAMismatchAndTheErrorThatEndedTheRun) {
  StreamGuard g("app-verify-both");
  LinePipe done;
  Child producer([&] {
    shmframe::Writer w(g.name(), testkit::small_options());
    for (std::uint64_t n = 0; n < 3; ++n) {
      shmframe::WriteSlot s = w.acquire();
      testkit::fill_pattern(s.data(), w.format().frame_bytes(), s.seq());
      (void)w.commit(s, shmframe::monotonic_ns());
    }
    done.send("committed");
    pause();  // alive, and silent: the consumer times out
    return 0;
  });
  ASSERT_TRUE(done.recv(10s));
  App consumer(
      {kConsumer, "--name", g.name(), "--processor", "probe", "--verify", "--frames", "50", "--timeout-ms", "1500"});
  const int rc = consumer.proc->exit_code(20s);
  const std::string err = consumer.errors();
  EXPECT_EQ(rc, 3) << err;
  EXPECT_NE(err.find("differed from the test pattern"), std::string::npos) << err;
  EXPECT_NE(err.find("no frame from stream"), std::string::npos) << err;
  producer.kill_and_reap(SIGKILL);
}

// The producer draws each frame's own seq, which restarts at 1 in a new generation: a stream
// whose producer had to make a new generation (here: its segment truncated under it) still
// verifies frame by frame. (The first version drew the producer's frame count and failed here.)
TEST(Apps, VerifyHoldsAcrossANewGenerationAfterATruncation) {
  StreamGuard g("app-verify-trunc");
  App producer({kProducer, "--name", g.name(), "--fps", "100", "--width", "160", "--height", "120"});
  App consumer({kConsumer, "--name", g.name(), "--processor", "probe", "--verify", "--timeout-ms", "20000"});
  auto first = consumer.event("frame", 10s);
  ASSERT_TRUE(first) << consumer.errors();
  const auto g1 = (*first)["generation"].get<std::uint64_t>();
  ASSERT_EQ(truncate(g.path().c_str(), 0), 0);
  int later = 0;
  while (auto f = consumer.event("frame", 10s)) {
    EXPECT_TRUE(f->value("pattern_ok", false)) << f->dump();
    if ((*f)["generation"].get<std::uint64_t>() != g1 && ++later == 20) break;
  }
  EXPECT_EQ(later, 20) << "the consumer did not follow the new generation: " << consumer.errors();
  consumer.proc->signal(SIGINT);
  EXPECT_EQ(consumer.proc->exit_code(10s), 0) << consumer.errors();
  producer.proc->signal(SIGTERM);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}

// Issue 10: an untrusted viewer gets read access only. Another user (uid 65534, through
// setpriv) reads a 0644 stream: the consumer app attaches read-only by itself, verifies every
// frame, and leaves no consumer entry behind it (--status lists none while it runs).
TEST(Apps, AnotherUserReadsA0644StreamReadOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is missing";
  StreamGuard g("app-readonly");
  App producer({kProducer, "--name", g.name(), "--fps", "100", "--mode", "0644"});
  App consumer({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kConsumer, "--name", g.name(),
                "--processor", "probe", "--verify", "--frames", "20", "--timeout-ms", "20000", "-v"});
  auto f = consumer.event("frame", 20s);
  ASSERT_TRUE(f) << consumer.errors();
  App status({kConsumer, "--name", g.name(), "--status"});
  ASSERT_EQ(status.proc->exit_code(10s), 0);
  std::string text;
  while (auto l = status.out->recv(200ms)) text += *l;
  const json st = json::parse(text);
  ASSERT_TRUE(st.is_array() && st.size() == 1) << text;
  EXPECT_TRUE(st[0]["consumers"].empty()) << "a read-only consumer owns no entry: " << text;
  int frames = 1;
  while (frames < 20 && (f = consumer.event("frame", 10s))) {
    EXPECT_TRUE(f->value("pattern_ok", false)) << f->dump();
    ++frames;
  }
  EXPECT_EQ(frames, 20);
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  EXPECT_NE(consumer.errors().find("read-only"), std::string::npos) << "the consumer did not say it is read-only";
  producer.proc->signal(SIGTERM);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}
