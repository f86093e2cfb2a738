// The samples as a user runs them (samples/README.md): the edge and motion plugins inside the
// real shmframe-consumer, and shmframe-record, each fed by the real shmframe-producer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <zlib.h>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <optional>
#include <shmframe/clock.hpp>
#include <shmframe/pattern.hpp>
#include <shmframe/shmframe.hpp>
#include <span>
#include <string>
#include <vector>

#include "app_process.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using testkit::kConsumer;
using testkit::kProducer;
using testkit::StreamGuard;

namespace {

const std::string kRecord = SHMFRAME_RECORD_BIN;
const std::string kEdgePlugin = SHMFRAME_EDGE_PLUGIN;

// A running program (app_process.hpp), plus what these tests read from it.
struct Proc : testkit::App {
  using testkit::App::App;
  int exit_code(std::chrono::milliseconds t) { return proc->exit_code(t); }
  // Every stdout line that parses as a JSON object, until `until` holds for one (included) or
  // stdout stays quiet for `quiet`. Other lines are skipped.
  std::vector<json> objects(const std::function<bool(const json&)>& until, std::chrono::milliseconds quiet = 10s) {
    std::vector<json> all;
    while (auto l = out->recv(quiet)) {
      json j = json::parse(*l, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      all.push_back(j);
      if (until(j)) break;
    }
    return all;
  }
};

bool is_closed(const json& j) { return j.value("event", "") == "closed"; }

// A file removed when the test ends, however it ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& tag) : path("/tmp/shmframe-test-" + std::to_string(getpid()) + "-" + tag) {
    ::unlink(path.c_str());
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

struct Video {
  int frames = 0;            // decoded by reading them all
  double header_frames = 0;  // CAP_PROP_FRAME_COUNT
  cv::Size size;
  int distinct_first_last = 0;  // 1 if the first and last frames differ
};
std::optional<Video> decode(const std::string& path) {
  cv::VideoCapture cap(path);
  if (!cap.isOpened()) return std::nullopt;
  Video v;
  v.header_frames = cap.get(cv::CAP_PROP_FRAME_COUNT);
  cv::Mat m, first, last;
  while (cap.read(m)) {
    if (v.frames++ == 0) first = m.clone();
    last = m;  // read() empties m at the end
    v.size = m.size();
  }
  if (!first.empty() && !last.empty()) v.distinct_first_last = cv::norm(first, last, cv::NORM_L1) > 0 ? 1 : 0;
  return v;
}

// "wrote 45 frames (seq 1..45) ..." -> 45, 1.
struct Summary {
  std::uint64_t frames = 0, first_seq = 0;
  std::string line;
};
std::optional<Summary> summary(Proc& rec, std::chrono::milliseconds t) {
  auto l = rec.out->recv_prefix("wrote ", t);
  if (!l) return std::nullopt;
  unsigned long long frames = 0, first = 0;
  if (std::sscanf(l->c_str() + l->find("wrote "), "wrote %llu frames (seq %llu..", &frames, &first) != 2)
    return std::nullopt;
  return Summary{frames, first, *l};
}

// shmframe-record on stream `name` into `path` (and `extra` options), started and waiting for
// its stream: started before the producer, it takes the first frame (a reader that attaches to
// a running stream starts at its newest frame).
std::unique_ptr<Proc> waiting_recorder(const std::string& name, const std::string& path,
                                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{kRecord, "--name", name, "--output", path};
  args.insert(args.end(), extra.begin(), extra.end());
  auto rec = std::make_unique<Proc>(args);
  EXPECT_TRUE(rec->err->recv_prefix("shmframe-record: waiting for stream", 10s)) << rec->errors();
  return rec;
}

// The video frames ('00dc' or '00db' chunks of the movi list) of an AVI file, in order; nullopt when the
// file is not a RIFF AVI with a movi list that fits in it.
std::optional<std::vector<std::string>> avi_frames(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (d.size() < 12 || d.compare(0, 4, "RIFF") != 0 || d.compare(8, 4, "AVI ") != 0) return std::nullopt;
  const auto u32 = [&d](std::size_t o) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(d[o + static_cast<std::size_t>(i)]);
    return std::size_t{v};
  };
  for (std::size_t o = 12; o + 12 <= d.size(); o += 8 + u32(o + 4) + (u32(o + 4) & 1)) {
    if (d.compare(o, 4, "LIST") != 0 || d.compare(o + 8, 4, "movi") != 0) continue;
    const std::size_t end = std::min(d.size(), o + 8 + u32(o + 4));
    std::vector<std::string> frames;
    for (std::size_t p = o + 12; p + 8 <= end; p += 8 + u32(p + 4) + (u32(p + 4) & 1)) {
      if (p + 8 + u32(p + 4) > end) return std::nullopt;
      if (d.compare(p, 4, "00dc") == 0 || d.compare(p, 4, "00db") == 0) frames.push_back(d.substr(p + 8, u32(p + 4)));
    }
    return frames;
  }
  return std::nullopt;
}

std::string crc_hex(const std::string& bytes) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08lx",
                crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
  return hex;
}

