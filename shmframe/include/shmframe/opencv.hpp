// shmframe/opencv.hpp: OpenCV access to frames and slots, header-only.
//
// The library itself needs no OpenCV; this adapter (link shmframe::opencv) makes
// frame.mat(), slot.mat(), input.mat(), buffer.mat() and writer.publish(cv::Mat, ...) work, and
// adds copy_latest() into a cv::Mat. Mats returned here are headers over shared memory: no copy, and no ownership (they
// must not outlive the Frame or WriteSlot they came from). Thread-safety as for Frame/WriteSlot.
#pragma once

#include <opencv2/core/mat.hpp>

#include "shmframe/frame.hpp"
#include "shmframe/processor.hpp"
#include "shmframe/reader.hpp"
#include "shmframe/writer.hpp"

namespace shmframe {

// OpenCV type of a format's Mat (CV_8UC1 gray8 / Bayer / jpeg bytes / the 4:2:0 formats,
// CV_16UC1 gray16, CV_8UC2 yuyv / uyvy, CV_8UC3, CV_8UC4); -1 for an unknown one.
inline int cv_type(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8:
    case PixelFormat::bayer_rggb8:
    case PixelFormat::bayer_bggr8:
    case PixelFormat::bayer_grbg8:
    case PixelFormat::bayer_gbrg8:
    case PixelFormat::nv12:
    case PixelFormat::i420:
    case PixelFormat::jpeg: return CV_8UC1;
    case PixelFormat::gray16: return CV_16UC1;
    case PixelFormat::yuyv:
    case PixelFormat::uyvy: return CV_8UC2;
    case PixelFormat::bgr8:
    case PixelFormat::rgb8: return CV_8UC3;
    case PixelFormat::bgra8:
    case PixelFormat::rgba8: return CV_8UC4;
  }
  return -1;
}

// The cv::Mat OpenCV's conversions expect for a frame laid out as `f` at `data`: packed formats
// height x width; nv12 / i420 the (height * 3 / 2) x width single-channel image of
// cv::COLOR_YUV2BGR_NV12 / _I420, which needs the planes back to back with OpenCV's strides
// (empty Mat otherwise: convert plane by plane); jpeg one row of `payload_bytes` bytes, for
// cv::imdecode. No copy.
inline cv::Mat cv_view(const FrameFormat& f, const std::byte* data, std::size_t payload_bytes) {
  if (data == nullptr || cv_type(f.pixel_format) < 0) return {};
  auto* p = const_cast<std::byte*>(data);  // cv::Mat has no read-only header type
  const int w = static_cast<int>(f.width);
  const int h = static_cast<int>(f.height);
  if (f.compressed()) return cv::Mat(1, static_cast<int>(payload_bytes), CV_8UC1, p);
  if (f.plane_count() == 1) return cv::Mat(h, w, cv_type(f.pixel_format), p, f.effective_stride());
  if (!f.opencv_420_image()) return {};
  return cv::Mat(h * 3 / 2, w, CV_8UC1, p, f.effective_stride());
}

namespace detail {

template <class Dummy>
struct OpenCvAdapter {
  // The Frame's contract (read only) holds for these headers though cv::Mat is not const.
  static cv::Mat view(const Frame& f) { return f ? cv_view(f.format(), f.data(), f.payload_bytes()) : cv::Mat(); }
  static cv::Mat view(const Input& in) { return cv_view(in.format(), in.data(), in.payload_bytes()); }
  static cv::Mat view(const OutputBuffer& b) {
    return b ? cv_view(b.format, b.data, b.format.frame_bytes()) : cv::Mat();
  }
  static cv::Mat view(WriteSlot& s) { return s ? cv_view(s.format(), s.data(), s.capacity()) : cv::Mat(); }
  static ImageView image(const cv::Mat& m) noexcept {
    ImageView v;
    if (m.empty() || m.dims != 2 || (m.depth() != CV_8U && m.depth() != CV_16U)) return v;  // 0: never matches
    v.data = m.data;
    v.stride = m.step[0];
    v.width = static_cast<std::uint32_t>(m.cols);
    v.height = static_cast<std::uint32_t>(m.rows);
    v.bytes_per_pixel = static_cast<std::uint32_t>(m.elemSize());
    return v;
  }
};

}  // namespace detail

// Copies the newest frame into `out` (reallocated to the stream's format: cv_view()'s shape, tight)
// and validates the copy; retries when the producer overwrote it meanwhile. False if there is no
// frame, and for jpeg (its size varies: use Frame::copy_to()).
inline bool copy_latest(Reader& reader, cv::Mat& out, std::uint64_t* seq = nullptr) {
  const FrameFormat fmt = reader.info().format;
  if (fmt.width == 0 || fmt.compressed()) return false;
  const int rows = static_cast<int>(fmt.plane_count() > 1 ? fmt.height * 3 / 2 : fmt.height);
  out.create(rows, static_cast<int>(fmt.width), cv_type(fmt.pixel_format));
  return reader.copy_latest(reinterpret_cast<std::byte*>(out.data), out.step[0], seq);
}

}  // namespace shmframe
