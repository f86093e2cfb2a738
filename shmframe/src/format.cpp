#include "shmframe/format.hpp"

#include <algorithm>
#include <limits>

#include "shmframe/layout.hpp"
#include "shmframe/names.hpp"

namespace shmframe {

// The public enum is the ABI's (layout.hpp): the same value for every format.
static_assert(
    static_cast<std::uint32_t>(PixelFormat::gray8) == std::uint32_t(layout::PixelFormatCode::gray8) &&
    static_cast<std::uint32_t>(PixelFormat::bgr8) == std::uint32_t(layout::PixelFormatCode::bgr8) &&
    static_cast<std::uint32_t>(PixelFormat::rgb8) == std::uint32_t(layout::PixelFormatCode::rgb8) &&
    static_cast<std::uint32_t>(PixelFormat::bgra8) == std::uint32_t(layout::PixelFormatCode::bgra8) &&
    static_cast<std::uint32_t>(PixelFormat::rgba8) == std::uint32_t(layout::PixelFormatCode::rgba8) &&
    static_cast<std::uint32_t>(PixelFormat::gray16) == std::uint32_t(layout::PixelFormatCode::gray16) &&
    static_cast<std::uint32_t>(PixelFormat::yuyv) == std::uint32_t(layout::PixelFormatCode::yuyv) &&
    static_cast<std::uint32_t>(PixelFormat::uyvy) == std::uint32_t(layout::PixelFormatCode::uyvy) &&
    static_cast<std::uint32_t>(PixelFormat::nv12) == std::uint32_t(layout::PixelFormatCode::nv12) &&
    static_cast<std::uint32_t>(PixelFormat::i420) == std::uint32_t(layout::PixelFormatCode::i420) &&
    static_cast<std::uint32_t>(PixelFormat::bayer_rggb8) == std::uint32_t(layout::PixelFormatCode::bayer_rggb8) &&
    static_cast<std::uint32_t>(PixelFormat::bayer_bggr8) == std::uint32_t(layout::PixelFormatCode::bayer_bggr8) &&
    static_cast<std::uint32_t>(PixelFormat::bayer_grbg8) == std::uint32_t(layout::PixelFormatCode::bayer_grbg8) &&
    static_cast<std::uint32_t>(PixelFormat::bayer_gbrg8) == std::uint32_t(layout::PixelFormatCode::bayer_gbrg8) &&
    static_cast<std::uint32_t>(PixelFormat::jpeg) == std::uint32_t(layout::PixelFormatCode::jpeg));
static_assert(kMaxPlanes == layout::kMaxPlanes);

namespace {

struct Traits {
  std::uint32_t bytes_per_pixel;  // plane 0
  std::uint32_t planes;
  std::uint32_t x_multiple;
  std::uint32_t y_multiple;
};

Traits traits(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8:
    case PixelFormat::bayer_rggb8:
    case PixelFormat::bayer_bggr8:
    case PixelFormat::bayer_grbg8:
    case PixelFormat::bayer_gbrg8: return {1, 1, 1, 1};
    case PixelFormat::gray16: return {2, 1, 1, 1};
    case PixelFormat::yuyv:
    case PixelFormat::uyvy: return {2, 1, 2, 1};
    case PixelFormat::bgr8:
    case PixelFormat::rgb8: return {3, 1, 1, 1};
    case PixelFormat::bgra8:
    case PixelFormat::rgba8: return {4, 1, 1, 1};
    case PixelFormat::nv12: return {1, 2, 2, 2};
    case PixelFormat::i420: return {1, 3, 2, 2};
    case PixelFormat::jpeg: return {0, 1, 1, 1};
  }
  return {0, 0, 1, 1};
}

std::string num(std::uint64_t v) { return std::to_string(v); }

}  // namespace

std::uint32_t bytes_per_pixel(PixelFormat f) noexcept { return traits(f).bytes_per_pixel; }
std::uint32_t plane_count(PixelFormat f) noexcept { return traits(f).planes; }
bool is_compressed(PixelFormat f) noexcept { return f == PixelFormat::jpeg; }
bool is_known(PixelFormat f) noexcept { return traits(f).planes != 0; }
std::uint32_t width_multiple(PixelFormat f) noexcept { return traits(f).x_multiple; }
std::uint32_t height_multiple(PixelFormat f) noexcept { return traits(f).y_multiple; }

