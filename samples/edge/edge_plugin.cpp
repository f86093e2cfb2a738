// samples/edge/edge_plugin.cpp: Canny edge detection as a pipeline stage (plugin "edge").
// Reads any pixel format, publishes the edges as gray8 to the consumer's --output stream, and
// follows the input's format changes (a new size starts a new output generation).
//   shmframe-producer --name cam0 &
//   shmframe-consumer --name cam0 --plugin edge --output cam0-edges [--plugin-arg low=40 --plugin-arg high=120] &
//   shmframe-consumer --name cam0-edges --processor probe
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/plugin.hpp>

#include <shmframe/opencv_convert.hpp>

namespace {

class Edges final : public shmframe::Processor {
 public:
  explicit Edges(shmframe::PluginArgs& args) : low_(args.number("low", 60)), high_(args.number("high", 180)) {
    if (low_ < 0 || high_ < low_) {
      throw std::invalid_argument("thresholds must satisfy 0 <= low <= high (got low=" + std::to_string(low_) +
                                  " high=" + std::to_string(high_) + ")");
    }
    log_ = args.logger();
  }

  bool on_frame(const shmframe::Input& input, shmframe::Output& output) override {
    // Our own gray copy first, then validate it: Canny must not read pixels the producer may be
    // rewriting. After this check the slot is never touched again.
    shmframe::to_gray(input.mat(), input.pixel_format(), gray_);
    if (!input.still_valid()) return false;

    const shmframe::FrameFormat edges{input.width(), input.height(), shmframe::PixelFormat::gray8, 0};
    const shmframe::OutputBuffer out = output.acquire(edges);
    if (!out) {
      // No --output (or the output failed, which run() reports and ends on): still do the work,
      // so the plugin can be timed alone.
      if (!warned_ && !output.enabled()) {
        warned_ = true;
        log_(shmframe::LogLevel::warn, "no --output stream, the edges are computed and dropped");
      }
      cv::Canny(gray_, scratch_, low_, high_);
      return true;
    }
    cv::Mat dst = out.mat();
    cv::Canny(gray_, dst, low_, high_);  // written straight into the output slot (same size and type: no reallocation)
    if (!output.commit() && !commit_failed_) {  // cannot happen without user metadata; say so once if it does
      commit_failed_ = true;
      log_(shmframe::LogLevel::error, "committing an output frame failed");
    }
    return true;
  }

 private:
  double low_, high_;
  shmframe::LogCallback log_;
  cv::Mat gray_, scratch_;
  bool warned_ = false, commit_failed_ = false;
};

}  // namespace

SHMFRAME_PLUGIN(Edges, "edge", "Canny edges of the input, published as gray8 (args: low=60, high=180)")
