// bench/format_bench.cpp: shmframe-format-bench, what carrying camera-native formats saves at
// 1920x1080 (issue 19; docs/PERFORMANCE.md, "Camera-native formats"). Every number is a ratio
// against a baseline measured in the same run, on the same buffers:
//   1. YUYV producer: CPU per frame to publish a camera's YUYV frame (one copy into the slot +
//      commit), against one memcpy of the same 4.1 MB, and against today's path (cvtColor
//      YUYV -> BGR, then publish the 6.2 MB BGR frame).
//   2. MJPEG passthrough: CPU per frame to publish a camera's JPEG as it is, against decoding
//      the same JPEG to BGR (libjpeg-turbo, what a BGR-only transport makes the producer do).
//   3. Zero-copy hand-off p50 (commit -> taken by a blocked reader in another thread) of NV12
//      against BGR at 1080p, in alternating rounds.
// Times are CPU time of the whole process (CLOCK_PROCESS_CPUTIME_ID: cvtColor runs on OpenCV's worker
// threads too; the Writer's heartbeat thread is idle), the median of --rounds
// rounds of --frames frames each.
//
// Usage: shmframe-format-bench [--frames N] [--rounds R] [--json FILE]   (--help)
#include <turbojpeg.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <shmframe/opencv.hpp>
#include <shmframe/pattern.hpp>
#include <shmframe/shmframe.hpp>