// Skips the test when shmframe-record says it was built without the JPEG passthrough.
#define SKIP_WITHOUT_PASSTHROUGH(line)                                                      \
  if ((line).find("built without GStreamer") != std::string::npos) {                        \
    GTEST_SKIP() << "shmframe-record is built without GStreamer's app library: " << (line); \
  }

}  // namespace

// producer -> edge (by name) -> edge (by path) -> probes: gray8 frames whose origin is the
// producer's frame, one hop per stage, and a chain that shuts down stage by stage on close.
TEST(Samples, EdgePluginChainCarriesTheOriginThroughTwoStages) {
  StreamGuard cam("smp-cam"), e1("smp-edge1"), e2("smp-edge2");
  const std::uint64_t kFrames = 40;
  // Downstream first: every consumer waits for its stream to appear.
  Proc probe0({kConsumer, "--name", cam.name(), "--processor", "probe", "--lossless", "--exit-on-close", "--timeout-ms",
               "20000"});
  Proc probe1({kConsumer, "--name", e1.name(), "--processor", "probe", "--exit-on-close", "--timeout-ms", "20000"});
  Proc probe2({kConsumer, "--name", e2.name(), "--processor", "probe", "--exit-on-close", "--timeout-ms", "20000"});
  Proc stage2({kConsumer, "--name", e1.name(), "--plugin", kEdgePlugin, "--plugin-arg", "low=30", "--output", e2.name(),
               "--exit-on-close", "--timeout-ms", "20000"});
  Proc stage1({kConsumer, "--name", cam.name(), "--plugin", "edge", "--output", e1.name(), "--exit-on-close",
               "--timeout-ms", "20000"});
  Proc producer({kProducer, "--name", cam.name(), "--frames", std::to_string(kFrames), "--fps", "30", "--width", "320",
                 "--height", "240", "--format", "rgb8"});
  ASSERT_EQ(producer.exit_code(20s), 0) << producer.errors();

  std::map<std::uint64_t, std::uint64_t> capture_of;  // producer seq -> capture_ns
  for (const json& j : probe0.objects(is_closed)) {
    if (j["event"] == "frame") capture_of[j["seq"].get<std::uint64_t>()] = j["capture_ns"].get<std::uint64_t>();
  }
  ASSERT_FALSE(capture_of.empty()) << probe0.errors();

  const auto check_stage = [&](Proc& probe, std::uint32_t hops) {
    std::size_t frames = 0, matched = 0;
    bool closed = false;
    for (const json& j : probe.objects(is_closed)) {
      if (is_closed(j)) closed = true;
      if (j["event"] != "frame") continue;
      ++frames;
      EXPECT_EQ(j["format"], "gray8");
      EXPECT_EQ(j["width"], 320);
      EXPECT_EQ(j["hops"], hops);
      EXPECT_EQ(j["origin_stream"], cam.name());
      const std::uint64_t origin_seq = j["origin_seq"];
      EXPECT_GE(origin_seq, 1u);
      EXPECT_LE(origin_seq, kFrames);
      EXPECT_GE(j["e2e_latency_ns"].get<std::uint64_t>(), j["handoff_ns"].get<std::uint64_t>());
      // A stage commits with the origin's capture time: the producer frame behind it.
      if (auto c = capture_of.find(origin_seq); c != capture_of.end()) {
        ++matched;
        EXPECT_EQ(j["capture_ns"].get<std::uint64_t>(), c->second) << "origin_seq " << origin_seq;
      }
    }
    EXPECT_TRUE(closed) << "the stage did not close its output when its input closed";
    EXPECT_GT(frames, 0u) << probe.errors();
    EXPECT_GT(matched, 0u) << "no stage frame's origin_seq was a frame the producer probe saw";
  };
  check_stage(probe1, 1);
  check_stage(probe2, 2);
  for (Proc* p : {&stage1, &stage2, &probe0, &probe1, &probe2}) EXPECT_EQ(p->exit_code(10s), 0) << p->errors();
}