std::string_view to_string(PixelFormat f) noexcept { return name_of(f); }

std::optional<PixelFormat> parse_pixel_format(std::string_view name) noexcept { return parse_name<PixelFormat>(name); }

std::string pixel_format_names() {
  std::string out;
  for (PixelFormat f : kPixelFormats) {
    if (!out.empty()) out += ", ";
    out += to_string(f);
  }
  return out;
}

std::uint64_t default_max_payload(std::uint32_t width, std::uint32_t height) noexcept {
  return std::max<std::uint64_t>(std::uint64_t{64} * 1024, static_cast<std::uint64_t>(width) * height * 2);
}

std::uint32_t FrameFormat::row_bytes() const noexcept {
  if (compressed()) return static_cast<std::uint32_t>(std::min<std::uint64_t>(jpeg_capacity(), UINT32_MAX));
  return width * bytes_per_pixel(pixel_format);
}

PlaneLayout FrameFormat::plane(std::uint32_t i) const noexcept {
  if (i >= plane_count()) return {};
  if (compressed()) {
    const auto bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(jpeg_capacity(), UINT32_MAX));
    return {0, bytes, bytes, 1};
  }
  PlaneLayout p{0, effective_stride(), row_bytes(), height};
  // Chroma planes of the 4:2:0 formats: half the rows; nv12's is as wide in bytes as the Y plane
  // (U V pairs), i420's half as wide.
  for (std::uint32_t k = 1; k <= i; ++k) {
    const std::uint64_t after = p.offset + static_cast<std::uint64_t>(p.stride) * p.rows;
    const bool nv12 = pixel_format == PixelFormat::nv12;
    const std::uint32_t derived = nv12 ? effective_stride() : effective_stride() / 2;
    p.row_bytes = nv12 ? width : width / 2;
    p.rows = height / 2;
    p.stride = chroma_stride != 0 ? chroma_stride : derived;
    p.offset = chroma_offset[k - 1] != 0 ? chroma_offset[k - 1] : after;
  }
  return p;
}

std::uint64_t FrameFormat::frame_bytes() const noexcept {
  if (compressed()) return jpeg_capacity();
  std::uint64_t end = 0;
  for (std::uint32_t i = 0; i < plane_count(); ++i) {
    const PlaneLayout p = plane(i);
    end = std::max(end, p.offset + static_cast<std::uint64_t>(p.stride) * p.rows);
  }
  return end;
}

