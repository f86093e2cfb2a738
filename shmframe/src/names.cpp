// The option enums' tables (names.hpp): the one place their spellings are written.
#include "shmframe/names.hpp"

namespace shmframe {

namespace {
constexpr EnumName<Delivery> kDelivery[] = {
    {Delivery::latest, "latest", "the newest frame at each wait: a slow reader skips frames (counted as drops)"},
    {Delivery::every_frame, "every-frame",
     "every frame while a slot still holds it, else the newest; the producer never waits"},
    {Delivery::lossless, "lossless",
     "every frame, in order: the producer waits for this reader up to its max block (100 ms by default)"},
};
constexpr EnumName<WaitPolicy> kWaitPolicy[] = {
    {WaitPolicy::block, "block", "sleep in the kernel until the producer's wake-up: no CPU between frames"},
    {WaitPolicy::predictive, "predictive",
     "learn the stream's period, sleep until shortly before the next frame, then poll a short window"},
    {WaitPolicy::spin, "spin", "poll for the next frame (a dedicated core; lowest latency), then block"},
};
constexpr EnumName<Access> kAccess[] = {
    {Access::automatic, "auto", "read-write if allowed, else read-only"},
    {Access::read_write, "read-write", "own a consumer entry: held frames, lossless delivery, listed by --status"},
    {Access::read_only, "read-only",
     "map the stream read-only: cannot disturb the producer or other consumers; frames are not held, no "
     "lossless, not listed"},
};
constexpr EnumName<ConsumerDelivery> kConsumerDelivery[] = {
    {ConsumerDelivery::lossy, "lossy", "latest or every-frame: the producer never waits for it"},
    {ConsumerDelivery::lossless, "lossless", "the producer waits for it, up to its max block"},
    {ConsumerDelivery::demoted, "demoted", "lossless, but it blocked the producer too long: lossy until caught up"},
};
constexpr EnumName<PixelFormat> kPixelFormat[] = {
    {PixelFormat::gray8, "gray8", "8-bit gray (Mono8)"},
    {PixelFormat::gray16, "gray16", "16-bit gray, little-endian (depth Z16, Mono16, thermal)"},
    {PixelFormat::bgr8, "bgr8", "packed B, G, R bytes (OpenCV's default)"},
    {PixelFormat::rgb8, "rgb8", "packed R, G, B bytes"},
    {PixelFormat::bgra8, "bgra8", "packed B, G, R, A bytes"},
    {PixelFormat::rgba8, "rgba8", "packed R, G, B, A bytes"},
    {PixelFormat::yuyv, "yuyv", "YUV 4:2:2 packed Y0 U Y1 V (YUY2: USB cameras); even width"},
    {PixelFormat::uyvy, "uyvy", "YUV 4:2:2 packed U Y0 V Y1; even width"},
    {PixelFormat::nv12, "nv12", "YUV 4:2:0, a Y plane then interleaved U V (Jetson, Raspberry Pi); even size"},
    {PixelFormat::i420, "i420", "YUV 4:2:0, Y then U then V planes (GStreamer's default); even size"},
    {PixelFormat::bayer_rggb8, "bayer_rggb8", "8-bit Bayer mosaic, R G / G B"},
    {PixelFormat::bayer_bggr8, "bayer_bggr8", "8-bit Bayer mosaic, B G / G R"},
    {PixelFormat::bayer_grbg8, "bayer_grbg8", "8-bit Bayer mosaic, G R / B G"},
    {PixelFormat::bayer_gbrg8, "bayer_gbrg8", "8-bit Bayer mosaic, G B / R G"},
    {PixelFormat::jpeg, "jpeg", "JPEG images (MJPEG cameras): a variable size per frame, up to --max-payload"},
};
}  // namespace

template <>
std::span<const EnumName<PixelFormat>> enum_names<PixelFormat>() noexcept {
  return kPixelFormat;
}
template <>
std::span<const EnumName<Delivery>> enum_names<Delivery>() noexcept {
  return kDelivery;
}
template <>
std::span<const EnumName<WaitPolicy>> enum_names<WaitPolicy>() noexcept {
  return kWaitPolicy;
}
template <>
std::span<const EnumName<Access>> enum_names<Access>() noexcept {
  return kAccess;
}
template <>
std::span<const EnumName<ConsumerDelivery>> enum_names<ConsumerDelivery>() noexcept {
  return kConsumerDelivery;
}

std::string_view to_string(Delivery d) noexcept { return name_of(d); }
std::string_view to_string(WaitPolicy w) noexcept { return name_of(w); }
std::string_view to_string(Access a) noexcept { return name_of(a); }
std::string_view to_string(ConsumerDelivery d) noexcept { return name_of(d); }

}  // namespace shmframe
