// samples/edge_stage.cpp: a pipeline stage. Reads stream IN, runs Canny edge detection
// straight from the shared slot, and publishes the edges as stream OUT (gray8) for the next
// stage, following IN's format changes.
//   shmframe-producer --name cam0 &
//   build/release/samples/shmframe-sample-edge-stage cam0 cam0-edges &
//   shmframe-consumer --name cam0-edges
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

namespace {
std::atomic<bool> g_stop{false};  // lock-free, so safe to set from a signal handler
void on_signal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: Reader::wait returns "interrupted"
  sigaction(SIGTERM, &sa, nullptr);
  try {
    shmframe::Reader in(argv[1]);
    std::unique_ptr<shmframe::Writer> out;
    cv::Mat gray;
    while (!g_stop.load()) {
      shmframe::Event e = in.wait(std::chrono::seconds(1));
      if (e.kind == shmframe::EventKind::error) throw shmframe::Error(shmframe::errc::corrupt, e.message);
      if (e.kind != shmframe::EventKind::frame) continue;
      const cv::Mat src = e.frame.mat();
      // Take our own gray copy (even of gray8 input), then validate it: Canny must not read
      // pixels the producer may be rewriting.
      if (src.channels() == 1) src.copyTo(gray);
      else cv::cvtColor(src, gray, src.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
      if (!e.frame.still_valid()) continue;  // the input was overwritten while we converted it
      const shmframe::FrameFormat f{static_cast<std::uint32_t>(gray.cols), static_cast<std::uint32_t>(gray.rows),
                                    shmframe::PixelFormat::gray8, 0};
      if (!out) {
        shmframe::WriterOptions o;
        o.format = f;
        out = std::make_unique<shmframe::Writer>(argv[2], o);
      } else if (!(out->format() == f)) {
        out->reconfigure(f);
      }
      shmframe::WriteSlot slot = out->acquire();
      cv::Canny(gray, slot.mat(), 60, 180);  // written straight into the output slot
      // Keep the capture time: end-to-end latency stays measurable across the chain.
      if (const auto c = out->commit(slot, e.frame.capture_ns()); !c) {
        std::fprintf(stderr, "commit failed: %s\n", std::string(shmframe::to_string(c.status)).c_str());
        return 1;
      }
    }
  } catch (const shmframe::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
