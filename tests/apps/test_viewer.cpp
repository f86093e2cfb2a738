// shmframe-viewer as a user runs it: --snapshot pixels against the producer's test pattern,
// the headless banners through a producer's life (start, SIGKILL, restart at another size,
// clean close), bad input, and a real X window under Xvfb read back with xwd.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <shmframe/opencv.hpp>
#include <thread>

#include <shmframe/clock.hpp>
#include <shmframe/opencv_convert.hpp>
#include <shmframe/pattern.hpp>
#include <shmframe/writer.hpp>
#include "app_process.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using testkit::App;
using testkit::kProducer;
using testkit::StreamGuard;

namespace {

const std::string kViewer = SHMFRAME_VIEWER_BIN;
// Under ASan the viewer's window mode loads Qt, fontconfig and X libraries that keep caches
// they never free; LeakSanitizer reports them at exit. Suppressed for those libraries only
// (the viewer's own code stays checked), and only for viewer processes that open a window.
const std::string kViewerLsan = "LSAN_OPTIONS=suppressions=" SHMFRAME_VIEWER_LSAN_SUPP;

// A file removed when the test ends, however it ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& tag)
      : path("/tmp/shmframe-viewer-test-" + std::to_string(getpid()) + "-" + tag) {
    ::unlink(path.c_str());
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

// The producer's test pattern frame `seq` as the viewer must show it: drawn by the library in the
// stream's format (jpeg: the bgr8 picture it encodes), then converted to BGR as the viewer does.
cv::Mat expected_bgr(int width, int height, shmframe::PixelFormat f, std::uint64_t seq) {
  const shmframe::PixelFormat drawn = f == shmframe::PixelFormat::jpeg ? shmframe::PixelFormat::bgr8 : f;
  const shmframe::FrameFormat fmt{static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), drawn, 0};
  cv::Mat frame(fmt.plane_count() > 1 ? height * 3 / 2 : height, width, shmframe::cv_type(drawn)), bgr;
  shmframe::fill_test_pattern(seq, fmt, reinterpret_cast<std::byte*>(frame.data), frame.step[0]);
  if (drawn == shmframe::PixelFormat::gray16) {  // the viewer's default: the frame's own range, TURBO
    double lo = 0, hi = 0;
    cv::minMaxLoc(frame, &lo, &hi);
    cv::Mat scaled;
    frame.convertTo(scaled, CV_8U, 255.0 / (hi - lo), -lo * 255.0 / (hi - lo));
    cv::applyColorMap(scaled, bgr, cv::COLORMAP_TURBO);
    return bgr;
  }
  shmframe::to_bgr(frame, drawn, bgr);
  return bgr;
}

// The number after `key` in `line` ("... seq 12 of ..." -> 12), -1 if there is none. (No
// std::regex: GCC 12 warns inside <regex> under ASan, and the asan build uses -Werror.)
long long number_after(const std::string& line, const std::string& key) {
  const auto at = line.find(key);
  if (at == std::string::npos) return -1;
  const char* p = line.c_str() + at + key.size();
  char* end = nullptr;
  const long long v = std::strtoll(p, &end, 10);
  return end != p ? v : -1;
}

// Share of the lower half (below the seq code; the bar excepted) that is the pattern's gradient in
// its colours, within 4 levels: blue grows with x, green with y, red is 128.
double gradient_share(const cv::Mat& img) {
  int good = 0, all = 0;
  for (int y = img.rows / 2; y < img.rows; y += 2) {
    for (int x = 0; x < img.cols; x += 2) {
      const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      const int b = x * 255 / (img.cols - 1), g = y * 255 / (img.rows - 1);
      good += std::abs(p[0] - b) <= 4 && std::abs(p[1] - g) <= 4 && std::abs(p[2] - 128) <= 4;
      ++all;
    }
  }
  return all != 0 ? static_cast<double>(good) / all : 0;
}

// "snapshot: PATH (WxH, seq S of 'NAME')" -> S
std::uint64_t snapshot_seq(const std::string& line) {
  const long long seq = number_after(line, "seq ");
  return seq > 0 ? static_cast<std::uint64_t>(seq) : 0;
}

// Next stdout line containing `text` (others skipped), bounded; "" on timeout.
std::string line_with(App& app, const std::string& text, std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (auto l = app.out->recv(testkit::left_until(deadline))) {
    if (l->find(text) != std::string::npos) return *l;
  }
  return {};
}

// The generation in a "live: generation N, ..." banner line (0 if there is none).
std::uint64_t generation_in(const std::string& line) {
  const std::string key = "generation ";
  const auto at = line.find(key);
  return at == std::string::npos ? 0 : std::strtoull(line.c_str() + at + key.size(), nullptr, 10);
}

}  // namespace

