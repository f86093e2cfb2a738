// samples/motion/motion_plugin.cpp: a motion detector (plugin "motion").
// Differences each frame against a running background (cv::accumulateWeighted), thresholds and
// dilates the difference, and reports the bounding boxes of the moving regions: one JSON line
// per frame on stdout,
//   {"seq":42,"origin_seq":42,"boxes":[[x,y,w,h],...]}
// With the consumer's --output it also publishes the frame (bgr8) with the boxes drawn.
//   shmframe-consumer --name cam0 --plugin motion [--plugin-arg min_area=200] [--output cam0-motion]
// Args: threshold (0-255, default 25), min_area (pixels, default 100), alpha (background
// learning rate, 0 < alpha <= 1; 1 = difference with the previous frame only; default 0.5).
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/plugin.hpp>

#include <shmframe/opencv_convert.hpp>

namespace {

// {"seq":..,"origin_seq":..,"boxes":[[x,y,w,h],...]}: numbers only, so no escaping is needed.
std::string json_line(std::uint64_t seq, std::uint64_t origin_seq, const std::vector<cv::Rect>& boxes) {
  std::string s = "{\"seq\":" + std::to_string(seq) + ",\"origin_seq\":" + std::to_string(origin_seq) + ",\"boxes\":[";
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const cv::Rect& b = boxes[i];
    s += (i == 0 ? "[" : ",[") + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.width) + "," +
         std::to_string(b.height) + "]";
  }
  return s + "]}\n";
}

class Motion final : public shmframe::Processor {
 public:
  explicit Motion(shmframe::PluginArgs& args)
      : threshold_(args.number("threshold", 25)), min_area_(args.number("min_area", 100)),
        alpha_(args.number("alpha", 0.5)) {
    if (threshold_ < 0 || threshold_ > 255) throw std::invalid_argument("threshold must be 0..255");
    if (min_area_ < 0) throw std::invalid_argument("min_area must be >= 0");
    if (!(alpha_ > 0 && alpha_ <= 1)) throw std::invalid_argument("alpha must be in (0, 1]");
  }

  void on_attached(const shmframe::StreamInfo&) override { background_.release(); }  // new generation: relearn

  bool on_frame(const shmframe::Input& input, shmframe::Output& output) override {
    // Everything read from the slot (the gray copy, and the annotated copy when publishing) is
    // read before the one validation below.
    shmframe::to_gray(input.mat(), input.pixel_format(), gray_);
    shmframe::OutputBuffer out;
    if (output.enabled()) {
      out = output.acquire(shmframe::FrameFormat{input.width(), input.height(), shmframe::PixelFormat::bgr8, 0});
      if (out) {
        cv::Mat annotated = out.mat();
        shmframe::to_bgr(input.mat(), input.pixel_format(), annotated);
      }
    }
    if (!input.still_valid()) return false;  // overwritten meanwhile: the output buffer is abandoned

    const std::vector<cv::Rect> boxes = detect();
    const std::string line = json_line(input.seq(), input.origin().seq, boxes);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);  // one line per frame, readable as it happens (stdout may be a pipe)

    if (out) {
      cv::Mat annotated = out.mat();
      for (const cv::Rect& b : boxes) cv::rectangle(annotated, b, cv::Scalar(0, 255, 0), 2);
      (void)output.commit();  // fails only with too much user metadata, and we send none
    }
    return true;
  }

 private:
  std::vector<cv::Rect> detect() {
    std::vector<cv::Rect> boxes;
    cv::GaussianBlur(gray_, gray_, cv::Size(5, 5), 0);  // sensor noise is not motion
    if (background_.empty() || background_.size() != gray_.size()) {
      gray_.convertTo(background_, CV_32F);  // first frame: nothing to compare with yet
      return boxes;
    }
    background_.convertTo(background8_, CV_8U);
    cv::absdiff(gray_, background8_, diff_);
    cv::threshold(diff_, diff_, threshold_, 255, cv::THRESH_BINARY);
    cv::dilate(diff_, diff_, cv::Mat(), cv::Point(-1, -1), 2);  // join the pieces of one object
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(diff_, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    for (const auto& c : contours) {
      if (cv::contourArea(c) >= min_area_) boxes.push_back(cv::boundingRect(c));
    }
    cv::accumulateWeighted(gray_, background_, alpha_);
    return boxes;
  }

  double threshold_, min_area_, alpha_;
  cv::Mat gray_, background_, background8_, diff_;
};

}  // namespace

SHMFRAME_PLUGIN(Motion, "motion",
                "Motion boxes as JSON lines on stdout; with --output, the frame with the boxes drawn "
                "(args: threshold=25, min_area=100, alpha=0.5)")