namespace {

// Size and subsampling: what every format needs.
std::optional<std::string> check_size(const FrameFormat& f) {
  const std::string name(to_string(f.pixel_format));
  if (!is_known(f.pixel_format)) {
    return "unknown pixel format " + num(static_cast<std::uint32_t>(f.pixel_format)) + ": use one of " +
           pixel_format_names();
  }
  constexpr std::uint32_t kMax = 32768;
  if (f.width == 0 || f.height == 0 || f.width > kMax || f.height > kMax) {
    return "frame size " + num(f.width) + "x" + num(f.height) + " is out of range (1.." + num(kMax) + " each)";
  }
  const bool odd_width = f.width % width_multiple(f.pixel_format) != 0;
  if (odd_width || f.height % height_multiple(f.pixel_format) != 0) {
    return name + " needs an even " + (odd_width ? "width" : "height") + " (got " + num(f.width) + "x" + num(f.height) +
           "): its chroma is subsampled 2:1; crop or pad the frame by one pixel";
  }
  return std::nullopt;
}

// The fields that do not apply to a format are 0; jpeg's capacity is in range.
std::optional<std::string> check_fields(const FrameFormat& f) {
  const std::string name(to_string(f.pixel_format));
  const bool chroma_set = f.chroma_stride != 0 || f.chroma_offset[0] != 0 || f.chroma_offset[1] != 0;
  if (f.compressed()) {
    if (f.stride != 0 || chroma_set) {
      return "jpeg frames have no rows: leave stride and plane offsets 0 (the capacity is max_payload)";
    }
    if (f.max_payload != 0 && (f.max_payload < 1024 || f.max_payload > (std::uint64_t{1} << 31))) {
      return "max payload " + num(f.max_payload) + " is out of range (1024 bytes .. 2 GiB)";
    }
    return std::nullopt;
  }
  if (f.max_payload != 0) return "max payload is for jpeg only: " + name + " frames take their planes' size";
  if (f.plane_count() == 1 && chroma_set) return name + " has one plane: leave chroma stride and offsets 0";
  if (f.pixel_format == PixelFormat::nv12 && f.chroma_offset[1] != 0) return "nv12 has two planes: no plane 2 offset";
  return std::nullopt;
}

// Each plane holds its rows and starts after the one before (ABI.md, "Planes").
std::optional<std::string> check_planes(const FrameFormat& f) {
  std::uint64_t prev_end = 0;
  for (std::uint32_t i = 0; i < f.plane_count(); ++i) {
    const PlaneLayout p = f.plane(i);
    if (p.stride < p.row_bytes) {
      return "plane " + num(i) + " stride " + num(p.stride) + " is smaller than its row of " + num(p.row_bytes) +
             " bytes";
    }
    if (p.offset < prev_end) {
      return "plane " + num(i) + " at offset " + num(p.offset) + " overlaps the plane before it (which ends at " +
             num(prev_end) + ")";
    }
    // Every product below fits: stride < 2^32, rows <= 32768, offsets are checked against 2^48.
    if (p.offset > (std::uint64_t{1} << 48)) return "plane " + num(i) + " offset " + num(p.offset) + " is too large";
    prev_end = p.end();
  }
  return std::nullopt;
}

}  // namespace

bool FrameFormat::opencv_420_image() const noexcept {
  if (pixel_format != PixelFormat::nv12 && pixel_format != PixelFormat::i420) return false;
  const PlaneLayout y = plane(0);
  const PlaneLayout c = plane(1);
  if (c.offset != static_cast<std::uint64_t>(y.stride) * y.rows) return false;
  if (pixel_format == PixelFormat::nv12) return c.stride == y.stride;
  return y.stride % 2 == 0 && c.stride * 2 == y.stride &&
         plane(2).offset == c.offset + static_cast<std::uint64_t>(c.stride) * c.rows;
}

std::optional<std::string> FrameFormat::check() const {
  if (auto why = check_size(*this)) return why;
  if (auto why = check_fields(*this)) return why;
  if (compressed()) return std::nullopt;
  return check_planes(*this);
}

bool operator==(const FrameFormat& a, const FrameFormat& b) noexcept {
  if (a.width != b.width || a.height != b.height || a.pixel_format != b.pixel_format) return false;
  if (a.compressed()) return a.frame_bytes() == b.frame_bytes();
  for (std::uint32_t i = 0; i < a.plane_count(); ++i) {
    const PlaneLayout p = a.plane(i);
    const PlaneLayout q = b.plane(i);
    if (p.offset != q.offset || p.stride != q.stride) return false;
  }
  return true;
}

std::string to_string(const FrameFormat& f) {
  std::string s = num(f.width) + "x" + num(f.height) + " " + std::string(to_string(f.pixel_format));
  if (f.compressed()) return s + " (up to " + num(f.frame_bytes()) + " bytes)";
  if (f.effective_stride() != f.row_bytes()) s += " stride " + num(f.effective_stride());
  FrameFormat tight{f.width, f.height, f.pixel_format, f.stride};
  for (std::uint32_t i = 1; i < f.plane_count(); ++i) {
    const PlaneLayout p = f.plane(i);
    const PlaneLayout t = tight.plane(i);
    if (p.stride != t.stride) s += " plane" + num(i) + " stride " + num(p.stride);
    if (p.offset != t.offset) s += " plane" + num(i) + " at " + num(p.offset);
  }
  return s;
}

std::optional<std::string> check_stream_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return "stream name must be 1 to 64 characters long (got " + std::to_string(name.size()) + ")";
  }
  if (name == "." || name == "..") return "stream name must not be '.' or '..'";
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return "stream name may contain only letters, digits, '_', '.' and '-'";
  }
  return std::nullopt;
}

}  // namespace shmframe
