// shmframe/pattern.hpp: the test pattern, a pure function of (seq, width, height, pixel format).
//
// shmframe-producer's default source draws it, and `shmframe-consumer --processor probe
// --verify` checks every frame against it, so an end-to-end run proves that each frame arrived
// whole and as the frame it claims to be (its seq is drawn into it). The definition below is the
// contract (docs/RELIABILITY.md repeats it), so a checker in another language can be written
// from it alone. All arithmetic is on unsigned integers; `/` truncates.
//
// For frame `seq`, width W, height H, pixel (x, y), first as B, G, R (each step over the last):
//   1. gradient: B = x * 255 / max(1, W - 1), G = y * 255 / max(1, H - 1), R = 128;
//   2. bar: with bar = min(W, max(4, W / 40)), step = max(1, W / 120), bx = (seq * step) mod W
//      (seq * step modulo 2^64): pixels with bx <= x < bx + bar are B = G = R = 255 (clipped at
//      the right edge, no wrap);
//   3. seq code: with c = max(1, W / 128): pixels with y < c and x < 64 * c show bit
//      k = x / c of seq (bit 0 first): 255, 255, 255 when set, 0, 0, 0 when clear.
// Stored as (every product and sum on unsigned integers, or signed where noted):
//   bgr8 B,G,R; rgb8 R,G,B; bgra8 B,G,R,255; rgba8 R,G,B,255;
//   gray8 L = (114 B + 587 G + 299 R + 500) / 1000;
//   gray16 the little-endian 16-bit L * 256 + ((x + y) mod 256) (the low byte makes a byte swap visible);
//   YUV (BT.601, limited range, as cameras and OpenCV's YUV conversions use), with >> on
//   non-negative values only: Y = (66 R + 129 G + 25 B + 4224) >> 8,
//   U = (112 B - 38 R - 74 G + 32896) >> 8, V = (112 R - 94 G - 18 B + 32896) >> 8 (signed
//   sums, never negative); chroma is taken from the even pixel of each pair (4:2:2) and from the
//   top-left pixel of each 2x2 block (4:2:0), not averaged:
//     yuyv Y0 U Y1 V and uyvy U Y0 V Y1 for pixels x = 2k, 2k + 1, U and V of pixel 2k;
//     nv12 the Y plane, then per 2x2 block at (2i, 2j) the bytes U, V of pixel (2i, 2j);
//     i420 the Y plane, then U of (2i, 2j) for each block, then V likewise;
//   Bayer: pixel (x, y) stores one channel of its BGR: rggb8 R G on even rows, G B on odd rows
//     (so R at even x of even rows); bggr8 B G / G R; grbg8 G R / B G; gbrg8 G B / R G;
//   jpeg: not drawn here (the library has no codec); shmframe-producer encodes the bgr8 pattern
//     and the probe checks the decoded picture (docs/RELIABILITY.md).
// Row padding (stride beyond a plane's row bytes) and the bytes between planes are not part of
// the pattern.
//
// Thread-safety: pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "shmframe/format.hpp"

namespace shmframe {

// Draws frame `seq` of the test pattern into `dst`, laid out as `format` with plane 0's stride
// `stride` (at least format.row_bytes(); the chroma planes of nv12 / i420 follow as
// FrameFormat::plane() places them for that stride). Padding bytes are left alone. Nothing for
// jpeg. Any thread; never throws.
void fill_test_pattern(std::uint64_t seq, const FrameFormat& format, std::byte* dst, std::size_t stride) noexcept;
// The same into planes anywhere (one per plane of the format, strides at least its row bytes).
void fill_test_pattern(std::uint64_t seq, const FrameFormat& format, std::span<const MutablePlane> planes) noexcept;

// Where a frame first differs from the test pattern.
struct PatternCheck {
  bool ok = true;             // every pixel is frame `seq` of the pattern
  std::uint32_t plane = 0;    // the plane of the first difference, when !ok
  std::uint32_t x = 0;        // its sample within the row (byte / bytes per pixel of the plane)
  std::uint32_t y = 0;        // its row within the plane
  std::uint32_t channel = 0;  // byte within that sample
  std::uint8_t expected = 0;  // what the pattern has there
  std::uint8_t found = 0;     // what the frame has
  explicit operator bool() const noexcept { return ok; }
};
// Checks `src` (laid out as for fill_test_pattern) against frame `seq` of the test pattern. Not ok
// for jpeg. Any thread.
PatternCheck check_test_pattern(std::uint64_t seq, const FrameFormat& format, const std::byte* src,
                                std::size_t stride) noexcept;
PatternCheck check_test_pattern(std::uint64_t seq, const FrameFormat& format,
                                std::span<const PlaneView> planes) noexcept;

// Pixel (x, y) of frame `seq` of the pattern in B, G, R (the gradient, bar and seq code above):
// what every format stores a conversion of, and what a JPEG frame is compared against.
void test_pattern_bgr_row(std::uint64_t seq, std::uint32_t width, std::uint32_t height, std::uint32_t y,
                          std::uint8_t* bgr) noexcept;

}  // namespace shmframe
