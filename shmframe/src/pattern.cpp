// The test pattern (shmframe/pattern.hpp states it). fill and check walk the same per-row
// generator, so the two cannot disagree.
#include "shmframe/pattern.hpp"

#include <algorithm>
#include <array>

namespace shmframe {

namespace {

using Bgr = std::array<std::uint8_t, 3>;

// The pattern of one row, pixel by pixel, without a division per pixel: the blue gradient
// x * 255 / (W - 1) advances by whole steps plus a remainder.
class RowPattern {
 public:
  RowPattern(std::uint64_t seq, const FrameFormat& f, std::uint32_t y) noexcept
      : seq_(seq), den_(std::max<std::uint32_t>(1, f.width - (f.width != 0 ? 1 : 0))),
        green_(static_cast<std::uint8_t>(static_cast<std::uint64_t>(y) * 255 /
                                         std::max<std::uint32_t>(1, f.height - (f.height != 0 ? 1 : 0)))),
        bar_(std::min(f.width, std::max<std::uint32_t>(4, f.width / 40))),
        bar_x_(f.width != 0 ? static_cast<std::uint32_t>((seq * std::max<std::uint64_t>(1, f.width / 120)) % f.width)
                            : 0),
        cell_(std::max<std::uint32_t>(1, f.width / 128)), code_row_(y < cell_) {}

  // The pixel at x; call with x = 0, 1, 2... in order.
  Bgr next(std::uint32_t x) noexcept {
    Bgr p{static_cast<std::uint8_t>(blue_), green_, 128};
    rem_ += 255;  // blue for x + 1: (x + 1) * 255 / den
    blue_ += rem_ / den_;
    rem_ %= den_;
    if (x >= bar_x_ && x - bar_x_ < bar_) p = {255, 255, 255};
    if (code_row_ && x / cell_ < 64) {
      const std::uint8_t v = ((seq_ >> (x / cell_)) & 1u) != 0 ? 255 : 0;
      p = {v, v, v};
    }
    return p;
  }

 private:
  std::uint64_t seq_;
  std::uint32_t den_;
  std::uint8_t green_;
  std::uint32_t bar_;
  std::uint32_t bar_x_;
  std::uint32_t cell_;
  bool code_row_;
  std::uint32_t blue_ = 0;
  std::uint32_t rem_ = 0;
};

// The stored bytes of a pixel in `f`; returns how many.
std::uint32_t encode(const Bgr& p, PixelFormat f, std::uint8_t* out) noexcept {
  switch (f) {
    case PixelFormat::gray8:
      out[0] = static_cast<std::uint8_t>((114u * p[0] + 587u * p[1] + 299u * p[2] + 500u) / 1000u);
      return 1;
    case PixelFormat::bgr8: out[0] = p[0], out[1] = p[1], out[2] = p[2]; return 3;
    case PixelFormat::rgb8: out[0] = p[2], out[1] = p[1], out[2] = p[0]; return 3;
    case PixelFormat::bgra8: out[0] = p[0], out[1] = p[1], out[2] = p[2], out[3] = 255; return 4;
  }
  return 0;
}

}  // namespace

void fill_test_pattern(std::uint64_t seq, const FrameFormat& format, std::byte* dst, std::size_t stride) noexcept {
  if (dst == nullptr || bytes_per_pixel(format.pixel_format) == 0) return;
  for (std::uint32_t y = 0; y < format.height; ++y) {
    auto* row = reinterpret_cast<std::uint8_t*>(dst + static_cast<std::size_t>(y) * stride);
    RowPattern gen(seq, format, y);
    for (std::uint32_t x = 0; x < format.width; ++x) row += encode(gen.next(x), format.pixel_format, row);
  }
}

PatternCheck check_test_pattern(std::uint64_t seq, const FrameFormat& format, const std::byte* src,
                                std::size_t stride) noexcept {
  PatternCheck c;
  if (src == nullptr || bytes_per_pixel(format.pixel_format) == 0) {
    c.ok = false;
    return c;
  }
  for (std::uint32_t y = 0; y < format.height; ++y) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(src + static_cast<std::size_t>(y) * stride);
    RowPattern gen(seq, format, y);
    for (std::uint32_t x = 0; x < format.width; ++x) {
      std::uint8_t want[4];
      const std::uint32_t n = encode(gen.next(x), format.pixel_format, want);
      for (std::uint32_t ch = 0; ch < n; ++ch, ++row) {
        if (*row == want[ch]) continue;
        c = PatternCheck{false, x, y, ch, want[ch], *row};
        return c;
      }
    }
  }
  return c;
}

}  // namespace shmframe
