#include "jpeg.hpp"

#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <shmframe/pattern.hpp>

namespace shmframe::app {

Jpeg::Jpeg() : compressor_(tjInitCompress()), decompressor_(tjInitDecompress()) {
  if (compressor_ == nullptr || decompressor_ == nullptr) {
    if (compressor_ != nullptr) tjDestroy(compressor_);
    if (decompressor_ != nullptr) tjDestroy(decompressor_);
    throw std::runtime_error(std::string("TurboJPEG does not start: ") + tjGetErrorStr2(nullptr));
  }
}

Jpeg::~Jpeg() {
  tjDestroy(compressor_);
  tjDestroy(decompressor_);
}

std::size_t Jpeg::encode_bgr(const std::uint8_t* bgr, std::uint32_t width, std::uint32_t height, std::size_t pitch,
                             int quality, std::byte* dst, std::size_t capacity) {
  auto* out = reinterpret_cast<unsigned char*>(dst);
  unsigned long size = capacity;  // NOLINT(google-runtime-int): TurboJPEG's type
  // NOREALLOC: TurboJPEG writes into `dst` and fails rather than grow it (a slot cannot grow).
  const int rc = tjCompress2(compressor_, bgr, static_cast<int>(width), static_cast<int>(pitch),
                             static_cast<int>(height), TJPF_BGR, &out, &size, TJSAMP_444, quality, TJFLAG_NOREALLOC);
  if (rc == 0) return size;
  const std::string why = tjGetErrorStr2(compressor_);
  if (why.find("too small") != std::string::npos) return 0;
  throw std::runtime_error("JPEG encoding failed: " + why);
}

void Jpeg::encode_packed(const std::uint8_t* pixels, PixelFormat format, std::uint32_t width, std::uint32_t height,
                         std::size_t pitch, int quality, std::vector<std::uint8_t>& out) {
  int pf = TJPF_GRAY;
  switch (format) {
    case PixelFormat::gray8: pf = TJPF_GRAY; break;
    case PixelFormat::bgr8: pf = TJPF_BGR; break;
    case PixelFormat::rgb8: pf = TJPF_RGB; break;
    case PixelFormat::bgra8: pf = TJPF_BGRA; break;
    case PixelFormat::rgba8: pf = TJPF_RGBA; break;
    default: throw std::invalid_argument("encode_packed: not a packed RGB or gray format");
  }
  const int samp = pf == TJPF_GRAY ? TJSAMP_GRAY : TJSAMP_420;
  const auto w = static_cast<int>(width);
  const auto h = static_cast<int>(height);
  out.resize(tjBufSize(w, h, samp));
  auto* dst = out.data();
  unsigned long size = out.size();  // NOLINT(google-runtime-int): TurboJPEG's type
  if (tjCompress2(compressor_, pixels, w, static_cast<int>(pitch), h, pf, &dst, &size, samp, quality,
                  TJFLAG_NOREALLOC) != 0) {
    throw std::runtime_error(std::string("JPEG encoding failed: ") + tjGetErrorStr2(compressor_));
  }
  out.resize(size);
}

void Jpeg::encode_yuv(const std::uint8_t* const planes[3], const int strides[3], std::uint32_t width,
                      std::uint32_t height, bool chroma_422, int quality, std::vector<std::uint8_t>& out) {
  const int samp = chroma_422 ? TJSAMP_422 : TJSAMP_420;
  const auto w = static_cast<int>(width);
  const auto h = static_cast<int>(height);
  out.resize(tjBufSize(w, h, samp));
  auto* dst = out.data();
  unsigned long size = out.size();  // NOLINT(google-runtime-int): TurboJPEG's type
  // const_cast: TurboJPEG 2.1 takes `const unsigned char**`, our planes are `const* const*`.
  if (tjCompressFromYUVPlanes(compressor_, const_cast<const unsigned char**>(planes), w, strides, h, samp, &dst, &size,
                              quality, TJFLAG_NOREALLOC) != 0) {
    throw std::runtime_error(std::string("JPEG encoding failed: ") + tjGetErrorStr2(compressor_));
  }
  out.resize(size);
}

bool Jpeg::read_header(const std::byte* src, std::size_t size, std::uint32_t& width, std::uint32_t& height,
                       std::string& error) {
  int w = 0;
  int h = 0;
  int subsamp = 0;
  int colorspace = 0;
  if (src == nullptr || size == 0 ||
      tjDecompressHeader3(decompressor_, reinterpret_cast<const unsigned char*>(src), static_cast<unsigned long>(size),
                          &w, &h, &subsamp, &colorspace) != 0) {
    error = src == nullptr || size == 0 ? "an empty frame"
                                        : std::string("not a JPEG: ") + tjGetErrorStr2(decompressor_);
    return false;
  }
  if (w <= 0 || h <= 0 || w > 32768 || h > 32768) {
    error = "a JPEG of " + std::to_string(w) + "x" + std::to_string(h) + " pixels";
    return false;
  }
  width = static_cast<std::uint32_t>(w);
  height = static_cast<std::uint32_t>(h);
  return true;
}

bool Jpeg::decode_bgr(const std::byte* src, std::size_t size, std::vector<std::uint8_t>& bgr, std::uint32_t& width,
                      std::uint32_t& height, std::string& error) {
  std::uint32_t uw = 0;
  std::uint32_t uh = 0;
  if (!read_header(src, size, uw, uh, error)) return false;
  const auto* in = reinterpret_cast<const unsigned char*>(src);
  const int w = static_cast<int>(uw);
  const int h = static_cast<int>(uh);
  bgr.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  if (tjDecompress2(decompressor_, in, static_cast<unsigned long>(size), bgr.data(), w, w * 3, h, TJPF_BGR, 0) != 0 &&
      tjGetErrorCode(decompressor_) == TJERR_FATAL) {
    error = std::string("the JPEG does not decode: ") + tjGetErrorStr2(decompressor_);
    return false;
  }
  width = uw;
  height = uh;
  return true;
}

JpegPatternCheck check_jpeg_pattern(Jpeg& codec, std::uint64_t seq, const FrameFormat& format, const std::byte* data,
                                    std::size_t size) {
  JpegPatternCheck c;
  std::vector<std::uint8_t> got;
  std::uint32_t w = 0;
  std::uint32_t h = 0;
  if (!codec.decode_bgr(data, size, got, w, h, c.problem)) return c;
  if (w != format.width || h != format.height) {
    c.problem = "decodes to " + std::to_string(w) + "x" + std::to_string(h) + ", the stream is " +
                std::to_string(format.width) + "x" + std::to_string(format.height);
    return c;
  }
  std::vector<std::uint8_t> want(static_cast<std::size_t>(w) * 3);
  double squared = 0;
  for (std::uint32_t y = 0; y < h; ++y) {
    test_pattern_bgr_row(seq, w, h, y, want.data());
    const std::uint8_t* row = got.data() + static_cast<std::size_t>(y) * w * 3;
    for (std::size_t i = 0; i < want.size(); ++i) {
      const double d = static_cast<double>(row[i]) - want[i];
      squared += d * d;
    }
  }
  const double mse = squared / (static_cast<double>(w) * h * 3);
  c.psnr_db = mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
  // The seq code (pattern.hpp): cell k of the top row of cells is bit k, white when set.
  const std::uint32_t cell = std::max<std::uint32_t>(1, w / 128);
  const std::uint32_t cy = std::min(h - 1, cell / 2);
  std::uint64_t read = 0;
  const std::uint32_t bits = std::min<std::uint32_t>(64, w / cell);
  for (std::uint32_t k = 0; k < bits; ++k) {
    const std::uint8_t* px = got.data() + (static_cast<std::size_t>(cy) * w + k * cell + cell / 2) * 3;
    const unsigned luma = (px[0] + px[1] + px[2]) / 3;
    if (luma >= 128) read |= std::uint64_t{1} << k;
  }
  const std::uint64_t mask = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
  if (read != (seq & mask)) {
    c.problem = "its seq code reads " + std::to_string(read) + ", not " + std::to_string(seq & mask);
    return c;
  }
  if (c.psnr_db < kPatternJpegMinPsnr) {
    c.problem = "PSNR " + std::to_string(c.psnr_db) + " dB against the pattern, below " +
                std::to_string(kPatternJpegMinPsnr) + " dB";
    return c;
  }
  c.ok = true;
  return c;
}

}  // namespace shmframe::app
