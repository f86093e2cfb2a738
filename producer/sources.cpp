#include "sources.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/pattern.hpp>
#include <span>
#include <stdexcept>
#include <vector>

#include "jpeg.hpp"

namespace shmframe::producer {
namespace {

// The test pattern of the library (shmframe/pattern.hpp): a gradient, a bar sweeping across and
// the frame's seq in binary along the top, a pure function of (seq, format) that consumers can
// check (shmframe-consumer --processor probe --verify). Drawn straight into the slot, for the
// slot's seq (set_seq; grab's frame index until then, for callers that render outside a stream).
class TestPattern final : public Source {
 public:
  explicit TestPattern(const SourceOptions& o)
      : format_{o.width != 0 ? o.width : 640, o.height != 0 ? o.height : 480, o.pixel_format, 0},
        quality_(o.jpeg_quality) {
    if (format_.compressed()) {
      jpeg_ = std::make_unique<shmframe::app::Jpeg>();
      bgr_.resize(static_cast<std::size_t>(format_.width) * format_.height * 3);
    }
  }
  shmframe::FrameFormat format() const override { return format_; }
  double natural_fps() const override { return 30.0; }
  bool grab(std::uint64_t index) override {
    index_ = index;
    return true;
  }
  void set_seq(std::uint64_t seq) override { index_ = seq; }
  void render(shmframe::WriteSlot& slot) override {
    if (!format_.compressed()) {
      shmframe::MutablePlane planes[shmframe::kMaxPlanes];
      for (std::uint32_t i = 0; i < slot.plane_count(); ++i) planes[i] = slot.plane(i);
      shmframe::fill_test_pattern(index_, slot.format(), std::span(planes, slot.plane_count()));
      return;
    }
    // jpeg: the bgr8 pattern, encoded straight into the slot.
    const shmframe::FrameFormat bgr{format_.width, format_.height, shmframe::PixelFormat::bgr8, 0};
    shmframe::fill_test_pattern(index_, bgr, reinterpret_cast<std::byte*>(bgr_.data()), bgr.row_bytes());
    const std::size_t n = jpeg_->encode_bgr(bgr_.data(), format_.width, format_.height, bgr.row_bytes(), quality_,
                                            slot.data(), slot.capacity());
    slot.set_payload_bytes(n != 0 ? n : slot.capacity() + 1);  // 0: did not fit, refused at commit
  }
  std::string describe() const override { return "test pattern " + shmframe::to_string(format_); }

 private:
  shmframe::FrameFormat format_;
  int quality_;
  std::unique_ptr<shmframe::app::Jpeg> jpeg_;
  std::vector<std::uint8_t> bgr_;
  std::uint64_t index_ = 0;
};

// Anything OpenCV's VideoCapture opens: a file, a camera index, a GStreamer pipeline.
class CaptureSource final : public Source {
 public:
  CaptureSource(const SourceOptions& o, std::string what) : opt_(o), what_(std::move(what)) {
    using shmframe::PixelFormat;
    const PixelFormat f = o.pixel_format;
    if (f != PixelFormat::bgr8 && f != PixelFormat::rgb8 && f != PixelFormat::bgra8 && f != PixelFormat::rgba8 &&
        f != PixelFormat::gray8) {
      throw std::runtime_error(what_ + " is decoded by OpenCV to BGR: --format " + std::string(to_string(f)) +
                               " is not available for it (use bgr8, rgb8, bgra8, rgba8 or gray8; camera-native " +
                               "formats come from the test pattern or a GStreamer source)");
    }
    open();
    if (!cap_.read(decoded_) || decoded_.empty()) {
      throw std::runtime_error(what_ + ": opened, but no frame could be decoded (empty or unsupported video)");
    }
    have_first_ = true;
    update_format();
  }
  shmframe::FrameFormat format() const override { return format_; }
  double natural_fps() const override {
    const double f = cap_.get(cv::CAP_PROP_FPS);
    return (f > 0 && f < 1000) ? f : 0.0;
  }
  bool grab(std::uint64_t) override {
    if (have_first_) {
      have_first_ = false;
    } else if (!cap_.read(decoded_) || decoded_.empty()) {
      if (!opt_.loop || !reopen()) return false;
    }
    update_format();
    return true;
  }
  void render(shmframe::WriteSlot& ws) override {
    cv::Mat slot = ws.mat();
    // Frames go in exactly as OpenCV decodes them unless another format or size was asked.
    const cv::Mat* src = &decoded_;
    if (opt_.width != 0 && opt_.height != 0 &&
        (decoded_.cols != static_cast<int>(opt_.width) || decoded_.rows != static_cast<int>(opt_.height))) {
      cv::resize(decoded_, resized_, cv::Size(static_cast<int>(opt_.width), static_cast<int>(opt_.height)), 0, 0,
                 cv::INTER_AREA);
      src = &resized_;
    }
    const int code = conversion(src->channels());
    if (code < 0) {
      src->copyTo(slot);
    } else {
      cv::cvtColor(*src, slot, code);
    }
  }
  std::string describe() const override { return what_ + " " + shmframe::to_string(format_); }