class ViewerSnapshot : public ::testing::TestWithParam<std::string> {};

// The snapshot is the stream's frame itself, converted to BGR: every pixel equals the test
// pattern of the seq it names, whatever the stream's pixel format (colour order included).
TEST_P(ViewerSnapshot, EqualsTheProducersFrameInBgr) {
  const std::string format = GetParam();
  StreamGuard g("viewer-snap-" + format);
  TempFile png("snap-" + format + ".png");
  App viewer(
      {kViewer, "--name", g.name(), "--headless", "--snapshot", png.path, "--frames", "3", "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--fps", "50", "--width", "160", "--height", "120", "--format", format});
  const std::string said = line_with(viewer, "snapshot: ", 20s);
  ASSERT_FALSE(said.empty()) << viewer.errors();
  EXPECT_EQ(viewer.proc->exit_code(10s), 0) << viewer.errors();
  const std::uint64_t seq = snapshot_seq(said);
  ASSERT_GE(seq, 3u) << said;  // the 3rd frame received: seq 3 at the earliest
  const cv::Mat shot = cv::imread(png.path, cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(shot.empty()) << "no PNG at " << png.path;
  ASSERT_EQ(shot.cols, 160);
  ASSERT_EQ(shot.rows, 120);
  ASSERT_EQ(shot.type(), CV_8UC3);
  const auto pf = *shmframe::parse_pixel_format(format);
  const cv::Mat want = expected_bgr(160, 120, pf, seq);
  if (pf == shmframe::PixelFormat::jpeg) {
    // Decoded: the picture the producer encoded, within JPEG's loss.
    EXPECT_GE(cv::PSNR(shot, want), 35.0) << "jpeg: the snapshot is not the encoded pattern of seq " << seq;
  } else {
    EXPECT_EQ(cv::norm(shot, want, cv::NORM_INF), 0)
        << format << ": the snapshot differs from the test pattern of seq " << seq;
  }
  // Not a blank or uniform picture, and the colour order is right: the pattern's red channel is
  // 128 everywhere but under the bar and text; blue grows left to right (bgr8, rgb8).
  cv::Scalar mean, dev;
  cv::meanStdDev(shot, mean, dev);
  EXPECT_GT(dev[0], 20) << "the picture is flat";
  if (pf == shmframe::PixelFormat::gray16) {
    // A colormap, not gray: most of the picture has colour.
    cv::Mat hsv, saturated;
    cv::cvtColor(shot, hsv, cv::COLOR_BGR2HSV);
    cv::inRange(hsv, cv::Scalar(0, 100, 0), cv::Scalar(180, 255, 255), saturated);
    EXPECT_GT(cv::countNonZero(saturated), 160 * 120 / 2) << "gray16 is shown through a colormap";
  } else if (format != "gray8" && pf != shmframe::PixelFormat::bgr8 && pf != shmframe::PixelFormat::rgb8 &&
             pf != shmframe::PixelFormat::bgra8 && pf != shmframe::PixelFormat::rgba8) {
    // YUV, Bayer and JPEG in true colours: the gradient of the bgr8 pattern, within their loss.
    EXPECT_GT(gradient_share(shot), 0.85) << format << " is not shown in the pattern's colours";
  } else if (format != "gray8") {
    const cv::Vec3b left = shot.at<cv::Vec3b>(110, 20), right = shot.at<cv::Vec3b>(110, 150);
    EXPECT_LT(left[0], right[0]) << "blue must grow to the right";
    EXPECT_EQ(right[2], 128) << "red is 128 in the pattern";
  } else {
    const cv::Vec3b p = shot.at<cv::Vec3b>(110, 150);
    EXPECT_TRUE(p[0] == p[1] && p[1] == p[2]) << "gray8 shows gray";
  }
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}

INSTANTIATE_TEST_SUITE_P(Formats, ViewerSnapshot,
                         ::testing::Values("bgr8", "rgb8", "gray8", "bgra8", "rgba8", "gray16", "yuyv", "uyvy", "nv12",
                                           "i420", "bayer_rggb8", "bayer_bggr8", "bayer_grbg8", "bayer_gbrg8", "jpeg"));

// Two streams: the snapshot tiles them side by side, each at full size.
TEST(Viewer, SnapshotOfTwoStreamsTilesThemSideBySide) {
  StreamGuard a("viewer-tile-a"), b("viewer-tile-b");
  TempFile png("tile.png");
  App pa({kProducer, "--name", a.name(), "--fps", "50", "--width", "160", "--height", "120"});
  App pb({kProducer, "--name", b.name(), "--fps", "50", "--width", "160", "--height", "120", "--format", "gray8"});
  // Wait for the second stream first, so that the tile of b has a frame when a's 5th arrives.
  App probe({kViewer, "--name", b.name(), "--headless", "--frames", "1", "--timeout-ms", "20000"});
  ASSERT_EQ(probe.proc->exit_code(20s), 0) << probe.errors();
  App viewer({kViewer, "--name", a.name(), "--name", b.name(), "--headless", "--snapshot", png.path, "--frames", "5",
              "--timeout-ms", "20000"});
  const std::string said = line_with(viewer, "snapshot: ", 20s);
  ASSERT_FALSE(said.empty()) << viewer.errors();
  EXPECT_EQ(viewer.proc->exit_code(10s), 0);
  const cv::Mat shot = cv::imread(png.path, cv::IMREAD_COLOR);
  ASSERT_EQ(shot.cols, 320);
  ASSERT_EQ(shot.rows, 120);
  const cv::Mat want = expected_bgr(160, 120, shmframe::PixelFormat::bgr8, snapshot_seq(said));
  EXPECT_EQ(cv::norm(shot(cv::Rect(0, 0, 160, 120)), want, cv::NORM_INF), 0) << "left tile: stream a";
  const cv::Mat right = shot(cv::Rect(160, 0, 160, 120));
  std::vector<cv::Mat> ch;
  cv::split(right, ch);
  EXPECT_EQ(cv::norm(ch[0], ch[2], cv::NORM_INF), 0) << "right tile: stream b is gray";
  cv::Scalar mean, dev;
  cv::meanStdDev(right, mean, dev);
  EXPECT_GT(dev[0], 20) << "right tile is blank";
}

// Issue 21: --sync tiles the members of one set. The test is both cameras: each pair carries the
// test pattern of one seq, the right camera's captured 3 ms after the left's. The snapshot's two
// tiles are the same seq's (one set, never the right tile of another), and the statistics give
// the sets and their 3 ms spread.
TEST(Viewer, SyncTilesTheMembersOfOneSetWithTheirSpread) {
  StreamGuard a("viewer-sync-a"), b("viewer-sync-b");
  TempFile png("sync.png"), json("sync.json");
  const shmframe::FrameFormat f{160, 120, shmframe::PixelFormat::bgr8, 0};
  shmframe::WriterOptions wo;
  wo.format = f;
  shmframe::Writer wa(a.name(), wo), wb(b.name(), wo);
  App viewer({kViewer, "--name", a.name(), "--name", b.name(), "--sync", "approximate", "--headless", "--snapshot",
              png.path, "--frames", "10", "--stats-json", json.path, "--timeout-ms", "20000"});
  std::atomic<bool> stop{false};
  std::thread cameras([&] {
    cv::Mat frame(120, 160, CV_8UC3);
    constexpr std::uint64_t kPeriod = 20'000'000, kOffset = 3'000'000;  // 50 fps
    for (std::uint64_t k = 1; !stop.load() && k < 2000; ++k) {
      const std::uint64_t t = shmframe::monotonic_ns();
      shmframe::fill_test_pattern(k, f, reinterpret_cast<std::byte*>(frame.data), frame.step[0]);
      const shmframe::ImageView v{frame.data, frame.step[0], 160, 120, 3};
      EXPECT_TRUE(wa.publish(v, t));
      EXPECT_TRUE(wb.publish(v, t + kOffset));
      std::this_thread::sleep_for(std::chrono::nanoseconds(kPeriod));  // the cameras' rate, not a synchronisation
    }
  });
  const std::string said = line_with(viewer, "snapshot: ", 20s);
  EXPECT_EQ(viewer.proc->exit_code(10s), 0) << viewer.errors();
  stop = true;
  cameras.join();
  ASSERT_FALSE(said.empty()) << viewer.errors();
  const cv::Mat shot = cv::imread(png.path, cv::IMREAD_COLOR);
  ASSERT_EQ(shot.cols, 320);
  const cv::Mat want = expected_bgr(160, 120, shmframe::PixelFormat::bgr8, snapshot_seq(said));
  EXPECT_EQ(cv::norm(shot(cv::Rect(0, 0, 160, 120)), want, cv::NORM_INF), 0) << "left tile: the set's left frame";
  EXPECT_EQ(cv::norm(shot(cv::Rect(160, 0, 160, 120)), want, cv::NORM_INF), 0)
      << "right tile: the same set's right frame";
  std::ifstream in(json.path);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "no JSON in " << json.path;
  EXPECT_GE(j["sync"]["sets"].get<int>(), 10) << j.dump();
  EXPECT_NEAR(j["sync"]["spread_ms"]["p50"].get<double>(), 3.0, 0.5) << j.dump();
}

// The banner states of one stream through a producer's life, headless.
// Issue 22: a 32768x1 and a 1x32768 stream tile into a 65536x32768 canvas at full size (6 GiB of
// BGR, which OpenCV was asked for). The snapshot is scaled down to at most 256 Mpixels, aspect
// kept, and the viewer says so.
TEST(Viewer, ASnapshotTooLargeAtFullSizeIsScaledAndSaysSo) {
  StreamGuard a("viewer-wide"), b("viewer-tall");
  TempFile png("huge.png");
  App pa({kProducer, "--name", a.name(), "--fps", "20", "--width", "32768", "--height", "1"});
  App pb({kProducer, "--name", b.name(), "--fps", "20", "--width", "1", "--height", "32768"});
  App probe({kViewer, "--name", b.name(), "--headless", "--frames", "1", "--timeout-ms", "20000"});
  ASSERT_EQ(probe.proc->exit_code(20s), 0) << probe.errors();
  App viewer({kViewer, "--name", a.name(), "--name", b.name(), "--headless", "--snapshot", png.path, "--frames", "2",
              "--timeout-ms", "20000"});
  const std::string scaled = line_with(viewer, "snapshot scaled: ", 30s);
  ASSERT_FALSE(scaled.empty()) << viewer.errors();
  EXPECT_NE(scaled.find("65536x32768"), std::string::npos) << scaled;
  const std::string said = line_with(viewer, "snapshot: ", 30s);
  ASSERT_FALSE(said.empty()) << viewer.errors();
  EXPECT_EQ(viewer.proc->exit_code(30s), 0) << viewer.errors();
  const cv::Mat shot = cv::imread(png.path, cv::IMREAD_COLOR);
  ASSERT_FALSE(shot.empty());
  EXPECT_LE(static_cast<std::uint64_t>(shot.cols) * static_cast<std::uint64_t>(shot.rows), std::uint64_t{1} << 28);
  EXPECT_EQ(shot.cols, 2 * shot.rows) << "two square cells side by side: the aspect is kept";
}

TEST(Viewer, HeadlessBannersFollowTheProducerLifecycle) {
  StreamGuard g("viewer-life");
  App viewer({kViewer, "--name", g.name(), "--headless", "--timeout-ms", "30000"});
  EXPECT_FALSE(line_with(viewer, g.name() + ": waiting for producer", 10s).empty()) << viewer.errors();
  auto first = std::make_unique<App>(std::vector<std::string>{kProducer, "--name", g.name(), "--fps", "50", "--width",
                                                              "320", "--height", "240", "--heartbeat-ms", "50"});
  const pid_t pid1 = first->proc->pid();
  const std::string live1 = line_with(viewer, g.name() + ": live: generation ", 10s);
  EXPECT_NE(live1.find(", 320x240 bgr8, producer pid " + std::to_string(pid1)), std::string::npos) << live1;
  const std::uint64_t gen1 = generation_in(live1);
  ASSERT_NE(gen1, 0u) << live1;
  const std::string stats = line_with(viewer, g.name() + " gen " + std::to_string(gen1) + " ", 10s);
  EXPECT_NE(stats.find("320x240 bgr8"), std::string::npos) << stats;
  EXPECT_NE(stats.find("fps"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cpu shmframe"), std::string::npos) << stats;
  first->proc->kill_and_reap(SIGKILL);
  EXPECT_FALSE(line_with(viewer, g.name() + ": producer lost (pid " + std::to_string(pid1) + ", ", 10s).empty())
      << viewer.errors();
  App second({kProducer, "--name", g.name(), "--fps", "50", "--width", "200", "--height", "100", "--format", "gray8"});
  const std::string gen2 = std::to_string(gen1 + 1);  // a takeover: +1
  EXPECT_FALSE(line_with(viewer, g.name() + ": live: generation " + gen2 + ", 200x100 gray8", 10s).empty())
      << viewer.errors();
  const std::string stats2 = line_with(viewer, g.name() + " gen " + gen2 + " ", 10s);
  EXPECT_NE(stats2.find("200x100 gray8"), std::string::npos) << stats2;
  second.proc->signal(SIGINT);
  EXPECT_EQ(second.proc->exit_code(10s), 0);
  EXPECT_FALSE(line_with(viewer, g.name() + ": closed", 10s).empty()) << viewer.errors();
  viewer.proc->signal(SIGINT);
  EXPECT_FALSE(line_with(viewer, "summary: " + g.name() + " frames", 10s).empty());
  EXPECT_FALSE(line_with(viewer, "shmframe share of viewer CPU", 10s).empty());
  EXPECT_EQ(viewer.proc->exit_code(10s), 0) << "Ctrl-C ends the viewer cleanly";
}

// A jpeg stream whose frames do not decode (a camera's corrupt JPEG, or not a JPEG at all) gives
// the placeholder and a counter, never a crash; good frames after them show again.
TEST(Viewer, UndecodableJpegFramesAreCountedNotFatal) {
  StreamGuard g("viewer-badjpeg");
  TempFile json("badjpeg.json");
  shmframe::WriterOptions o;
  o.format = shmframe::FrameFormat{64, 48, shmframe::PixelFormat::jpeg, 0};
  o.slots = 4;
  shmframe::Writer w(g.name(), o);
  App viewer({kViewer, "--name", g.name(), "--headless", "--exit-on-close", "--stats-json", json.path, "--timeout-ms",
              "20000"});
  ASSERT_FALSE(line_with(viewer, g.name() + ": live: generation ", 20s).empty()) << viewer.errors();
  // Truncated JPEG headers and random bytes; a viewer that crashed would never write its JSON.
  const std::vector<std::vector<std::byte>> bad = {
      {std::byte{0xFF}, std::byte{0xD8}, std::byte{0xFF}},
      std::vector<std::byte>(500, std::byte{0x5A}),
      {std::byte{0xFF}, std::byte{0xD8}, std::byte{0xFF}, std::byte{0xC0}, std::byte{0x00}, std::byte{0x11}}};
  // Each bad frame is taken by the viewer before the next one is published (the viewer reads the
  // newest frame: unpaced, it could skip them all). A bounded check of its consumer entry.
  const auto taken = [&w](std::uint64_t seq) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& c : w.stats().consumers) {
        if (c.last_seq >= seq) return true;
      }
      std::this_thread::sleep_for(2ms);
    }
    return false;
  };
  for (const auto& b : bad) {
    const shmframe::CommitResult r = w.publish_payload(b, shmframe::monotonic_ns());
    ASSERT_TRUE(r);
    ASSERT_TRUE(taken(r.seq)) << "the viewer did not take frame " << r.seq << viewer.errors();
  }
  w.close();
  EXPECT_EQ(viewer.proc->exit_code(20s), 0) << viewer.errors();
  std::ifstream in(json.path);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "no JSON in " << json.path;
  EXPECT_GT(j["streams"][0]["undecodable"].get<int>(), 0) << j.dump();
}