// Issue 19: the edge plugin on an nv12 (and i420) stream runs Canny on the Y plane in place: each
// output frame is exactly Canny(Y plane of the pattern frame behind it), no colour conversion.
TEST(Samples, EdgePluginReadsTheYPlaneOfYuv420InPlace) {
  for (const char* format : {"nv12", "i420"}) {
    StreamGuard cam(std::string("smp-y-") + format), edges(std::string("smp-yedge-") + format);
    Proc probe({kConsumer, "--name", edges.name(), "--processor", "probe", "--frames", "5", "--timeout-ms", "20000"});
    Proc stage(
        {kConsumer, "--name", cam.name(), "--plugin", "edge", "--output", edges.name(), "--timeout-ms", "20000"});
    Proc producer({kProducer, "--name", cam.name(), "--fps", "30", "--width", "320", "--height", "240", "--format",
                   format, "--stride-align", "64", "--frames", "300"});
    std::size_t checked = 0, frames = 0;
    const auto fifth = [&frames](const json& j) { return j.value("event", "") == "frame" && ++frames == 5; };
    for (const json& j : probe.objects(fifth)) {
      if (j["event"] != "frame") continue;
      const std::uint64_t seq = j["origin_seq"];
      // The pattern's Y plane for that seq, as the producer drew it.
      const shmframe::FrameFormat f{320, 240, *shmframe::parse_pixel_format(format), 0};
      std::vector<std::byte> frame(f.frame_bytes());
      shmframe::fill_test_pattern(seq, f, frame.data(), f.row_bytes());
      const cv::Mat y(240, 320, CV_8UC1, frame.data());
      cv::Mat want;
      cv::Canny(y, want, 60, 180);
      char hex[9];
      std::snprintf(hex, sizeof hex, "%08lx", crc32(0L, want.data, static_cast<uInt>(want.total())));
      EXPECT_EQ(j["crc32"], hex) << format << " origin seq " << seq;
      EXPECT_EQ(j["format"], "gray8");
      ++checked;
    }
    EXPECT_EQ(checked, 5u) << probe.errors() << stage.errors();
    EXPECT_EQ(probe.exit_code(10s), 0);
  }
}

// The moving bar of the test pattern is motion: JSON lines with seq, origin_seq and boxes inside
// the frame, and the annotated output (bgr8) published as a stage.
TEST(Samples, MotionPluginReportsBoxesForTheMovingTestPattern) {
  StreamGuard cam("smp-mcam"), out("smp-motion");
  Proc probe({kConsumer, "--name", out.name(), "--processor", "probe", "--frames", "3", "--timeout-ms", "20000"});
  Proc motion({kConsumer, "--name", cam.name(), "--plugin", "motion", "--plugin-arg", "min_area=50", "--output",
               out.name(), "--frames", "20", "--timeout-ms", "20000"});
  Proc producer(
      {kProducer, "--name", cam.name(), "--fps", "30", "--width", "320", "--height", "240", "--format", "bgra8"});
  std::size_t with_boxes = 0;
  std::uint64_t last_seq = 0;
  std::size_t n = 0;
  const std::vector<json> lines = motion.objects([&n](const json&) { return ++n == 20; });
  for (const json& j : lines) {
    ASSERT_TRUE(j.contains("seq") && j.contains("origin_seq") && j.contains("boxes")) << j.dump();
    const std::uint64_t seq = j["seq"];
    EXPECT_GT(seq, last_seq);
    EXPECT_EQ(j["origin_seq"], seq) << "a producer's frame is its own origin";
    last_seq = seq;
    for (const json& b : j["boxes"]) {
      ASSERT_EQ(b.size(), 4u) << j.dump();
      const int x = b[0], y = b[1], w = b[2], h = b[3];
      EXPECT_TRUE(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 320 && y + h <= 240) << j.dump();
    }
    if (!j["boxes"].empty()) ++with_boxes;
  }
  EXPECT_EQ(lines.size(), 20u) << motion.errors();
  EXPECT_GT(with_boxes, 0u) << "the moving bar was never detected";
  EXPECT_EQ(motion.exit_code(10s), 0) << motion.errors();

  std::size_t annotated = 0, seen = 0;
  for (const json& j : probe.objects([&seen](const json& f) { return f["event"] == "frame" && ++seen == 3; })) {
    if (j["event"] != "frame") continue;
    ++annotated;
    EXPECT_EQ(j["format"], "bgr8");
    EXPECT_EQ(j["hops"], 1);
    EXPECT_EQ(j["origin_stream"], cam.name());
  }
  EXPECT_EQ(annotated, 3u) << probe.errors();
  EXPECT_EQ(probe.exit_code(10s), 0);
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.exit_code(10s), 0);
}

