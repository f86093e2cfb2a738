#include "shmframe/format.hpp"

namespace shmframe {

std::uint32_t bytes_per_pixel(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8: return 1;
    case PixelFormat::bgr8:
    case PixelFormat::rgb8: return 3;
    case PixelFormat::bgra8: return 4;
  }
  return 0;
}

std::string_view to_string(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8: return "gray8";
    case PixelFormat::bgr8: return "bgr8";
    case PixelFormat::rgb8: return "rgb8";
    case PixelFormat::bgra8: return "bgra8";
  }
  return "unknown";
}

std::optional<PixelFormat> parse_pixel_format(std::string_view name) noexcept {
  for (auto f : {PixelFormat::gray8, PixelFormat::bgr8, PixelFormat::rgb8, PixelFormat::bgra8}) {
    if (to_string(f) == name) return f;
  }
  return std::nullopt;
}

std::string to_string(const FrameFormat& f) {
  std::string s = std::to_string(f.width) + "x" + std::to_string(f.height) + " " +
                  std::string(to_string(f.pixel_format));
  if (f.effective_stride() != f.row_bytes()) s += " stride " + std::to_string(f.effective_stride());
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