TEST(Viewer, ExitOnCloseStatsJsonAndFramesCount) {
  StreamGuard g("viewer-close");
  TempFile json("stats.json");
  App viewer({kViewer, "--name", g.name(), "--headless", "--exit-on-close", "--stats-json", json.path, "--timeout-ms",
              "20000"});
  App producer({kProducer, "--name", g.name(), "--fps", "100", "--frames", "30", "--slots", "4"});
  EXPECT_EQ(producer.proc->exit_code(20s), 0);
  EXPECT_EQ(viewer.proc->exit_code(10s), 0) << viewer.errors();
  std::ifstream in(json.path);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "no JSON in " << json.path;
  EXPECT_GT(j["streams"][0]["frames"].get<int>(), 0);
  EXPECT_EQ(j["streams"][0]["name"], g.name());
  EXPECT_TRUE(j["streams"][0]["e2e_ms"].contains("p99"));
  EXPECT_GE(j["cpu"]["shmframe_share"].get<double>(), 0.0);
  EXPECT_LE(j["cpu"]["shmframe_share"].get<double>(), 1.0);
}

TEST(Viewer, BadInputIsRefusedWithAReasonAndAMissingStreamIsWaitedFor) {
  struct Case {
    std::vector<std::string> args;
    int code;
    const char* says;
  };
  const Case cases[] = {
      {{kViewer, "--name", "a/b"}, 2, "letters"},
      {{kViewer, "--name", ""}, 2, "1 to 64"},
      {{kViewer, "--name", "x", "--name", "x"}, 2, "given twice"},
      {{kViewer, "--snapshot", "/tmp/x.jpg"}, 2, "must end in .png"},
      {{kViewer, "--snapshot", "/nonexistent-dir/x.png"}, 2, "does not exist"},
      {{kViewer, "--max-size", "big"}, 2, "WIDTHxHEIGHT"},
      {{kViewer, "--save-dir", "/nonexistent-dir"}, 2, "--save-dir"},
      {{kViewer, "--frames", "-1"}, 2, "--frames"},
      {{kViewer, "--bogus"}, 2, "--bogus"},
      {{kViewer, "--name", "x", "--sync", "exact"}, 2, "2 to 8 streams, not 1"},
      {{kViewer, "--name", "x", "--name", "y", "--sync", "approximate", "--tolerance-ms", "0"}, 2, "matches nothing"},
      {{kViewer, "--name", "x", "--tolerance-ms", "5"}, 2, "--sync"},
      {{kViewer, "--name", "viewer-never-there", "--headless", "--timeout-ms", "300"},
       3,
       "no frame for 300 ms from stream 'viewer-never-there'"},
  };
  for (const auto& c : cases) {
    App app(c.args);
    EXPECT_EQ(app.proc->exit_code(10s), c.code) << c.args.back();
    std::string all = app.errors();
    while (auto l = app.out->recv(50ms)) all += *l + "\n";
    EXPECT_NE(all.find(c.says), std::string::npos) << c.args.back() << ": " << all;
  }
  App help({kViewer, "--help"});
  EXPECT_EQ(help.proc->exit_code(10s), 0);
  std::string text;
  while (auto l = help.out->recv(200ms)) text += *l + "\n";
  for (const char* opt : {"--name", "--headless", "--snapshot", "--frames", "--timeout-ms", "--exit-on-close",
                          "--stats-json", "space", "Esc"}) {
    EXPECT_NE(text.find(opt), std::string::npos) << "--help does not mention " << opt;
  }
}