TEST(Samples, PluginsRefuseBadArgumentsByName) {
  StreamGuard cam("smp-args");
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const Case cases[] = {
      {{"--plugin", "motion", "--plugin-arg", "nope=1"}, "unknown argument 'nope'"},
      {{"--plugin", "edge", "--plugin-arg", "low=200", "--plugin-arg", "high=100"}, "low <= high"},
      {{"--plugin", "motion", "--plugin-arg", "threshold=x"}, "not a number"},
      // A plugin that takes sets, on one stream; and a single-frame plugin given a set.
      {{"--plugin", "stereo"}, "takes synchronised sets, not single frames"},
      {{"--name", "smp-args-b", "--sync", "exact", "--plugin", "edge"}, "takes single frames, not synchronised sets"},
      {{"--name", "smp-args-b", "--sync", "exact", "--plugin", "stereo", "--plugin-arg", "disparities=20"},
       "multiple of 16"},
      {{"--name", "smp-args-b", "--sync", "exact", "--plugin", "stereo", "--plugin-arg", "algorithm=sad"},
       "not one of bm, sgbm"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{kConsumer, "--name", cam.name()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Proc p(args);
    EXPECT_EQ(p.exit_code(10s), 2) << c.args.back();
    const std::string err = p.errors();
    EXPECT_NE(err.find(c.says), std::string::npos) << err;
  }
}

// Issue 21's sample: the stereo plugin inside shmframe-consumer --sync exact, over a left/right
// pair whose right image is the left one shifted 8 pixels (the test writes both streams, at one
// capture time per pair, as phase-locked cameras would): the published disparity is gray16,
// carries the left frame's origin, and reads 8 x 16 (OpenCV's fixed point) over the textured
// middle; the probe reads the stream.
TEST(Samples, StereoPluginPublishesTheDisparityOfASynchronisedPairAsGray16) {
  StreamGuard left("smp-left"), right("smp-right"), disparity("smp-disp");
  constexpr int kShift = 8, kWidth = 320, kHeight = 240;
  Proc stage({kConsumer, "--name", left.name(), "--name", right.name(), "--sync", "exact", "--plugin", "stereo",
              "--plugin-arg", "disparities=32", "--plugin-arg", "block=11", "--output", disparity.name(),
              "--exit-on-close", "--timeout-ms", "20000"});
  Proc probe(
      {kConsumer, "--name", disparity.name(), "--processor", "probe", "--exit-on-close", "--timeout-ms", "20000"});
  cv::Mat texture(kHeight, kWidth + kShift, CV_8UC1);
  cv::randu(texture, 0, 256);
  cv::GaussianBlur(texture, texture, cv::Size(3, 3), 0);  // matchable, still textured
  // A point at x in the left image is at x - kShift in the right one.
  const cv::Mat l = texture.colRange(0, kWidth).clone();
  const cv::Mat r = texture.colRange(kShift, kShift + kWidth).clone();
  shmframe::WriterOptions wo;
  wo.format = shmframe::FrameFormat{kWidth, kHeight, shmframe::PixelFormat::gray8, 0};
  std::optional<shmframe::Writer> wl(std::in_place, left.name(), wo), wr(std::in_place, right.name(), wo);
  shmframe::ReaderOptions ro;
  ro.delivery = shmframe::Delivery::every_frame;
  shmframe::Reader out(disparity.name(), ro);
  // One pair at a time until the stage answered three: the stage attaches whenever it is ready.
  int answered = 0;
  std::uint64_t last_capture = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (answered < 3 && std::chrono::steady_clock::now() < deadline) {
    last_capture = shmframe::monotonic_ns();
    ASSERT_TRUE(wl->publish(shmframe::ImageView{l.data, l.step, kWidth, kHeight, 1}, last_capture));
    ASSERT_TRUE(wr->publish(shmframe::ImageView{r.data, r.step, kWidth, kHeight, 1}, last_capture));
    shmframe::Event e = out.wait(500ms);
    if (e.kind != shmframe::EventKind::frame) continue;
    ++answered;
    const shmframe::Frame& f = e.frame;
    ASSERT_EQ(f.format().pixel_format, shmframe::PixelFormat::gray16);
    ASSERT_EQ(f.format().width, static_cast<std::uint32_t>(kWidth));
    const std::optional<shmframe::Origin> o = f.origin();
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->stream, left.name());
    EXPECT_EQ(o->hops, 1u);
    // The middle, away from the borders StereoBM cannot match (left: the disparity range).
    std::vector<std::uint16_t> values;
    for (std::uint32_t y = 40; y < kHeight - 40; ++y) {
      const auto* row = reinterpret_cast<const std::uint16_t*>(f.data() + y * f.format().effective_stride());
      for (std::uint32_t x = 80; x < kWidth - 40; ++x) values.push_back(row[x]);
    }
    ASSERT_TRUE(f.still_valid());
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2), values.end());
    EXPECT_EQ(values[values.size() / 2], kShift * 16) << "the median disparity x 16 of the textured middle";
  }
  ASSERT_EQ(answered, 3) << stage.errors();
  wl.reset();  // closes both: the stage ends (--exit-on-close), and so its output and the probe
  wr.reset();
  EXPECT_EQ(stage.exit_code(10s), 0) << stage.errors();
  std::size_t frames = 0;
  for (const json& j : probe.objects(is_closed)) {
    if (j["event"] != "frame") continue;
    ++frames;
    EXPECT_EQ(j["format"], "gray16");
    EXPECT_EQ(j["origin_stream"], left.name());
  }
  EXPECT_GE(frames, 1u) << probe.errors();
  EXPECT_EQ(probe.exit_code(10s), 0) << probe.errors();
}

