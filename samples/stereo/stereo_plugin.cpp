// samples/stereo/stereo_plugin.cpp: stereo block matching over a synchronised pair (plugin
// "stereo"). Takes sets of two streams (left, right: rectified, one size, any pixel format, made
// gray), computes the disparity with OpenCV's StereoBM (or StereoSGBM) and publishes it as gray16
// to the consumer's --output stream: disparity x 16 (OpenCV's fixed point, 4 fractional bits),
// 0 where no match was found. The output carries the left frame's capture time and origin.
//   shmframe-producer --name left --phase-lock --format gray8 &
//   shmframe-producer --name right --phase-lock --format gray8 &
//   shmframe-consumer --name left --name right --sync exact --plugin stereo --output disparity &
//   (options: --plugin-arg algorithm=sgbm --plugin-arg disparities=64 --plugin-arg block=9)
//   shmframe-viewer --name disparity
#include <cmath>
#include <stdexcept>
#include <string>

#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/opencv_convert.hpp>
#include <shmframe/plugin.hpp>

namespace {

class Stereo final : public shmframe::SetProcessor {
 public:
  explicit Stereo(shmframe::PluginArgs& args)
      : algorithm_(args.get("algorithm", "bm")), disparities_(args.number("disparities", 64)),
        block_(args.number("block", 15)) {
    if (algorithm_ != "bm" && algorithm_ != "sgbm") {
      throw std::invalid_argument("algorithm=" + algorithm_ + " is not one of bm, sgbm");
    }
    if (!std::isfinite(disparities_) || !std::isfinite(block_)) {
      throw std::invalid_argument("disparities and block must be whole numbers");
    }
    if (disparities_ < 16 || disparities_ > 1024 || static_cast<int>(disparities_) % 16 != 0 ||
        disparities_ != static_cast<int>(disparities_)) {
      throw std::invalid_argument("disparities=" + std::to_string(disparities_) +
                                  " must be a multiple of 16 from 16 to 1024");
    }
    const int block = static_cast<int>(block_);
    const int smallest = algorithm_ == "bm" ? 5 : 1;
    if (block != block_ || block % 2 == 0 || block < smallest || block > 255) {
      throw std::invalid_argument("block=" + std::to_string(block_) + " must be odd, from " + std::to_string(smallest) +
                                  " to 255");
    }
    const int n = static_cast<int>(disparities_);
    if (algorithm_ == "bm") {
      matcher_ = cv::StereoBM::create(n, block);
    } else {
      matcher_ = cv::StereoSGBM::create(0, n, block, 8 * block * block, 32 * block * block, 1, 0, 10, 100, 2,
                                        cv::StereoSGBM::MODE_SGBM);
    }
    log_ = args.logger();
  }

  bool on_set(std::span<const shmframe::Input> set, shmframe::Output& output) override {
    if (set.size() != 2) {
      throw std::invalid_argument("stereo takes a pair (--name LEFT --name RIGHT), not " + std::to_string(set.size()) +
                                  " streams");
    }
    const shmframe::Input& left = set[0];
    const shmframe::Input& right = set[1];
    if (left.width() != right.width() || left.height() != right.height()) {
      throw std::invalid_argument("left is " + std::to_string(left.width()) + "x" + std::to_string(left.height()) +
                                  " and right " + std::to_string(right.width()) + "x" + std::to_string(right.height()) +
                                  ": stereo needs a rectified pair of one size");
    }
    // Our own gray copies first, validated: the matcher never reads pixels being rewritten.
    const bool decoded = shmframe::to_gray(left.mat(), left.pixel_format(), left_) &&
                         shmframe::to_gray(right.mat(), right.pixel_format(), right_);
    if (!shmframe::still_valid(set)) return false;  // overwritten meanwhile: discarded
    if (!decoded) throw std::runtime_error("a frame of the pair is not a picture (a jpeg that does not decode)");
    matcher_->compute(left_, right_, disparity_);  // CV_16S, x16, negative where unknown
    const shmframe::OutputBuffer out = output.acquire(
        shmframe::FrameFormat{left.width(), left.height(), shmframe::PixelFormat::gray16, 0});
    if (!out) {
      if (!warned_ && !output.enabled()) {
        warned_ = true;
        log_(shmframe::LogLevel::warn, "no --output stream, the disparity is computed and dropped");
      }
      return true;
    }
    cv::Mat dst = out.mat();
    disparity_.convertTo(dst, CV_16U);  // saturating: unknown (negative) becomes 0
    output.commit();
    return true;
  }

 private:
  std::string algorithm_;
  double disparities_, block_;
  cv::Ptr<cv::StereoMatcher> matcher_;
  shmframe::LogCallback log_;
  cv::Mat left_, right_, disparity_;
  bool warned_ = false;
};

}  // namespace

SHMFRAME_PLUGIN(Stereo, "stereo",
                "stereo block matching over a synchronised pair (--sync, left then right), published as gray16 "
                "disparity x 16 (args: algorithm=bm|sgbm, disparities=64, block=15)")
