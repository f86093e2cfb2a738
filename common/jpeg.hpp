// common/jpeg.hpp: JPEG encoding and decoding for the apps (libjpeg-turbo's TurboJPEG API), and
// the check of a jpeg test-pattern frame. The library carries JPEG bytes without a codec; the
// producer encodes the test pattern, the probe decodes it. Each object is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <shmframe/format.hpp>

namespace shmframe::app {

class Jpeg {
 public:
  Jpeg();  // throws std::runtime_error when TurboJPEG cannot start
  ~Jpeg();
  Jpeg(const Jpeg&) = delete;
  Jpeg& operator=(const Jpeg&) = delete;

  // Encodes `height` rows of BGR pixels (`pitch` bytes apart) as a 4:4:4 JPEG of `quality`
  // (1..100) into `dst` (at most `capacity` bytes). Returns its size; 0 when it does not fit
  // (never a truncated image). Throws std::runtime_error on any other failure.
  std::size_t encode_bgr(const std::uint8_t* bgr, std::uint32_t width, std::uint32_t height, std::size_t pitch,
                         int quality, std::byte* dst, std::size_t capacity);
  // Encodes packed pixels (gray8, bgr8, rgb8, bgra8 or rgba8; `pitch` bytes a row) into `out`
  // (resized to the JPEG), chroma 4:2:0 (gray: none). Throws std::invalid_argument for another
  // format, std::runtime_error when TurboJPEG fails.
  void encode_packed(const std::uint8_t* pixels, PixelFormat format, std::uint32_t width, std::uint32_t height,
                     std::size_t pitch, int quality, std::vector<std::uint8_t>& out);
  // Encodes planar YUV (BT.601 full-range planes Y, U, V, each with its stride; chroma halved
  // horizontally, and vertically unless `chroma_422`) into `out`, with no RGB on the way: the
  // JPEG's own colour space is this YUV. Throws std::runtime_error when TurboJPEG fails.
  void encode_yuv(const std::uint8_t* const planes[3], const int strides[3], std::uint32_t width, std::uint32_t height,
                  bool chroma_422, int quality, std::vector<std::uint8_t>& out);
  // Reads a JPEG's size from its header, without decoding it. False (with `error` saying why)
  // for bytes that do not start a JPEG TurboJPEG can read.
  bool read_header(const std::byte* src, std::size_t size, std::uint32_t& width, std::uint32_t& height,
                   std::string& error);
  // Decodes a JPEG into tight BGR rows. False (with `error` saying why) for bytes that are not a
  // JPEG TurboJPEG can decode; never throws for bad input.
  bool decode_bgr(const std::byte* src, std::size_t size, std::vector<std::uint8_t>& bgr, std::uint32_t& width,
                  std::uint32_t& height, std::string& error);

 private:
  void* compressor_ = nullptr;
  void* decompressor_ = nullptr;
};

// The quality the producer encodes the test pattern at: its verification needs 35 dB.
inline constexpr int kPatternJpegQuality = 95;

// A jpeg frame against frame `seq` of the test pattern (docs/RELIABILITY.md): decodes to
// format.width x format.height, carries `seq` in its code cells (read at each cell's centre),
// and is at least 35 dB PSNR from the bgr8 pattern.
struct JpegPatternCheck {
  bool ok = false;
  double psnr_db = 0;
  std::string problem;  // when !ok
};
JpegPatternCheck check_jpeg_pattern(Jpeg& codec, std::uint64_t seq, const FrameFormat& format, const std::byte* data,
                                    std::size_t size);
inline constexpr double kPatternJpegMinPsnr = 35.0;

}  // namespace shmframe::app