 private:
  void open() {
    const std::string& s = opt_.spec;
    bool ok = false;
    if (s.rfind("file:", 0) == 0) {
      ok = cap_.open(s.substr(5), cv::CAP_ANY);
    } else if (s.rfind("camera:", 0) == 0) {
      int index = -1;
      try {
        index = std::stoi(s.substr(7));
      } catch (...) {
      }
      if (index < 0)
        throw std::runtime_error("bad camera spec '" + s + "': use camera:N with N >= 0 (camera:0 is /dev/video0)");
      ok = cap_.open(index, cv::CAP_V4L2);
    } else if (s.rfind("gst:", 0) == 0) {
      ok = cap_.open(s.substr(4), cv::CAP_GSTREAMER);
    }
    if (!ok) throw std::runtime_error("cannot open " + what_ + ": check that it exists and that OpenCV can decode it");
  }
  bool reopen() {
    cap_.release();
    open();
    return cap_.read(decoded_) && !decoded_.empty();
  }
  int conversion(int channels) const {
    using shmframe::PixelFormat;
    switch (opt_.pixel_format) {
      case PixelFormat::bgr8: return channels == 3 ? -1 : channels == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR;
      case PixelFormat::rgb8:
        return channels == 3 ? cv::COLOR_BGR2RGB : channels == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGRA2RGB;
      case PixelFormat::bgra8: return channels == 4 ? -1 : channels == 1 ? cv::COLOR_GRAY2BGRA : cv::COLOR_BGR2BGRA;
      case PixelFormat::gray8: return channels == 1 ? -1 : channels == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY;
      case PixelFormat::rgba8:
        return channels == 4 ? cv::COLOR_BGRA2RGBA : channels == 1 ? cv::COLOR_GRAY2RGBA : cv::COLOR_BGR2RGBA;
      default: break;  // refused in the constructor
    }
    return -1;
  }
  void update_format() {
    if (decoded_.depth() != CV_8U) {
      throw std::runtime_error(what_ + ": decoded frames are not 8-bit; shmframe streams carry 8-bit formats");
    }
    format_.width = opt_.width != 0 ? opt_.width : static_cast<std::uint32_t>(decoded_.cols);
    format_.height = opt_.height != 0 ? opt_.height : static_cast<std::uint32_t>(decoded_.rows);
    format_.pixel_format = opt_.pixel_format;
    format_.stride = 0;
  }

  SourceOptions opt_;
  std::string what_;
  cv::VideoCapture cap_;
  cv::Mat decoded_, resized_;
  bool have_first_ = false;
  shmframe::FrameFormat format_;
};

}  // namespace

std::unique_ptr<Source> make_source(const SourceOptions& o) {
  if (o.spec == "test") return std::make_unique<TestPattern>(o);
  if (o.spec.rfind("file:", 0) == 0 && o.spec.size() > 5)
    return std::make_unique<CaptureSource>(o, "video file '" + o.spec.substr(5) + "'");
  const bool camera = o.spec.rfind("camera:", 0) == 0;
  if (camera && o.spec.find_first_not_of("0123456789", 7) != std::string::npos) {
    throw std::runtime_error("bad camera spec '" + o.spec + "': use camera:N with N >= 0 (camera:0 is /dev/video0)");
  }
  const bool native = (camera && o.camera_format) || (o.spec.rfind("gst:", 0) == 0 && o.spec.size() > 4);
#ifdef SHMFRAME_PRODUCER_GST
  if (native) return make_gst_source(o);
#else
  if (camera && o.camera_format) {
    throw std::runtime_error(
        "--camera-format needs GStreamer: this shmframe-producer was built without it "
        "(apt-get install libgstreamer-plugins-base1.0-dev, then rebuild)");
  }
  if (native) return std::make_unique<CaptureSource>(o, "GStreamer pipeline '" + o.spec.substr(4) + "' (OpenCV, BGR)");
#endif
  if (camera) return std::make_unique<CaptureSource>(o, "camera " + o.spec.substr(7));
  throw std::runtime_error("unknown source '" + o.spec + "': use test, file:PATH, camera:N or gst:PIPELINE");
}

}  // namespace shmframe::producer