namespace {

constexpr std::uint32_t kW = 1920;
constexpr std::uint32_t kH = 1080;

std::uint64_t thread_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  // all threads: OpenCV converts on several
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Microseconds of thread CPU per call of `f`, median over rounds.
template <class F>
double per_frame_us(int rounds, int frames, F&& f) {
  std::vector<double> r;
  for (int i = 0; i < rounds; ++i) {
    const std::uint64_t t0 = thread_ns();
    for (int k = 0; k < frames; ++k) f(k);
    r.push_back(static_cast<double>(thread_ns() - t0) / 1000.0 / frames);
  }
  return median(r);
}

std::string stream_name(const char* tag) { return std::string("format-bench-") + tag + "-" + std::to_string(getpid()); }

shmframe::WriterOptions options(shmframe::FrameFormat f) {
  shmframe::WriterOptions o;
  o.format = f;
  o.slots = 3;
  return o;
}

// Hand-off p50 in us: a reader thread blocked in wait(), the writer committing every 2 ms.
double handoff_p50_us(shmframe::PixelFormat pf, int frames) {
  const std::string name = stream_name(pf == shmframe::PixelFormat::nv12 ? "h-nv12" : "h-bgr");
  shmframe::Writer w(name, options(shmframe::FrameFormat{kW, kH, pf, 0}));
  shmframe::Reader r(name);
  r.attach(std::chrono::seconds(2));
  std::vector<double> lat;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      shmframe::Event e = r.wait(std::chrono::milliseconds(200));
      if (e.kind != shmframe::EventKind::frame) continue;
      const std::uint64_t now = shmframe::monotonic_ns();
      lat.push_back(static_cast<double>(now - e.frame.commit_ns()) / 1000.0);
    }
  });
  for (int i = 0; i < frames; ++i) {
    shmframe::WriteSlot s = w.acquire();
    std::memset(s.data(), i & 0xff, 64);  // zero copy: the producer draws in place (a token write)
    (void)w.commit(s, shmframe::monotonic_ns());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  done = true;
  r.interrupt();
  reader.join();
  return median(lat);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "shmframe-format-bench: what carrying camera-native formats saves at 1920x1080, as ratios against baselines "
      "in the same run (docs/PERFORMANCE.md, \"Camera-native formats\")."};
  int frames = 60;
  int rounds = 5;
  std::string json;
  cli.add_option("--frames", frames, "Frames a round")->check(CLI::Range(1, 100'000))->capture_default_str();
  cli.add_option("--rounds", rounds, "Rounds (the median is reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cli.add_option("--json", json, "Also write the results as JSON to PATH");
  CLI11_PARSE(cli, argc, argv);
  using shmframe::FrameFormat;
  using shmframe::PixelFormat;

  // A camera's frames: the test pattern in YUYV, and as a JPEG (quality 90).
  const FrameFormat yuyv_f{kW, kH, PixelFormat::yuyv, 0};
  std::vector<std::byte> yuyv(yuyv_f.frame_bytes());
  shmframe::fill_test_pattern(1, yuyv_f, yuyv.data(), yuyv_f.row_bytes());
  const FrameFormat bgr_f{kW, kH, PixelFormat::bgr8, 0};
  std::vector<std::uint8_t> bgr(bgr_f.frame_bytes());
  shmframe::fill_test_pattern(1, bgr_f, reinterpret_cast<std::byte*>(bgr.data()), bgr_f.row_bytes());
  tjhandle enc = tjInitCompress();
  tjhandle dec = tjInitDecompress();
  unsigned char* jpeg = nullptr;
  unsigned long jpeg_size = 0;  // NOLINT(google-runtime-int): TurboJPEG's type
  if (tjCompress2(enc, bgr.data(), kW, 0, kH, TJPF_BGR, &jpeg, &jpeg_size, TJSAMP_420, 90, 0) != 0) {
    std::fprintf(stderr, "JPEG encoding failed: %s\n", tjGetErrorStr2(enc));
    return 1;
  }

  // 1. YUYV.
  std::vector<std::byte> dst(yuyv.size());
  const double memcpy_us = per_frame_us(rounds, frames,
                                        [&](int) { std::memcpy(dst.data(), yuyv.data(), yuyv.size()); });
  double yuyv_us = 0;
  double convert_us = 0;
  {
    shmframe::Writer w(stream_name("yuyv"), options(yuyv_f));
    const shmframe::ImageView img{yuyv.data(), yuyv_f.row_bytes(), kW, kH, 2};
    yuyv_us = per_frame_us(rounds, frames, [&](int) { (void)w.publish(img, shmframe::monotonic_ns()); });
  }
  {
    shmframe::Writer w(stream_name("bgr"), options(bgr_f));
    const cv::Mat cam(static_cast<int>(kH), static_cast<int>(kW), CV_8UC2, yuyv.data());
    cv::Mat converted;
    convert_us = per_frame_us(rounds, frames, [&](int) {
      cv::cvtColor(cam, converted, cv::COLOR_YUV2BGR_YUYV);
      (void)w.publish(converted, shmframe::monotonic_ns());
    });
  }
  // 2. MJPEG.
  double jpeg_us = 0;
  {
    FrameFormat jf{kW, kH, PixelFormat::jpeg, 0};
    shmframe::Writer w(stream_name("jpeg"), options(jf));
    const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(jpeg), jpeg_size);
    jpeg_us = per_frame_us(rounds, frames, [&](int) { (void)w.publish_payload(payload, shmframe::monotonic_ns()); });
  }
  std::vector<std::uint8_t> decoded(bgr.size());
  const double decode_us = per_frame_us(rounds, std::max(1, frames / 4), [&](int) {
    (void)tjDecompress2(dec, jpeg, jpeg_size, decoded.data(), kW, 0, kH, TJPF_BGR, 0);
  });
  tjFree(jpeg);
  tjDestroy(enc);
  tjDestroy(dec);
  // 3. Hand-off, NV12 and BGR alternating.
  std::vector<double> nv12_p50;
  std::vector<double> bgr_p50;
  for (int i = 0; i < rounds; ++i) {
    nv12_p50.push_back(handoff_p50_us(PixelFormat::nv12, frames));
    bgr_p50.push_back(handoff_p50_us(PixelFormat::bgr8, frames));
  }
  const double nv12_us = median(nv12_p50);
  const double bgr_us = median(bgr_p50);

  std::printf("shmframe-format-bench: 1920x1080, median of %d rounds of %d frames (process CPU per frame)\n\n", rounds,
              frames);
  std::printf(
      "1. YUYV producer: publish %.0f us, one memcpy of the 4.1 MB frame %.0f us: %.2fx (goal <= 1.1x);\n"
      "   today's path, cvtColor to BGR + publish: %.0f us: %.1fx the native publish (expected >= 5x)\n",
      yuyv_us, memcpy_us, yuyv_us / memcpy_us, convert_us, convert_us / yuyv_us);
  std::printf("2. MJPEG passthrough: publish a %lu-byte JPEG %.1f us, decode it to BGR %.0f us: %.3fx (goal <= 0.1x)\n",
              jpeg_size, jpeg_us, decode_us, jpeg_us / decode_us);
  std::printf("3. zero-copy hand-off p50: NV12 %.1f us, BGR %.1f us: %.2fx (goal <= 1.1x)\n", nv12_us, bgr_us,
              nv12_us / bgr_us);
  if (!json.empty()) {
    std::ofstream out(json);
    out << "{\"width\": 1920, \"height\": 1080, \"frames\": " << frames << ", \"rounds\": " << rounds
        << ", \"yuyv_publish_us\": " << yuyv_us << ", \"memcpy_us\": " << memcpy_us
        << ", \"convert_publish_us\": " << convert_us << ", \"jpeg_bytes\": " << jpeg_size
        << ", \"jpeg_publish_us\": " << jpeg_us << ", \"jpeg_decode_us\": " << decode_us
        << ", \"handoff_p50_nv12_us\": " << nv12_us << ", \"handoff_p50_bgr_us\": " << bgr_us << "}\n";
  }
  return 0;
}
