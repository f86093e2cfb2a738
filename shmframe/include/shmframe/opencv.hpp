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

// OpenCV type of a format (CV_8UC1, CV_8UC3, CV_8UC4); -1 for an unknown one.
inline int cv_type(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8: return CV_8UC1;
    case PixelFormat::bgr8:
    case PixelFormat::rgb8: return CV_8UC3;
    case PixelFormat::bgra8: return CV_8UC4;
  }
  return -1;
}

namespace detail {

template <class Dummy>
struct OpenCvAdapter {
  static cv::Mat view(const Frame& f) {
    if (!f) return {};
    const FrameFormat& fmt = f.format();
    // const_cast: cv::Mat has no read-only header type; the Frame's contract (read only) holds.
    return cv::Mat(static_cast<int>(fmt.height), static_cast<int>(fmt.width), cv_type(fmt.pixel_format),
                   const_cast<std::byte*>(f.data()), f.stride());
  }
  static cv::Mat view(const Input& in) {
    if (in.data() == nullptr) return {};
    const FrameFormat& fmt = in.format();
    return cv::Mat(static_cast<int>(fmt.height), static_cast<int>(fmt.width), cv_type(fmt.pixel_format),
                   const_cast<std::byte*>(in.data()), in.stride());
  }
  static cv::Mat view(const OutputBuffer& b) {
    if (!b) return {};
    return cv::Mat(static_cast<int>(b.format.height), static_cast<int>(b.format.width), cv_type(b.format.pixel_format),
                   b.data, b.stride());
  }
  static cv::Mat view(WriteSlot& s) {
    if (!s) return {};
    const FrameFormat& fmt = s.format();
    return cv::Mat(static_cast<int>(fmt.height), static_cast<int>(fmt.width), cv_type(fmt.pixel_format), s.data(),
                   s.stride());
  }
  static ImageView image(const cv::Mat& m) noexcept {
    ImageView v;
    if (m.empty() || m.dims != 2 || m.depth() != CV_8U) return v;  // bytes_per_pixel 0: never matches
    v.data = m.data;
    v.stride = m.step[0];
    v.width = static_cast<std::uint32_t>(m.cols);
    v.height = static_cast<std::uint32_t>(m.rows);
    v.bytes_per_pixel = static_cast<std::uint32_t>(m.elemSize());
    return v;
  }
};

}  // namespace detail

// Copies the newest frame into `out` (reallocated to the stream's format) and validates the
// copy; retries when the producer overwrote it meanwhile. False if there is no frame.
inline bool copy_latest(Reader& reader, cv::Mat& out, std::uint64_t* seq = nullptr) {
  const FrameFormat fmt = reader.info().format;
  if (fmt.width == 0) return false;
  out.create(static_cast<int>(fmt.height), static_cast<int>(fmt.width), cv_type(fmt.pixel_format));
  return reader.copy_latest(reinterpret_cast<std::byte*>(out.data), out.step[0], seq);
}

}  // namespace shmframe