// Started before the producer, the recorder takes every frame (lossless) and finishes the file
// when the producer closes the stream: exactly the producer's frames, decodable.
TEST(Samples, RecorderWritesEveryFrameAndFinishesTheFileOnClose) {
  StreamGuard cam("smp-rec");
  TempFile file("rec.avi");
  const int kFrames = 45;
  auto recorder = waiting_recorder(cam.name(), file.path, {"--fps", "30"});
  Proc& rec = *recorder;
  Proc producer({kProducer, "--name", cam.name(), "--frames", std::to_string(kFrames), "--fps", "30", "--width", "320",
                 "--height", "240", "--format", "gray8", "--slots", "4"});
  EXPECT_EQ(producer.exit_code(20s), 0) << producer.errors();
  auto s = summary(rec, 10s);
  ASSERT_TRUE(s) << rec.errors();
  EXPECT_EQ(rec.exit_code(10s), 0) << rec.errors();
  EXPECT_EQ(s->first_seq, 1u) << "the recorder attached after the producer's second frame: " << s->line;
  EXPECT_EQ(s->frames, static_cast<std::uint64_t>(kFrames)) << s->line;
  EXPECT_NE(s->line.find("0 dropped, 0 demotions"), std::string::npos) << s->line;
  auto v = decode(file.path);
  ASSERT_TRUE(v) << "OpenCV cannot open " << file.path;
  EXPECT_EQ(v->frames, kFrames);
  EXPECT_EQ(v->header_frames, kFrames);
  EXPECT_EQ(v->size, cv::Size(320, 240));
  EXPECT_EQ(v->distinct_first_last, 1) << "first and last frames are the same: the pattern did not move";
}