// No display: it says so on stderr and runs headless (statistics on stdout), whether $DISPLAY
// is unset or names a display nobody serves.
TEST(Viewer, WithoutADisplayItRunsHeadlessAndSaysSo) {
  StreamGuard g("viewer-nodisplay");
  for (const std::string& display :
       std::vector<std::string>{"DISPLAY=", "DISPLAY=:" + std::to_string(900 + getpid() % 90)}) {
    App viewer({kViewer, "--name", g.name(), "--timeout-ms", "300"}, {display});
    EXPECT_EQ(viewer.proc->exit_code(10s), 3) << display;
    const std::string err = viewer.errors();
    EXPECT_NE(err.find("running headless"), std::string::npos) << display << ": " << err;
    EXPECT_NE(err.find(display == "DISPLAY=" ? "$DISPLAY is not set" : "cannot connect to the X server"),
              std::string::npos)
        << err;
    EXPECT_FALSE(line_with(viewer, g.name() + ": waiting for producer", 2s).empty());
  }
}

// ---- a real window, under Xvfb -------------------------------------------------------------

namespace {

std::string file_of(int display) { return "/tmp/.X11-unix/X" + std::to_string(display); }

// Retries `done` every 100 ms until it holds or `timeout` passes. Only for what external
// programs do in their own time (an X server starting, a window being painted): nothing of
// theirs can be waited on directly.
bool retry_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

// An X server of the test's own: Xvfb on a free display number; killed and reaped at the end
// (App's Child). error() says why there is none.
class Xvfb {
 public:
  Xvfb() {
    if (access(kBinary, X_OK) != 0) {
      error_ = std::string(kBinary) +
               " is missing: install the Debian packages xvfb and x11-apps (scripts/install-deps.sh does)";
      return;
    }
    for (int n = 100 + getpid() % 500, tries = 0; tries < 20; ++n, ++tries) {
      if (access(file_of(n).c_str(), F_OK) == 0 || access(("/tmp/.X" + std::to_string(n) + "-lock").c_str(), F_OK) == 0)
        continue;
      server_ = std::make_unique<App>(std::vector<std::string>{kBinary, ":" + std::to_string(n), "-screen", "0",
                                                               "1280x800x24", "-nolisten", "tcp"});
      // Ready once its socket exists; an early exit means another server took the number.
      if (retry_until(
              [&] {
                return access(file_of(n).c_str(), F_OK) == 0 || !server_->proc->running() ||
                       server_->proc->wait_exit(0ms);
              },
              10s) &&
          server_->proc->running()) {
        display_ = ":" + std::to_string(n);
        return;
      }
      server_.reset();
    }
    error_ = "Xvfb did not start on any free display number";
  }
  const std::string& display() const { return display_; }
  const std::string& error() const { return error_; }

