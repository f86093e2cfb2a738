// shmframe/format.hpp: the frame format that travels with a stream.
//
// A FrameFormat fixes everything a consumer needs to interpret a frame without out-of-band caps:
// width, height, pixel format and the layout of its planes (offset and row stride of each). The
// formats are what cameras and GStreamer deliver: packed RGB and gray, 16-bit gray (depth), YUV
// 4:2:2 packed, YUV 4:2:0 semi-planar and planar, Bayer mosaics, and JPEG (compressed, a
// variable number of bytes per frame). docs/ABI.md ("Pixel formats") specifies each byte by
// byte. Values only; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmframe {

// Values are part of the ABI (SegmentHeader::pixel_format).
enum class PixelFormat : std::uint32_t {
  gray8 = 1,
  bgr8 = 2,
  rgb8 = 3,
  bgra8 = 4,
  rgba8 = 5,
  gray16 = 6,  // little-endian 16-bit (depth, thermal, scientific)
  yuyv = 7,    // YUV 4:2:2 packed Y0 U Y1 V (YUY2); even width
  uyvy = 8,    // YUV 4:2:2 packed U Y0 V Y1; even width
  nv12 = 9,    // YUV 4:2:0: a Y plane, then an interleaved U V plane; even width and height
  i420 = 10,   // YUV 4:2:0: Y, U and V planes; even width and height
  bayer_rggb8 = 11,
  bayer_bggr8 = 12,
  bayer_grbg8 = 13,
  bayer_gbrg8 = 14,
  jpeg = 15,  // a JPEG (JFIF) image: payload_bytes bytes per frame, at most the slot's capacity
};

// Every format, in value order: for tables, tests and help.
inline constexpr std::array<PixelFormat, 15> kPixelFormats = {
    PixelFormat::gray8,       PixelFormat::bgr8,        PixelFormat::rgb8,        PixelFormat::bgra8,
    PixelFormat::rgba8,       PixelFormat::gray16,      PixelFormat::yuyv,        PixelFormat::uyvy,
    PixelFormat::nv12,        PixelFormat::i420,        PixelFormat::bayer_rggb8, PixelFormat::bayer_bggr8,
    PixelFormat::bayer_grbg8, PixelFormat::bayer_gbrg8, PixelFormat::jpeg};

inline constexpr std::uint32_t kMaxPlanes = 3;

// Bytes per pixel of plane 0 (gray8 and Bayer 1, gray16 yuyv uyvy 2, bgr8 rgb8 3, bgra8 rgba8 4,
// nv12 i420 1: the Y plane); 0 for jpeg and for a value that is not a format.
std::uint32_t bytes_per_pixel(PixelFormat f) noexcept;
// Planes of a format: 1, nv12 2, i420 3; 0 for a value that is not a format.
std::uint32_t plane_count(PixelFormat f) noexcept;
// True for jpeg: a frame is payload bytes, not rows of pixels.
bool is_compressed(PixelFormat f) noexcept;
// True for a value that is one of the formats above.
bool is_known(PixelFormat f) noexcept;
// The width and the height must be multiples of these (2 for the subsampled YUV formats, else 1).
std::uint32_t width_multiple(PixelFormat f) noexcept;
std::uint32_t height_multiple(PixelFormat f) noexcept;
// "gray8", "bayer_rggb8", ...: the one spelling (names.hpp's table).
std::string_view to_string(PixelFormat f) noexcept;
// Parses a name as printed by to_string ('-' accepted for '_'); std::nullopt for anything else.
std::optional<PixelFormat> parse_pixel_format(std::string_view name) noexcept;
// "gray8, gray16, bgr8, ...": the supported names, for error messages and --help.
std::string pixel_format_names();

