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
    case GST_VIDEO_FORMAT_RGBA: return PixelFormat::rgba8;
    case GST_VIDEO_FORMAT_GRAY16_LE: return PixelFormat::gray16;
    case GST_VIDEO_FORMAT_YUY2: return PixelFormat::yuyv;
    case GST_VIDEO_FORMAT_UYVY: return PixelFormat::uyvy;
    case GST_VIDEO_FORMAT_NV12: return PixelFormat::nv12;
    case GST_VIDEO_FORMAT_I420: return PixelFormat::i420;
    // BGRx: the fourth byte is padding; consumers of a bgra8 stream get it as alpha.
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_BGRx: return PixelFormat::bgra8;
    default: return std::nullopt;
  }
}

namespace {

constexpr std::pair<PixelFormat, const char*> kBayer[] = {
    {PixelFormat::bayer_rggb8, "rggb"},
    {PixelFormat::bayer_bggr8, "bggr"},
    {PixelFormat::bayer_grbg8, "grbg"},
    {PixelFormat::bayer_gbrg8, "gbrg"},
};

FrameFormat from_info(const GstVideoInfo& info, PixelFormat pf) {
  FrameFormat f{static_cast<std::uint32_t>(GST_VIDEO_INFO_WIDTH(&info)),
                static_cast<std::uint32_t>(GST_VIDEO_INFO_HEIGHT(&info)), pf,
                static_cast<std::uint32_t>(GST_VIDEO_INFO_PLANE_STRIDE(&info, 0))};
  if (GST_VIDEO_INFO_N_PLANES(&info) > 1) {
    f.chroma_stride = static_cast<std::uint32_t>(GST_VIDEO_INFO_PLANE_STRIDE(&info, 1));
    f.chroma_offset[0] = GST_VIDEO_INFO_PLANE_OFFSET(&info, 1);
    if (GST_VIDEO_INFO_N_PLANES(&info) > 2) f.chroma_offset[1] = GST_VIDEO_INFO_PLANE_OFFSET(&info, 2);
  }
  return f;
}

bool dimensions(const GstStructure* s, std::uint32_t& width, std::uint32_t& height) {
  gint w = 0;
  gint h = 0;
  if (gst_structure_get_int(s, "width", &w) == FALSE || gst_structure_get_int(s, "height", &h) == FALSE || w < 1 ||
      h < 1) {
    return false;
  }
  width = static_cast<std::uint32_t>(w);
  height = static_cast<std::uint32_t>(h);
  return true;
}

}  // namespace

std::optional<GstFormat> from_caps(const GstCaps* caps, std::uint64_t max_payload, std::string* why) {
  std::string ignored;
  std::string& reason = why != nullptr ? *why : ignored;
  reason = "no shmframe format carries these caps as they are";
  if (caps == nullptr || gst_caps_get_size(caps) < 1) return std::nullopt;
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  GstFormat out;
  if (gst_structure_has_name(s, "video/x-raw")) {
    GstVideoInfo info;
    if (gst_video_info_from_caps(&info, caps) == FALSE) return std::nullopt;
    const auto pf = to_pixel_format(GST_VIDEO_INFO_FORMAT(&info));
    if (!pf) return std::nullopt;
    out.format = from_info(info, *pf);
    out.info = info;
  } else if (gst_structure_has_name(s, "video/x-bayer")) {
    const char* name = gst_structure_get_string(s, "format");
    if (name == nullptr || !dimensions(s, out.format.width, out.format.height)) return std::nullopt;
    std::optional<PixelFormat> pf;
    for (const auto& [f, n] : kBayer) {
      if (std::strcmp(n, name) == 0) pf = f;
    }
    if (!pf) return std::nullopt;
    out.format.pixel_format = *pf;
    out.format.stride = GST_ROUND_UP_4(out.format.width);
  } else if (gst_structure_has_name(s, "image/jpeg")) {
    if (!dimensions(s, out.format.width, out.format.height)) return std::nullopt;
    out.format.pixel_format = PixelFormat::jpeg;
    out.format.stride = 0;
    out.format.max_payload = max_payload;
  } else {
    return std::nullopt;
  }
  if (auto problem = out.format.check()) {
    reason = *problem;
    return std::nullopt;
  }
  return out;
}