 private:
  static constexpr const char* kBinary = "/usr/bin/Xvfb";
  std::unique_ptr<App> server_;
  std::string display_, error_;
};

// An XWD file (xwd -root): a big-endian header of 25 32-bit fields, the window name, a colour
// map of 12-byte entries, then ZPixmap rows of bytes_per_line bytes. Returns BGR (empty if the
// file is not a ZPixmap with 24- or 32-bit pixels).
cv::Mat read_xwd(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<unsigned char> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (d.size() < 100) return {};
  auto field = [&](int i) {
    const unsigned char* p = &d[static_cast<std::size_t>(i) * 4];
    return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
           static_cast<std::uint32_t>(p[2]) << 8 | p[3];
  };
  const std::uint32_t header = field(0), format = field(2), width = field(4), height = field(5), byte_order = field(7),
                      bpp = field(11), bpl = field(12), masks[3] = {field(16), field(15), field(14)},
                      ncolors = field(19);
  const std::size_t offset = header + std::size_t{ncolors} * 12;
  if (format != 2 || (bpp != 24 && bpp != 32) || d.size() < offset + std::size_t{bpl} * height) return {};
  cv::Mat out(static_cast<int>(height), static_cast<int>(width), CV_8UC3);
  const std::size_t bytes = bpp / 8;
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < width; ++x) {
      const unsigned char* p = &d[offset + std::size_t{y} * bpl + x * bytes];
      std::uint32_t v = 0;
      for (std::size_t b = 0; b < bytes; ++b)
        v |= static_cast<std::uint32_t>(p[byte_order == 0 ? b : bytes - 1 - b]) << (8 * b);
      auto& px = out.at<cv::Vec3b>(static_cast<int>(y), static_cast<int>(x));
      for (int c = 0; c < 3; ++c) px[c] = static_cast<uchar>((v & masks[c]) >> __builtin_ctz(masks[c]));
    }
  }
  return out;
}