// One plane of a frame: where its rows are, relative to the first byte of the frame.
struct PlaneLayout {
  std::uint64_t offset = 0;     // from the frame's first byte
  std::uint32_t stride = 0;     // bytes from one row to the next (>= row_bytes)
  std::uint32_t row_bytes = 0;  // bytes of a row that are pixels (the rest is padding)
  std::uint32_t rows = 0;
  // One past the last pixel byte (the last row's padding is not part of the plane).
  std::uint64_t end() const noexcept {
    return rows == 0 ? offset : offset + static_cast<std::uint64_t>(stride) * (rows - 1) + row_bytes;
  }
};

// A plane in memory: `rows` rows of `row_bytes` pixel bytes, `stride` bytes apart. PlaneView
// reads a frame's plane (Frame::plane()), MutablePlane writes one (WriteSlot::plane(), or the
// destination of Frame::copy_to()).
template <class Byte>
struct BasicPlane {
  Byte* data = nullptr;
  std::size_t stride = 0;
  std::uint32_t row_bytes = 0;
  std::uint32_t rows = 0;
  Byte* row(std::uint32_t y) const noexcept { return data + static_cast<std::size_t>(y) * stride; }
};
using PlaneView = BasicPlane<const std::byte>;
using MutablePlane = BasicPlane<std::byte>;

// The JPEG capacity of a frame of this size when none is given: width * height * 2 bytes
// (what a YUYV frame takes; a JPEG of a camera picture at quality 95 takes a fraction of it),
// at least 64 KiB.
std::uint64_t default_max_payload(std::uint32_t width, std::uint32_t height) noexcept;

struct FrameFormat {
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  PixelFormat pixel_format = PixelFormat::bgr8;
  std::uint32_t stride = 0;  // plane 0's bytes per row; 0 = tight (width * bytes per pixel)
  // nv12 and i420: bytes per row of the chroma planes; 0 = derived from plane 0's stride
  // (nv12: the same, i420: half of it).
  std::uint32_t chroma_stride = 0;
  // nv12 and i420: where planes 1 and 2 start, from the frame's first byte; 0 = right after the
  // plane before (its offset + stride * rows).
  std::array<std::uint64_t, 2> chroma_offset{};
  // jpeg: the most bytes a frame may take (the slot's capacity); 0 = default_max_payload().
  std::uint64_t max_payload = 0;

  std::uint32_t plane_count() const noexcept { return shmframe::plane_count(pixel_format); }
  // Plane i (< plane_count()) as laid out by the fields above; {} for another i. jpeg: one plane,
  // one "row" of max_payload bytes (a frame's own size is its payload_bytes).
  PlaneLayout plane(std::uint32_t i) const noexcept;
  // Plane 0's pixel bytes per row and its stride (the only plane of the packed formats).
  std::uint32_t row_bytes() const noexcept;
  std::uint32_t effective_stride() const noexcept { return stride != 0 ? stride : row_bytes(); }
  // Bytes a slot needs for a frame: the end of the furthest plane, its last row's padding
  // included (stride * height for a packed format); jpeg: the capacity.
  std::uint64_t frame_bytes() const noexcept;
  bool compressed() const noexcept { return is_compressed(pixel_format); }
  // nv12 / i420 laid out as OpenCV's 4:2:0 conversions read one (height * 3 / 2) x width image at
  // plane 0's stride: chroma right after the Y rows, nv12's at the same stride, i420's U then V at
  // half of it. False for every other format.
  bool opencv_420_image() const noexcept;
  // Why this is not a format a stream can carry (unknown pixel format, a size out of 1..32768 or
  // odd for 4:2:x, a stride below a row, planes that overlap or overflow), naming the field and
  // the fix; std::nullopt when it is fine.
  std::optional<std::string> check() const;
  // Same size, pixel format and plane layout (fields left 0 compare as what they resolve to).
  friend bool operator==(const FrameFormat& a, const FrameFormat& b) noexcept;

 private:
  std::uint64_t jpeg_capacity() const noexcept {
    return max_payload != 0 ? max_payload : default_max_payload(width, height);
  }
};

// "1920x1080 nv12" (strides and offsets appended when not tight: "stride 2048 chroma 2048").
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
