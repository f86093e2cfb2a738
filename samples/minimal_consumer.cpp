// samples/minimal_consumer.cpp: the smallest useful consumer. Follows a stream across
// producer restarts and prints the mean brightness of each frame, read in place.
//   build/release/samples/shmframe-sample-consumer cam0
#include <cstdio>
#include <opencv2/core.hpp>
#include <shmframe/opencv.hpp>  // frame.mat(): a cv::Mat view, no copy
#include <shmframe/shmframe.hpp>

int main(int argc, char** argv) {
  const char* name = argc > 1 ? argv[1] : "cam0";
  try {
    shmframe::Reader reader(name);
    for (int taken = 0; taken < 300;) {
      shmframe::Event e = reader.wait(std::chrono::seconds(5));
      if (e.kind == shmframe::EventKind::frame) {
        const cv::Scalar mean = cv::mean(e.frame.mat());  // zero copy: the slot's pixels
        if (!e.frame.still_valid()) continue;             // overwritten while we read: discard
        std::printf("seq %llu mean %.1f (dropped %llu)\n", static_cast<unsigned long long>(e.frame.seq()), mean[0],
                    static_cast<unsigned long long>(e.dropped));
        ++taken;
      } else if (e.kind == shmframe::EventKind::error) {
        std::fprintf(stderr, "%s\n", e.message.c_str());
        return 1;
      } else if (e.kind != shmframe::EventKind::timeout) {
        std::printf("%s\n", std::string(shmframe::to_string(e.kind)).c_str());
      }
    }
  } catch (const shmframe::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