std::optional<GstFormat> to_caps(const FrameFormat& format, GstCaps** caps) {
  GstFormat out;
  out.format = format;
  const PixelFormat pf = format.pixel_format;
  const auto w = static_cast<gint>(format.width);
  const auto h = static_cast<gint>(format.height);
  if (const GstVideoFormat vf = to_video_format(pf); vf != GST_VIDEO_FORMAT_UNKNOWN) {
    GstVideoInfo info;
    if (gst_video_info_set_format(&info, vf, format.width, format.height) == FALSE) return std::nullopt;
    *caps = gst_video_info_to_caps(&info);
    out.format = from_info(info, pf);
    out.info = info;
    return out;
  }
  if (pf == PixelFormat::jpeg) {
    *caps = gst_caps_new_simple("image/jpeg", "width", G_TYPE_INT, w, "height", G_TYPE_INT, h, "framerate",
                                GST_TYPE_FRACTION, 0, 1, nullptr);
    return out;
  }
  for (const auto& [f, n] : kBayer) {
    if (f != pf) continue;
    *caps = gst_caps_new_simple("video/x-bayer", "format", G_TYPE_STRING, n, "width", G_TYPE_INT, w, "height",
                                G_TYPE_INT, h, "framerate", GST_TYPE_FRACTION, 0, 1, nullptr);
    out.format.stride = GST_ROUND_UP_4(format.width);
    return out;
  }
  return std::nullopt;
}

namespace {

// Raw video: each plane as GStreamer maps it (its GstVideoMeta, else the caps' default layout).
CommitStatus fill_raw(const GstVideoInfo& info, GstBuffer* buf, WriteSlot& slot, bool* in_place) {
  GstVideoFrame vf;
  if (gst_video_frame_map(&vf, &info, buf, GST_MAP_READ) == FALSE) return shmframe::CommitStatus::format_mismatch;
  *in_place = true;
  for (std::uint32_t i = 0; i < slot.plane_count(); ++i) {
    const shmframe::MutablePlane to = slot.plane(i);
    const auto* src = static_cast<const std::byte*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, i));
    const auto src_stride = static_cast<std::size_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&vf, i));
    *in_place = *in_place && src == to.data && src_stride == to.stride;
    shmframe::copy_rows(to.data, to.stride, src, src_stride, to.row_bytes, to.rows);
  }
  gst_video_frame_unmap(&vf);
  return shmframe::CommitStatus::ok;
}

// video/x-bayer (rows at the buffer's size / height, at least the width) and image/jpeg (the bytes).
CommitStatus fill_bytes(GstBuffer* buf, WriteSlot& slot) {
  GstMapInfo map;
  if (gst_buffer_map(buf, &map, GST_MAP_READ) == FALSE) return shmframe::CommitStatus::format_mismatch;
  auto status = shmframe::CommitStatus::ok;
  if (slot.format().compressed()) {
    if (map.size > slot.capacity()) {
      status = shmframe::CommitStatus::payload_too_large;
    } else {
      std::memcpy(slot.data(), map.data, map.size);
      slot.set_payload_bytes(map.size);
    }
  } else {
    const shmframe::MutablePlane to = slot.plane(0);
    const std::size_t src_stride = to.rows != 0 ? map.size / to.rows : 0;
    if (src_stride < to.row_bytes) {
      status = shmframe::CommitStatus::format_mismatch;
    } else {
      shmframe::copy_rows(to.data, to.stride, map.data, src_stride, to.row_bytes, to.rows);
    }
  }
  gst_buffer_unmap(buf, &map);
  return status;
}

}  // namespace

CommitStatus fill_slot(const GstFormat& caps_format, GstBuffer* buf, WriteSlot& slot, bool* in_place) {
  *in_place = false;
  return caps_format.info ? fill_raw(*caps_format.info, buf, slot, in_place) : fill_bytes(buf, slot);
}

bool same_layout(const FrameFormat& a, const FrameFormat& b) noexcept {
  if (a.pixel_format != b.pixel_format || a.plane_count() != b.plane_count()) return false;
  if (a.compressed()) return true;
  for (std::uint32_t i = 0; i < a.plane_count(); ++i) {
    const PlaneLayout p = a.plane(i);
    const PlaneLayout q = b.plane(i);
    if (p.offset != q.offset || p.stride != q.stride) return false;
  }
  return true;
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

std::string caps_text(const GstCaps* caps) {
  gchar* text = gst_caps_to_string(caps);
  std::string s = text != nullptr ? text : "(none)";
  g_free(text);
  return s;
}

// The first error on the pipeline's bus, if any ("" otherwise).
std::string bus_error(GstElement* pipeline) {
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* err = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(m, &err, &debug);
    if (out.empty()) {
      out = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(m))) + ": " + (err != nullptr ? err->message : "error");
      if (debug != nullptr) out += std::string(" (") + debug + ")";
    }
    g_clear_error(&err);
    g_free(debug);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return out;
}

}  // namespace shmframe::gst
