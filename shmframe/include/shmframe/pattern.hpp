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
// Stored as: bgr8 B,G,R; rgb8 R,G,B; bgra8 B,G,R,255; gray8 (114 B + 587 G + 299 R + 500) / 1000.
// Row padding (stride beyond width * bytes per pixel) is not part of the pattern.
//
// Thread-safety: pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shmframe/format.hpp"

namespace shmframe {

// Draws frame `seq` of the test pattern into `dst`: format.height rows, `stride` bytes apart
// (at least format.row_bytes()). Padding bytes are left alone. Any thread; never throws.
void fill_test_pattern(std::uint64_t seq, const FrameFormat& format, std::byte* dst, std::size_t stride) noexcept;

// Where a frame first differs from the test pattern.
struct PatternCheck {
  bool ok = true;       // every pixel is frame `seq` of the pattern
  std::uint32_t x = 0;  // the first pixel that differs (row by row), when !ok
  std::uint32_t y = 0;
  std::uint32_t channel = 0;  // byte within that pixel
  std::uint8_t expected = 0;  // what the pattern has there
  std::uint8_t found = 0;     // what the frame has
  explicit operator bool() const noexcept { return ok; }
};
// Checks `src` (rows `stride` bytes apart) against frame `seq` of the test pattern. Any thread.
PatternCheck check_test_pattern(std::uint64_t seq, const FrameFormat& format, const std::byte* src,
                                std::size_t stride) noexcept;

}  // namespace shmframe
