// gst/common.cpp: the format table and the clock mapping of common.hpp.
// Thread contract: see common.hpp.
#include "common.hpp"

#include <string>
#include <type_traits>
#include <variant>

#include <cstdarg>
#include <cstring>

#include <shmframe/clock.hpp>

namespace shmframe::gst {

GstVideoFormat to_video_format(PixelFormat f) noexcept {
  switch (f) {
    case PixelFormat::gray8: return GST_VIDEO_FORMAT_GRAY8;
    case PixelFormat::bgr8: return GST_VIDEO_FORMAT_BGR;
    case PixelFormat::rgb8: return GST_VIDEO_FORMAT_RGB;
    case PixelFormat::bgra8: return GST_VIDEO_FORMAT_BGRA;
    case PixelFormat::rgba8: return GST_VIDEO_FORMAT_RGBA;
    case PixelFormat::gray16: return GST_VIDEO_FORMAT_GRAY16_LE;
    case PixelFormat::yuyv: return GST_VIDEO_FORMAT_YUY2;
    case PixelFormat::uyvy: return GST_VIDEO_FORMAT_UYVY;
    case PixelFormat::nv12: return GST_VIDEO_FORMAT_NV12;
    case PixelFormat::i420: return GST_VIDEO_FORMAT_I420;
    default: break;  // Bayer and jpeg are not video/x-raw (caps of their own)
  }
  return GST_VIDEO_FORMAT_UNKNOWN;
}

std::optional<PixelFormat> to_pixel_format(GstVideoFormat f) noexcept {
  switch (f) {
    case GST_VIDEO_FORMAT_GRAY8: return PixelFormat::gray8;
    case GST_VIDEO_FORMAT_BGR: return PixelFormat::bgr8;
    case GST_VIDEO_FORMAT_RGB: return PixelFormat::rgb8;
    // BGRx: the fourth byte is padding; consumers of a bgra8 stream get it as alpha.
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_BGRx: return PixelFormat::bgra8;
    default: return std::nullopt;
  }
}

namespace {
// GStreamer's system clock in CLOCK_MONOTONIC mode (its default) reads that very clock.
bool is_monotonic_system_clock(GstClock* clock) {
  if (!GST_IS_SYSTEM_CLOCK(clock)) return false;
  GstClockType type = GST_CLOCK_TYPE_REALTIME;
  g_object_get(clock, "clock-type", &type, nullptr);
  return type == GST_CLOCK_TYPE_MONOTONIC;
}
}  // namespace

std::int64_t ClockMap::offset(GstClock* clock) {
  if (clock == clock_) return offset_;
  clock_ = clock;
  if (is_monotonic_system_clock(clock)) {
    offset_ = 0;
  } else {
    // Sampled once: a per-frame sample would add the sampling jitter to every timestamp.
    const auto now = static_cast<std::int64_t>(monotonic_ns());
    offset_ = now - static_cast<std::int64_t>(gst_clock_get_time(clock));
  }
  return offset_;
}

std::uint64_t ClockMap::to_monotonic(GstClock* clock, GstClockTime clock_time) {
  if (clock == nullptr) return clock_time;
  const std::int64_t t = static_cast<std::int64_t>(clock_time) + offset(clock);
  return t > 0 ? static_cast<std::uint64_t>(t) : 0;
}

GstClockTime ClockMap::from_monotonic(GstClock* clock, std::uint64_t monotonic) {
  if (clock == nullptr) return monotonic;
  const std::int64_t t = static_cast<std::int64_t>(monotonic) - offset(clock);
  return t > 0 ? static_cast<GstClockTime>(t) : 0;
}

void post_error(gpointer element, GQuark domain, gint code, const std::string& text, const char* file,
                const char* function, int line) {
  // gst_element_message_full takes the text (transfer full); no separate debug string.
  gst_element_message_full(GST_ELEMENT(element), GST_MESSAGE_ERROR, domain, code, g_strdup(text.c_str()), nullptr, file,
                           function, line);
}

std::string printf_string(const char* format, ...) {
  va_list args;
  va_start(args, format);
  gchar* text = g_strdup_vprintf(format, args);
  va_end(args);
  std::string out = text != nullptr ? text : "";
  g_free(text);
  return out;
}

GstDebugLevel to_debug_level(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return GST_LEVEL_DEBUG;
    case LogLevel::info: return GST_LEVEL_INFO;
    case LogLevel::warn: return GST_LEVEL_WARNING;
    case LogLevel::error: return GST_LEVEL_ERROR;
  }
  return GST_LEVEL_INFO;
}

void set_fields(GstStructure* s, const Fields& fields) {
  for (const auto& [key, value] : fields) {
    const std::string k(key);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::uint64_t>) {
            gst_structure_set(s, k.c_str(), G_TYPE_UINT64, static_cast<guint64>(v), nullptr);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            gst_structure_set(s, k.c_str(), G_TYPE_INT64, static_cast<gint64>(v), nullptr);
          } else if constexpr (std::is_same_v<T, bool>) {
            gst_structure_set(s, k.c_str(), G_TYPE_BOOLEAN, v ? TRUE : FALSE, nullptr);
          } else {
            gst_structure_set(s, k.c_str(), G_TYPE_STRING, v.c_str(), nullptr);
          }
        },
        value);
  }
}

}  // namespace shmframe::gst