// Ctrl-C while recording a live stream: exit 0 and a finished file holding what was written.
TEST(Samples, RecorderCtrlCLeavesADecodableFile) {
  StreamGuard cam("smp-recint");
  TempFile file("recint.avi");
  Proc producer({kProducer, "--name", cam.name(), "--fps", "30", "--width", "320", "--height", "240"});
  Proc rec({kRecord, "--name", cam.name(), "--output", file.path});
  ASSERT_TRUE(rec.err->recv_prefix("shmframe-record: progress: ", 10s)) << "no progress line";
  rec.proc->signal(SIGINT);
  auto s = summary(rec, 10s);
  ASSERT_TRUE(s) << rec.errors();
  EXPECT_EQ(rec.exit_code(10s), 0) << rec.errors();
  EXPECT_NE(s->line.find("ended: stopped"), std::string::npos) << s->line;
  EXPECT_GT(s->frames, 0u);
  auto v = decode(file.path);
  ASSERT_TRUE(v) << "OpenCV cannot open " << file.path << " after Ctrl-C";
  EXPECT_EQ(static_cast<std::uint64_t>(v->frames), s->frames);
  EXPECT_EQ(v->header_frames, static_cast<double>(s->frames));
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.exit_code(10s), 0);
}

// A new frame size is a new file (NAME-2.avi); the first one is finished, not truncated.
TEST(Samples, RecorderStartsANewFileWhenTheFrameSizeChanges) {
  StreamGuard cam("smp-recsize");
  TempFile file("recsize.avi"), second("recsize-2.avi");
  auto recorder = waiting_recorder(cam.name(), file.path, {"--follow"});
  Proc& rec = *recorder;
  {
    Proc p1({kProducer, "--name", cam.name(), "--frames", "10", "--fps", "30", "--width", "320", "--height", "240"});
    ASSERT_EQ(p1.exit_code(20s), 0) << p1.errors();
  }
  ASSERT_TRUE(rec.err->recv_prefix("shmframe-record: recording", 10s));
  {
    Proc p2({kProducer, "--name", cam.name(), "--frames", "10", "--fps", "30", "--width", "160", "--height", "120"});
    ASSERT_EQ(p2.exit_code(20s), 0) << p2.errors();
  }
  ASSERT_TRUE(rec.err->recv_prefix("shmframe-record: recording", 10s)) << "no second file";
  rec.proc->signal(SIGINT);
  auto s = summary(rec, 10s);
  ASSERT_TRUE(s) << rec.errors();
  EXPECT_EQ(rec.exit_code(10s), 0);
  EXPECT_NE(s->line.find(file.path + " ("), std::string::npos) << s->line;
  EXPECT_NE(s->line.find(second.path + " ("), std::string::npos) << s->line;
  auto v1 = decode(file.path), v2 = decode(second.path);
  ASSERT_TRUE(v1 && v2);
  EXPECT_EQ(v1->size, cv::Size(320, 240));
  EXPECT_EQ(v2->size, cv::Size(160, 120));
  EXPECT_GT(v1->frames, 0);
  EXPECT_GT(v2->frames, 0);
  EXPECT_EQ(static_cast<std::uint64_t>(v1->frames + v2->frames), s->frames);
}

// A jpeg stream (a camera's MJPEG) is stored as it comes: every frame of the producer, its bytes
// unchanged, as one video chunk of the AVI file: the chunks' crc32s are the probe's, frame for
// frame. The file plays (OpenCV decodes it) with the stream's size.
TEST(Samples, RecorderStoresJpegFramesByteForByte) {
  StreamGuard cam("smp-recjpeg");
  TempFile file("recjpeg.avi");
  const int kFrames = 30;
  auto recorder = waiting_recorder(cam.name(), file.path, {"--fps", "30"});
  Proc& rec = *recorder;
  Proc probe({kConsumer, "--name", cam.name(), "--processor", "probe", "--lossless", "--exit-on-close", "--timeout-ms",
              "20000"});
  Proc producer({kProducer, "--name", cam.name(), "--frames", std::to_string(kFrames), "--fps", "30", "--width", "320",
                 "--height", "240", "--format", "jpeg", "--slots", "4"});
  const auto recording = rec.err->recv_prefix("shmframe-record: recording", 20s);
  ASSERT_TRUE(recording) << rec.errors();
  SKIP_WITHOUT_PASSTHROUGH(*recording);
  EXPECT_NE(recording->find("JPEG frames stored as they come"), std::string::npos) << *recording;
  EXPECT_EQ(producer.exit_code(20s), 0) << producer.errors();
  std::vector<std::string> probe_crcs;
  for (const auto& j : probe.objects(is_closed)) {
    if (j.contains("crc32") && j.contains("seq")) probe_crcs.push_back(j["crc32"].get<std::string>());
  }
  EXPECT_EQ(probe.exit_code(10s), 0) << probe.errors();
  auto s = summary(rec, 10s);
  ASSERT_TRUE(s) << rec.errors();
  EXPECT_EQ(rec.exit_code(10s), 0) << rec.errors();
  EXPECT_EQ(s->frames, static_cast<std::uint64_t>(kFrames)) << s->line;
  EXPECT_NE(s->line.find("0 dropped, 0 demotions, 0 overwritten, 0 undecodable"), std::string::npos) << s->line;
  const auto frames = avi_frames(file.path);
  ASSERT_TRUE(frames) << file.path << " is not an AVI file with a movi list";
  ASSERT_EQ(probe_crcs.size(), static_cast<std::size_t>(kFrames));
  ASSERT_EQ(frames->size(), probe_crcs.size());
  for (std::size_t i = 0; i < frames->size(); ++i) EXPECT_EQ(crc_hex((*frames)[i]), probe_crcs[i]) << "frame " << i;
  auto v = decode(file.path);
  ASSERT_TRUE(v) << "OpenCV cannot open " << file.path;
  EXPECT_EQ(v->frames, kFrames);
  EXPECT_EQ(v->size, cv::Size(320, 240));
}

