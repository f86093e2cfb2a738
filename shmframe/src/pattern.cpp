// The test pattern (shmframe/pattern.hpp states it). fill and check walk the same per-row
// generator, so the two cannot disagree.
#include "shmframe/pattern.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <new>

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

std::uint8_t luma(const Bgr& p) noexcept {
  return static_cast<std::uint8_t>((114u * p[0] + 587u * p[1] + 299u * p[2] + 500u) / 1000u);
}

struct Yuv {
  std::uint8_t y, u, v;
};
// BT.601 limited range; every sum is non-negative before the shift (pattern.hpp).
Yuv yuv(const Bgr& p) noexcept {
  const int b = p[0];
  const int g = p[1];
  const int r = p[2];
  return {static_cast<std::uint8_t>((66 * r + 129 * g + 25 * b + 4224) >> 8),
          static_cast<std::uint8_t>((112 * b - 38 * r - 74 * g + 32896) >> 8),
          static_cast<std::uint8_t>((112 * r - 94 * g - 18 * b + 32896) >> 8)};
}

// Which of B (0), G (1), R (2) a Bayer pixel stores, by [row parity][column parity].
using BayerMap = std::array<std::array<std::uint8_t, 2>, 2>;
BayerMap bayer_map(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::bayer_rggb8: return {{{2, 1}, {1, 0}}};
    case PixelFormat::bayer_bggr8: return {{{0, 1}, {1, 2}}};
    case PixelFormat::bayer_grbg8: return {{{1, 2}, {0, 1}}};
    default: return {{{1, 0}, {2, 1}}};  // gbrg8
  }
}

// The stored bytes of a pixel of a packed RGB or gray format; returns how many.
std::uint32_t encode(const Bgr& p, PixelFormat f, std::uint8_t* out) noexcept {
  switch (f) {
    case PixelFormat::gray8: out[0] = luma(p); return 1;
    case PixelFormat::bgr8: out[0] = p[0], out[1] = p[1], out[2] = p[2]; return 3;
    case PixelFormat::rgb8: out[0] = p[2], out[1] = p[1], out[2] = p[0]; return 3;
    case PixelFormat::bgra8: out[0] = p[0], out[1] = p[1], out[2] = p[2], out[3] = 255; return 4;
    case PixelFormat::rgba8: out[0] = p[2], out[1] = p[1], out[2] = p[0], out[3] = 255; return 4;
    default: return 0;
  }
}

// One row of each family of formats, from the row's pattern generator (pattern.hpp).
void gray16_row(RowPattern& gen, std::uint32_t w, std::uint32_t y, std::uint8_t* out) noexcept {
  for (std::uint32_t x = 0; x < w; ++x, out += 2) {
    out[0] = static_cast<std::uint8_t>((x + y) & 0xffu);  // little-endian: the low byte first
    out[1] = luma(gen.next(x));
  }
}

void yuv422_row(RowPattern& gen, std::uint32_t w, bool y_first, std::uint8_t* out) noexcept {
  for (std::uint32_t x = 0; x + 1 < w; x += 2, out += 4) {
    const Yuv a = yuv(gen.next(x));
    const Yuv b = yuv(gen.next(x + 1));
    out[0] = y_first ? a.y : a.u;
    out[1] = y_first ? a.u : a.y;
    out[2] = y_first ? b.y : a.v;
    out[3] = y_first ? a.v : b.y;
  }
}

// nv12 / i420: plane 0 is Y; chroma rows come from the even pixels of picture row 2y.
void yuv420_row(RowPattern& gen, std::uint32_t w, PixelFormat pf, std::uint32_t plane, std::uint8_t* out) noexcept {
  for (std::uint32_t x = 0; x < w; ++x) {
    const Yuv c = yuv(gen.next(x));
    if (plane == 0) {
      *out++ = c.y;
    } else if (x % 2 == 0 && pf == PixelFormat::nv12) {
      *out++ = c.u;
      *out++ = c.v;
    } else if (x % 2 == 0) {
      *out++ = plane == 1 ? c.u : c.v;
    }
  }
}

void bayer_row(RowPattern& gen, std::uint32_t w, PixelFormat pf, std::uint32_t y, std::uint8_t* out) noexcept {
  const BayerMap map = bayer_map(pf);
  const auto& row = map[y % 2];
  for (std::uint32_t x = 0; x < w; ++x) out[x] = gen.next(x)[row[x % 2]];
}