cv::Mat screenshot(const std::string& display) {
  TempFile file("screen.xwd");
  App xwd({"/usr/bin/xwd", "-root", "-silent", "-out", file.path}, {"DISPLAY=" + display});
  if (xwd.proc->exit_code(10s) != 0) return {};
  return read_xwd(file.path);
}

// The window's position and size on the screen (xwininfo), empty if there is none.
cv::Rect window_rect(const std::string& display, const std::string& title) {
  App info({"/usr/bin/xwininfo", "-name", title}, {"DISPLAY=" + display});
  cv::Rect r;
  while (auto l = info.out->recv(5s)) {
    for (auto [key, field] : {std::pair{"Absolute upper-left X:", &r.x},
                              {"Absolute upper-left Y:", &r.y},
                              {"Width:", &r.width},
                              {"Height:", &r.height}}) {
      if (const long long v = number_after(*l, key); v >= 0) *field = static_cast<int>(v);
    }
  }
  return info.proc->exit_code(5s) == 0 ? r : cv::Rect();
}

// Share of the picture's lower half (below the overlay) that is the test pattern's gradient in
// the right colours: blue grows with x, green with y, red is 128 (the bar and text excepted).
double pattern_share(const cv::Mat& win) { return gradient_share(win); }

int count_color(const cv::Mat& m, cv::Vec3b c) {
  cv::Mat mask;
  cv::inRange(m, cv::Scalar(c[0], c[1], c[2]), cv::Scalar(c[0], c[1], c[2]), mask);
  return cv::countNonZero(mask);
}

}  // namespace

