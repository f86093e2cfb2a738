// shmframe/format.hpp: the frame format that travels with a stream.
//
// A FrameFormat fixes everything a consumer needs to interpret the pixels without
// out-of-band caps: width, height, row stride and pixel format. Values only; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmframe {

enum class PixelFormat : std::uint32_t { gray8 = 1, bgr8 = 2, rgb8 = 3, bgra8 = 4 };

// Bytes per pixel of a format (1, 3 or 4).
std::uint32_t bytes_per_pixel(PixelFormat f) noexcept;
// "gray8", "bgr8", "rgb8", "bgra8".
std::string_view to_string(PixelFormat f) noexcept;
// Parses a name as printed by to_string; std::nullopt for anything else.
std::optional<PixelFormat> parse_pixel_format(std::string_view name) noexcept;

struct FrameFormat {
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  PixelFormat pixel_format = PixelFormat::bgr8;
  std::uint32_t stride = 0;  // bytes per row; 0 = tight (width * bytes per pixel)

  std::uint32_t row_bytes() const noexcept { return width * bytes_per_pixel(pixel_format); }
  std::uint32_t effective_stride() const noexcept { return stride != 0 ? stride : row_bytes(); }
  std::uint64_t frame_bytes() const noexcept { return static_cast<std::uint64_t>(effective_stride()) * height; }
  friend bool operator==(const FrameFormat& a, const FrameFormat& b) noexcept {
    return a.width == b.width && a.height == b.height && a.pixel_format == b.pixel_format &&
           a.effective_stride() == b.effective_stride();
  }
};

// "1920x1080 bgr8" (stride appended when not tight).
std::string to_string(const FrameFormat& f);

// Copies `rows` rows of `row_bytes` bytes from `src` (rows `src_stride` apart) to `dst` (rows
// `dst_stride` apart), as one memcpy when both are tight. The regions must not overlap, except
// for being the same (same address and strides: nothing moves). The one row-copy loop of the
// project: Frame::copy_to(), the Writer's publish and the GStreamer elements use it.
void copy_rows(void* dst, std::size_t dst_stride, const void* src, std::size_t src_stride, std::size_t row_bytes,
               std::size_t rows) noexcept;

// Stream names: [A-Za-z0-9_.-]{1,64}, not "." or "..". Returns an explanation when the name
// is invalid, std::nullopt when it is fine.
std::optional<std::string> check_stream_name(std::string_view name);

}  // namespace shmframe
