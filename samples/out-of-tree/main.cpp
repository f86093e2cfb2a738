// frame-reader: reads frames from a shmframe stream and prints, for each one, its sequence
// number, its size and its mean brightness, computed in place on the shared pixels through a
// cv::Mat view (no copy) and kept only when the frame was still valid afterwards.
//   frame-reader NAME [COUNT]   waits for stream NAME; exits 0 after COUNT frames (default: run
//                               until Ctrl-C / SIGTERM, then exit 0); 1 on an unusable stream.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <opencv2/core.hpp>
#include <shmframe/opencv.hpp>  // frame.mat()
#include <shmframe/shmframe.hpp>

namespace {
std::atomic<bool> g_stop{false};  // lock-free, so it may be set from a signal handler
void on_signal(int) { g_stop.store(true); }

// Mean over all pixels and channels: a brightness good enough for any of the 8-bit formats.
double mean_brightness(const cv::Mat& m) {
  const cv::Scalar per_channel = cv::mean(m);
  double sum = 0;
  for (int c = 0; c < m.channels(); ++c) sum += per_channel[c];
  return m.channels() > 0 ? sum / m.channels() : 0.0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s NAME [COUNT]\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  const unsigned long long count = argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 0;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: Reader::wait returns "interrupted"
  sigaction(SIGTERM, &sa, nullptr);

  try {
    shmframe::Reader reader(name);  // waits for the stream to appear, follows producer restarts
    std::fprintf(stderr, "waiting for stream '%s'\n", name.c_str());
    unsigned long long taken = 0;
    while (!g_stop.load() && (count == 0 || taken < count)) {
      shmframe::Event e = reader.wait(std::chrono::seconds(1));
      if (e.kind == shmframe::EventKind::error) {  // the stream exists but cannot be used
        std::fprintf(stderr, "%s\n", e.message.c_str());
        return 1;
      }
      if (e.kind != shmframe::EventKind::frame) continue;
      const cv::Mat view = e.frame.mat();  // the slot's pixels, no copy
      const double mean = mean_brightness(view);
      if (!e.frame.still_valid()) continue;  // the producer overwrote it while we read: discard
      std::printf("seq %llu %dx%d mean %.1f\n", static_cast<unsigned long long>(e.frame.seq()), view.cols, view.rows,
                  mean);
      std::fflush(stdout);
      ++taken;
    }
  } catch (const shmframe::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