// What a person sees: the window (titled with the stream) shows the frames at their size in
// the right colours (an rgb8 stream), with the overlay panel; a magenta banner once the
// producer is killed; and the window takes the size of the next producer's frames.
TEST(ViewerWindow, ShowsTheStreamWithOverlayThenTheLostBannerThenFollowsANewSize) {
  Xvfb x;
  ASSERT_TRUE(x.error().empty()) << x.error();
  StreamGuard g("viewer-x");
  const std::string title = "shmframe-viewer: " + g.name();
  App viewer({kViewer, "--name", g.name(), "--timeout-ms", "60000"}, {"DISPLAY=" + x.display(), kViewerLsan});
  auto first = std::make_unique<App>(std::vector<std::string>{kProducer, "--name", g.name(), "--fps", "30", "--width",
                                                              "320", "--height", "240", "--format", "rgb8",
                                                              "--heartbeat-ms", "50"});
  const std::string live1 = line_with(viewer, g.name() + ": live: generation ", 20s);
  ASSERT_NE(live1.find(", 320x240 rgb8"), std::string::npos) << live1 << viewer.errors();
  const std::uint64_t gen1 = generation_in(live1);

  cv::Rect r;
  cv::Mat win;
  const cv::Vec3b magenta(255, 0, 255), panel(40, 40, 40);
  auto look = [&] {
    r = window_rect(x.display(), title);
    const cv::Mat screen = screenshot(x.display());
    win = r.area() > 0 && !screen.empty() ? screen(r & cv::Rect(0, 0, screen.cols, screen.rows)).clone() : cv::Mat();
    return !win.empty();
  };
  EXPECT_TRUE(retry_until([&] { return look() && r.size() == cv::Size(320, 240) && pattern_share(win) > 0.8; }, 20s))
      << "window " << r << ", pattern share " << (win.empty() ? 0 : pattern_share(win)) << "\n"
      << viewer.errors();
  ASSERT_FALSE(win.empty());
  EXPECT_EQ(win.at<cv::Vec3b>(2, 2), panel) << "overlay panel at the top left";
  cv::Mat text;
  cv::inRange(win(cv::Rect(0, 0, 120, 50)), cv::Scalar(200, 200, 200), cv::Scalar(255, 255, 255), text);
  EXPECT_GT(cv::countNonZero(text), 30) << "overlay text";
  EXPECT_EQ(count_color(win, magenta), 0) << "no banner while live";

  const pid_t pid1 = first->proc->pid();
  first->proc->kill_and_reap(SIGKILL);
  EXPECT_FALSE(line_with(viewer, g.name() + ": producer lost (pid " + std::to_string(pid1), 10s).empty())
      << viewer.errors();
  EXPECT_TRUE(retry_until([&] { return look() && count_color(win, magenta) > 320 * 10; }, 10s))
      << "no magenta banner bar in the window";
  EXPECT_GT(pattern_share(win), 0.3) << "the last frame stays shown under the banner";

  App second({kProducer, "--name", g.name(), "--fps", "30", "--width", "480", "--height", "160"});
  ASSERT_FALSE(
      line_with(viewer, g.name() + ": live: generation " + std::to_string(gen1 + 1) + ", 480x160 bgr8", 10s).empty())
      << viewer.errors();
  EXPECT_TRUE(retry_until(
      [&] {
        return look() && r.size() == cv::Size(480, 160) && count_color(win, magenta) == 0 && pattern_share(win) > 0.8;
      },
      10s))
      << "window " << r << " after the new generation";

  viewer.proc->signal(SIGTERM);
  EXPECT_EQ(viewer.proc->exit_code(10s), 0) << viewer.errors();
  second.proc->signal(SIGINT);
  EXPECT_EQ(second.proc->exit_code(10s), 0);
}

