// shmframe/opencv_convert.hpp: any frame format to BGR or gray with OpenCV, header-only.
//
// The one place that knows which OpenCV conversion reads each pixel format: the viewer, the
// samples and the recorder call these instead of a switch of their own. Needs OpenCV's imgproc
// and imgcodecs (jpeg) besides shmframe::opencv. `src` is cv_view()'s Mat of the frame (frame.mat(),
// input.mat()); reading a slot is a seqlock read, so validate the frame (still_valid()) after the
// conversion, not before. No state; thread-safe.
#pragma once

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "shmframe/opencv.hpp"

namespace shmframe {

// The cv::cvtColor code from `f` to BGR; -1 for bgr8 (a copy), jpeg (decoded) and gray16 (scaled).
inline int bgr_conversion(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8: return cv::COLOR_GRAY2BGR;
    case PixelFormat::rgb8: return cv::COLOR_RGB2BGR;
    case PixelFormat::bgra8: return cv::COLOR_BGRA2BGR;
    case PixelFormat::rgba8: return cv::COLOR_RGBA2BGR;
    case PixelFormat::yuyv: return cv::COLOR_YUV2BGR_YUYV;
    case PixelFormat::uyvy: return cv::COLOR_YUV2BGR_UYVY;
    case PixelFormat::nv12: return cv::COLOR_YUV2BGR_NV12;
    case PixelFormat::i420: return cv::COLOR_YUV2BGR_I420;
    case PixelFormat::bayer_rggb8: return cv::COLOR_BayerRGGB2BGR;
    case PixelFormat::bayer_bggr8: return cv::COLOR_BayerBGGR2BGR;
    case PixelFormat::bayer_grbg8: return cv::COLOR_BayerGRBG2BGR;
    case PixelFormat::bayer_gbrg8: return cv::COLOR_BayerGBRG2BGR;
    case PixelFormat::bgr8:
    case PixelFormat::gray16:
    case PixelFormat::jpeg: break;
  }
  return -1;
}

// A BGR image (CV_8UC3) of `src` in `dst`: always a copy, never aliasing the slot. gray16 is
// shown by its high byte (the viewer maps a range with a colormap instead). False, with `dst`
// emptied, when `src` is empty or not a picture (a corrupt JPEG, a 4:2:0 frame OpenCV cannot
// view: see cv_view()).
inline bool to_bgr(const cv::Mat& src, PixelFormat f, cv::Mat& dst) {
  dst.release();
  if (src.empty()) return false;
  try {
    if (f == PixelFormat::jpeg) {
      dst = cv::imdecode(src, cv::IMREAD_COLOR);
    } else if (f == PixelFormat::gray16) {
      cv::Mat high;
      src.convertTo(high, CV_8U, 1.0 / 256.0);
      cv::cvtColor(high, dst, cv::COLOR_GRAY2BGR);
    } else if (const int code = bgr_conversion(f); code >= 0) {
      cv::cvtColor(src, dst, code);
    } else {
      src.copyTo(dst);
    }
  } catch (const cv::Exception&) {  // OpenCV refusing a malformed input: not a picture
    dst.release();
  }
  return !dst.empty();
}

// A gray image (CV_8UC1) of `src` in `dst`: always a copy. The YUV formats give their Y plane
// (no colour conversion), gray16 its high byte, Bayer a demosaiced luma, jpeg a gray decode.
inline bool to_gray(const cv::Mat& src, PixelFormat f, cv::Mat& dst) {
  dst.release();
  if (src.empty()) return false;
  try {
    switch (f) {
      case PixelFormat::gray8: src.copyTo(dst); break;
      case PixelFormat::gray16: src.convertTo(dst, CV_8U, 1.0 / 256.0); break;
      case PixelFormat::bgr8: cv::cvtColor(src, dst, cv::COLOR_BGR2GRAY); break;
      case PixelFormat::rgb8: cv::cvtColor(src, dst, cv::COLOR_RGB2GRAY); break;
      case PixelFormat::bgra8: cv::cvtColor(src, dst, cv::COLOR_BGRA2GRAY); break;
      case PixelFormat::rgba8: cv::cvtColor(src, dst, cv::COLOR_RGBA2GRAY); break;
      case PixelFormat::yuyv: cv::cvtColor(src, dst, cv::COLOR_YUV2GRAY_YUYV); break;
      case PixelFormat::uyvy: cv::cvtColor(src, dst, cv::COLOR_YUV2GRAY_UYVY); break;
      case PixelFormat::nv12:
      case PixelFormat::i420: src.rowRange(0, src.rows * 2 / 3).copyTo(dst); break;
      case PixelFormat::bayer_rggb8: cv::cvtColor(src, dst, cv::COLOR_BayerRGGB2GRAY); break;
      case PixelFormat::bayer_bggr8: cv::cvtColor(src, dst, cv::COLOR_BayerBGGR2GRAY); break;
      case PixelFormat::bayer_grbg8: cv::cvtColor(src, dst, cv::COLOR_BayerGRBG2GRAY); break;
      case PixelFormat::bayer_gbrg8: cv::cvtColor(src, dst, cv::COLOR_BayerGBRG2GRAY); break;
      case PixelFormat::jpeg: dst = cv::imdecode(src, cv::IMREAD_GRAYSCALE); break;
    }
  } catch (const cv::Exception&) {
    dst.release();
  }
  return !dst.empty();
}

}  // namespace shmframe