// Stored JPEGs are checked first: a frame that is not a JPEG of the stream's size is skipped and
// counted, never written into the file; the good ones around it are stored unchanged.
TEST(Samples, RecorderSkipsFramesThatAreNotJpegsOfTheStreamsSize) {
  StreamGuard cam("smp-recbadjpeg");
  TempFile file("recbadjpeg.avi");
  auto recorder = waiting_recorder(cam.name(), file.path);
  Proc& rec = *recorder;
  shmframe::WriterOptions o;
  o.format = shmframe::FrameFormat{64, 48, shmframe::PixelFormat::jpeg, 0};
  o.slots = 4;
  shmframe::Writer w(cam.name(), o);
  const auto recording = rec.err->recv_prefix("shmframe-record: recording", 20s);
  ASSERT_TRUE(recording) << rec.errors();
  SKIP_WITHOUT_PASSTHROUGH(*recording);
  const auto jpeg = [](int width, int height, int shade) {
    std::vector<uchar> out;
    cv::imencode(".jpg", cv::Mat(height, width, CV_8UC3, cv::Scalar(shade, 255 - shade, 40)), out);
    return std::string(out.begin(), out.end());
  };
  const std::vector<std::string> sent = {jpeg(64, 48, 10), std::string(500, 'Z'), jpeg(32, 48, 90),
                                         std::string("\xFF\xD8\xFF"), jpeg(64, 48, 200)};
  // The recorder is lossless: each publish waits for it (up to the writer's max block).
  for (const auto& b : sent) {
    const auto r = w.publish_payload(std::as_bytes(std::span(b.data(), b.size())), shmframe::monotonic_ns());
    ASSERT_TRUE(r) << shmframe::explain(r.status);
  }
  w.close();
  auto s = summary(rec, 20s);
  ASSERT_TRUE(s) << rec.errors();
  EXPECT_EQ(rec.exit_code(10s), 0) << rec.errors();
  EXPECT_EQ(s->frames, 2u) << s->line;
  EXPECT_NE(s->line.find("0 overwritten, 3 undecodable"), std::string::npos) << s->line;
  const auto frames = avi_frames(file.path);
  ASSERT_TRUE(frames) << file.path;
  ASSERT_EQ(frames->size(), 2u);
  EXPECT_EQ((*frames)[0], sent[0]);
  EXPECT_EQ((*frames)[1], sent[4]);
}

TEST(Samples, RecorderRefusesAnOutputItCannotWrite) {
  StreamGuard cam("smp-recbad");
  Proc rec({kRecord, "--name", cam.name(), "--output", "/nonexistent-dir/x.avi"});
  EXPECT_EQ(rec.exit_code(10s), 2);
  const std::string err = rec.errors();
  EXPECT_NE(err.find("'/nonexistent-dir/x.avi'"), std::string::npos) << err;
  EXPECT_NE(err.find("create its directory"), std::string::npos) << err;
  Proc usage({kRecord, "--name", cam.name()});
  EXPECT_EQ(usage.exit_code(10s), 2);
  EXPECT_NE(usage.errors().find("--output is required"), std::string::npos);
}