// Issue 19: each family of formats in a real window, in true colours: YUV 4:2:0, a Bayer mosaic
// and JPEG show the pattern's gradient; a gray16 depth stream shows a colormap.
class ViewerWindowFormats : public ::testing::TestWithParam<std::string> {};

TEST_P(ViewerWindowFormats, ShowsTheFamilyInItsColours) {
  const std::string format = GetParam();
  Xvfb x;
  ASSERT_TRUE(x.error().empty()) << x.error();
  StreamGuard g("viewer-xf-" + format);
  const std::string title = "shmframe-viewer: " + g.name();
  App viewer({kViewer, "--name", g.name(), "--timeout-ms", "60000"}, {"DISPLAY=" + x.display(), kViewerLsan});
  App producer({kProducer, "--name", g.name(), "--fps", "30", "--width", "320", "--height", "240", "--format", format});
  ASSERT_FALSE(line_with(viewer, g.name() + ": live: generation ", 20s).empty()) << viewer.errors();
  cv::Mat win;
  const auto shown = [&] {
    const cv::Rect r = window_rect(x.display(), title);
    const cv::Mat screen = screenshot(x.display());
    if (r.size() != cv::Size(320, 240) || screen.empty()) return false;
    win = screen(r & cv::Rect(0, 0, screen.cols, screen.rows)).clone();
    if (format != "gray16") return pattern_share(win) > 0.8;
    cv::Mat hsv, saturated;
    cv::cvtColor(win(cv::Rect(0, 120, 320, 120)), hsv, cv::COLOR_BGR2HSV);
    cv::inRange(hsv, cv::Scalar(0, 100, 0), cv::Scalar(180, 255, 255), saturated);
    return cv::countNonZero(saturated) > 320 * 120 / 2;
  };
  EXPECT_TRUE(retry_until(shown, 20s)) << format << ": the window does not show the stream in its colours"
                                       << (win.empty() ? "" : ", pattern share " + std::to_string(pattern_share(win)))
                                       << "\n"
                                       << viewer.errors();
  viewer.proc->signal(SIGTERM);
  EXPECT_EQ(viewer.proc->exit_code(10s), 0) << viewer.errors();
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}

INSTANTIATE_TEST_SUITE_P(Families, ViewerWindowFormats, ::testing::Values("nv12", "bayer_rggb8", "jpeg", "gray16"));
