// samples/common/pixels.hpp: the colour conversions the samples share, for every pixel format
// a stream can carry (gray8, bgr8, rgb8, bgra8). Header-only; no state.
//
// Both functions write into `dst`: a fresh cv::Mat (allocated), or a header over an output
// buffer of the right size and type (written in place, no allocation). Reading a slot is a
// seqlock read: validate the source (input.still_valid()) after the conversion, not before.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <shmframe/format.hpp>

namespace samples {

// A gray copy of `src`. Always a copy, even of gray8: the result must not alias the slot.
inline void to_gray(const cv::Mat& src, shmframe::PixelFormat format, cv::Mat& dst) {
  switch (format) {
    case shmframe::PixelFormat::gray8: src.copyTo(dst); return;
    case shmframe::PixelFormat::bgr8: cv::cvtColor(src, dst, cv::COLOR_BGR2GRAY); return;
    case shmframe::PixelFormat::rgb8: cv::cvtColor(src, dst, cv::COLOR_RGB2GRAY); return;
    case shmframe::PixelFormat::bgra8: cv::cvtColor(src, dst, cv::COLOR_BGRA2GRAY); return;
  }
}

// A BGR copy of `src` (what OpenCV drawing and cv::VideoWriter expect).
inline void to_bgr(const cv::Mat& src, shmframe::PixelFormat format, cv::Mat& dst) {
  switch (format) {
    case shmframe::PixelFormat::gray8: cv::cvtColor(src, dst, cv::COLOR_GRAY2BGR); return;
    case shmframe::PixelFormat::bgr8: src.copyTo(dst); return;
    case shmframe::PixelFormat::rgb8: cv::cvtColor(src, dst, cv::COLOR_RGB2BGR); return;
    case shmframe::PixelFormat::bgra8: cv::cvtColor(src, dst, cv::COLOR_BGRA2BGR); return;
  }
}

}  // namespace samples
