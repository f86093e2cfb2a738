// tests/unit/padded_cases.hpp: the padded-row formats of the stride tests (test_stride.cpp and
// the OpenCV ones in test_opencv.cpp), each with the stride it must get.
#pragma once

#include <cstdint>
#include <shmframe/format.hpp>
#include <string>

namespace testkit {

struct PaddedCase {
  std::uint32_t width, height;
  shmframe::PixelFormat pixel_format;
  std::uint32_t align;
  std::uint32_t expected_stride;  // worked out by hand: row bytes rounded up to `align`

  shmframe::FrameFormat format() const { return {width, height, pixel_format, 0}; }
  std::string label() const {
    return std::to_string(width) + "x" + std::to_string(height) + "_" + std::string(shmframe::to_string(pixel_format)) +
           "_align" + std::to_string(align);
  }
};

inline constexpr PaddedCase kPaddedCases[] = {
    {30, 7, shmframe::PixelFormat::gray8, 64, 64},  // 30 -> 64
    {21, 5, shmframe::PixelFormat::bgr8, 64, 64},   // 63 -> 64
    {30, 8, shmframe::PixelFormat::bgr8, 64, 128},  // 90 -> 128 (the apps test's stream)
    {17, 3, shmframe::PixelFormat::bgra8, 32, 96},  // 68 -> 96
    {30, 7, shmframe::PixelFormat::gray8, 1, 30},   // no padding: the same code path, tight
};

}  // namespace testkit