// Row y of plane `plane` of the pattern: exactly that plane's row_bytes bytes.
void expected_row(std::uint64_t seq, const FrameFormat& f, std::uint32_t plane, std::uint32_t y,
                  std::uint8_t* out) noexcept {
  const std::uint32_t w = f.width;
  const PixelFormat pf = f.pixel_format;
  RowPattern gen(seq, f, plane > 0 ? 2 * y : y);
  switch (pf) {
    case PixelFormat::gray16: gray16_row(gen, w, y, out); return;
    case PixelFormat::yuyv:
    case PixelFormat::uyvy: yuv422_row(gen, w, pf == PixelFormat::yuyv, out); return;
    case PixelFormat::nv12:
    case PixelFormat::i420: yuv420_row(gen, w, pf, plane, out); return;
    case PixelFormat::bayer_rggb8:
    case PixelFormat::bayer_bggr8:
    case PixelFormat::bayer_grbg8:
    case PixelFormat::bayer_gbrg8: bayer_row(gen, w, pf, y, out); return;
    default:
      for (std::uint32_t x = 0; x < w; ++x) out += encode(gen.next(x), pf, out);
      return;
  }
}

// Bytes of one sample of a plane, for reporting where a difference is.
std::uint32_t sample_bytes(const FrameFormat& f, std::uint32_t plane) noexcept {
  if (plane == 0) return std::max<std::uint32_t>(1, bytes_per_pixel(f.pixel_format));
  return f.pixel_format == PixelFormat::nv12 ? 2 : 1;
}

// Plane views of a frame at `base` laid out as `format` with plane 0's stride `stride`.
template <class Plane, class Byte>
std::uint32_t planes_at(const FrameFormat& format, Byte* base, std::size_t stride, Plane (&out)[kMaxPlanes]) noexcept {
  if (base == nullptr || format.compressed() || stride > UINT32_MAX) return 0;
  FrameFormat f = format;
  f.stride = static_cast<std::uint32_t>(stride);
  for (std::uint32_t i = 0; i < f.plane_count(); ++i) {
    const PlaneLayout p = f.plane(i);
    out[i] = Plane{base + p.offset, p.stride, p.row_bytes, p.rows};
  }
  return f.plane_count();
}

bool drawable(const FrameFormat& f, std::size_t planes) noexcept {
  return is_known(f.pixel_format) && !f.compressed() && planes == f.plane_count();
}

}  // namespace

void fill_test_pattern(std::uint64_t seq, const FrameFormat& format, std::span<const MutablePlane> planes) noexcept {
  if (!drawable(format, planes.size())) return;
  for (std::uint32_t i = 0; i < format.plane_count(); ++i) {
    const PlaneLayout want = format.plane(i);
    const MutablePlane& p = planes[i];
    if (p.data == nullptr || p.stride < want.row_bytes) return;
    for (std::uint32_t y = 0; y < want.rows; ++y)
      expected_row(seq, format, i, y, reinterpret_cast<std::uint8_t*>(p.row(y)));
  }
}

void fill_test_pattern(std::uint64_t seq, const FrameFormat& format, std::byte* dst, std::size_t stride) noexcept {
  MutablePlane planes[kMaxPlanes];
  const std::uint32_t n = planes_at(format, dst, stride, planes);
  if (n != 0) fill_test_pattern(seq, format, std::span<const MutablePlane>(planes, n));
}

PatternCheck check_test_pattern(std::uint64_t seq, const FrameFormat& format,
                                std::span<const PlaneView> planes) noexcept {
  PatternCheck c;
  c.ok = false;
  if (!drawable(format, planes.size())) return c;
  const std::unique_ptr<std::uint8_t[]> want(new (std::nothrow) std::uint8_t[format.plane(0).row_bytes]);
  if (!want) return c;
  for (std::uint32_t i = 0; i < format.plane_count(); ++i) {
    const PlaneLayout layout = format.plane(i);
    const PlaneView& p = planes[i];
    if (p.data == nullptr || p.stride < layout.row_bytes) return c;
    for (std::uint32_t y = 0; y < layout.rows; ++y) {
      expected_row(seq, format, i, y, want.get());
      const auto* got = reinterpret_cast<const std::uint8_t*>(p.row(y));
      if (std::memcmp(got, want.get(), layout.row_bytes) == 0) continue;
      std::uint32_t b = 0;
      while (got[b] == want[b]) ++b;
      const std::uint32_t n = sample_bytes(format, i);
      return PatternCheck{false, i, b / n, y, b % n, want[b], got[b]};
    }
  }
  c.ok = true;
  return c;
}

PatternCheck check_test_pattern(std::uint64_t seq, const FrameFormat& format, const std::byte* src,
                                std::size_t stride) noexcept {
  PlaneView planes[kMaxPlanes];
  const std::uint32_t n = planes_at(format, src, stride, planes);
  if (n == 0) return PatternCheck{false};
  return check_test_pattern(seq, format, std::span<const PlaneView>(planes, n));
}

void test_pattern_bgr_row(std::uint64_t seq, std::uint32_t width, std::uint32_t height, std::uint32_t y,
                          std::uint8_t* bgr) noexcept {
  const FrameFormat f{width, height, PixelFormat::bgr8, 0};
  if (bgr == nullptr || y >= height) return;
  expected_row(seq, f, 0, y, bgr);
}

}  // namespace shmframe
