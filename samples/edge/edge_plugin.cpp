// samples/edge/edge_plugin.cpp: Canny edge detection as a pipeline stage (plugin "edge").
// Reads any pixel format (nv12 / i420: Canny on the Y plane in place, no conversion), publishes
// the edges as gray8 to the consumer's --output stream, and
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
    const shmframe::FrameFormat edges{input.width(), input.height(), shmframe::PixelFormat::gray8, 0};
    const shmframe::OutputBuffer out = output.acquire(edges);
    // No --output (or the output failed, which run() reports and ends on): still do the work, so
    // the plugin can be timed alone.
    if (!out && !warned_ && !output.enabled()) {
      warned_ = true;
      log_(shmframe::LogLevel::warn, "no --output stream, the edges are computed and dropped");
    }
    cv::Mat dst = out ? out.mat() : scratch_;  // out: written straight into the output slot
    const shmframe::PixelFormat pf = input.pixel_format();
    if (pf == shmframe::PixelFormat::nv12 || pf == shmframe::PixelFormat::i420) {
      // The Y plane is the gray picture: Canny reads it in place, no conversion, no copy.
      const shmframe::PlaneView y = input.plane(0);
      const cv::Mat luma(static_cast<int>(y.rows), static_cast<int>(y.row_bytes), CV_8UC1,
                         const_cast<std::byte*>(y.data), y.stride);  // NOLINT: read only
      cv::Canny(luma, dst, low_, high_);
    } else {
      // Every other format: our own gray copy first (yuyv / uyvy: their Y samples gathered, no
      // colour conversion), so that Canny never reads pixels the producer may be rewriting.
      if (!shmframe::to_gray(input.mat(), pf, gray_)) return false;  // a jpeg that does not decode
      cv::Canny(gray_, dst, low_, high_);
    }
    // The seqlock rule: what was read (in place or copied) is valid only if the frame still is.
    if (!input.still_valid()) return false;
    if (out && !output.commit() && !commit_failed_) {  // cannot happen without user metadata; say so once
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
