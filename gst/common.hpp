// gst/common.hpp: what shmframesink and shmframesrc share: the pixel-format table between
// shmframe and GStreamer, and the mapping between a pipeline's clock and CLOCK_MONOTONIC (the
// clock of every shmframe timestamp).
//
// Timestamp mapping (docs/DECISIONS.md, "GStreamer elements"): a buffer's clock time is its
// running time + the element's base time. When the pipeline clock is GStreamer's system clock
// in its default CLOCK_MONOTONIC mode, that clock time *is* a CLOCK_MONOTONIC time and maps
// 1:1. Any other clock (an audio device's, a network clock, a realtime system clock) gets a
// constant offset, sampled once per clock object (CLOCK_MONOTONIC now - clock now): constant,
// so capture-time differences stay exact; a clock that drifts against CLOCK_MONOTONIC drifts.
//
// Thread contract: the functions are pure or touch only the ClockMap passed in; a ClockMap is
// used by one streaming thread at a time (each element owns one).
#pragma once

#include <cstdint>
#include <optional>
#include <shmframe/info.hpp>
#include <string>

#include <gst/gst.h>
#include <gst/video/video.h>
#include <shmframe/format.hpp>
#include <shmframe/log.hpp>
#include <shmframe/writer.hpp>

namespace shmframe::gst {

// Adds the library's statistics fields (shmframe::fields(): the keys of shmframe-consumer
// --status) to a message structure: counts as guint64, pids as gint64, flags, names.
void set_fields(GstStructure* s, const Fields& fields);

// GStreamer's name of a raw shmframe format: GRAY8, GRAY16_LE, BGR, RGB, BGRA (BGRx arrives as
// bgra8 too), RGBA, YUY2, UYVY, NV12, I420; UNKNOWN for Bayer and jpeg (caps of their own).
GstVideoFormat to_video_format(PixelFormat f) noexcept;
// The shmframe format that carries a GStreamer raw format, if any.
std::optional<PixelFormat> to_pixel_format(GstVideoFormat f) noexcept;

// The formats both elements accept or produce, for pad templates: 1:1 with shmframe's formats.
inline constexpr const char* kCapsTemplate =
    "video/x-raw, format = (string) { GRAY8, GRAY16_LE, BGR, RGB, BGRA, BGRx, RGBA, YUY2, UYVY, NV12, I420 }, "
    "width = (int) [ 1, 32768 ], height = (int) [ 1, 32768 ], framerate = (fraction) [ 0/1, MAX ]; "
    "video/x-bayer, format = (string) { rggb, bggr, grbg, gbrg }, "
    "width = (int) [ 1, 32768 ], height = (int) [ 1, 32768 ], framerate = (fraction) [ 0/1, MAX ]; "
    "image/jpeg, width = (int) [ 1, 32768 ], height = (int) [ 1, 32768 ], framerate = (fraction) [ 0/1, MAX ]";

// A stream format as GStreamer lays it out: video/x-raw with GStreamer's default strides and
// plane offsets (GstVideoInfo), video/x-bayer with rows padded to 4 bytes (as bayer2rgb and
// rgb2bayer use), image/jpeg as the JPEG's bytes.
struct GstFormat {
  FrameFormat format;                // the stream format, in GStreamer's default layout
  std::optional<GstVideoInfo> info;  // video/x-raw only
};
// What `caps` (fixed) carry as a shmframe stream; nullopt for caps no shmframe format maps to 1:1.
// `max_payload`: the capacity of an image/jpeg stream (0: the library's default). `why`, when
// given, gets the reason for a nullopt (an odd size of a 4:2:0 format, a missing width...).
std::optional<GstFormat> from_caps(const GstCaps* caps, std::uint64_t max_payload, std::string* why = nullptr);
// The caps of a stream format (framerate 0/1: the producer sets the rate) and GStreamer's default
// layout of it; nullopt for a format without caps (none today).
std::optional<GstFormat> to_caps(const FrameFormat& format, GstCaps** caps);
// The same plane layout (offsets and strides; jpeg: always).
bool same_layout(const FrameFormat& a, const FrameFormat& b) noexcept;

// Copies a buffer of caps `caps_format` into `slot` (of the same format): raw video plane by plane
// as GStreamer maps it (its GstVideoMeta, else the default layout), Bayer rows at the buffer's
// pitch, a JPEG's bytes (payload_too_large beyond the slot's capacity, nothing copied).
// `in_place`: the buffer was the slot itself (nothing moved). Not ok: nothing to commit.
CommitStatus fill_slot(const GstFormat& caps_format, GstBuffer* buf, WriteSlot& slot, bool* in_place);

// Between a pipeline clock and CLOCK_MONOTONIC (see the top of this file).
class ClockMap {
 public:
  // CLOCK_MONOTONIC ns of a clock time of `clock` (nullptr: no clock, returns `clock_time`).
  std::uint64_t to_monotonic(GstClock* clock, GstClockTime clock_time);
  // The clock time of `clock` at a CLOCK_MONOTONIC time (clamped at 0).
  GstClockTime from_monotonic(GstClock* clock, std::uint64_t monotonic);
  // Forget the sampled offset (a new clock, a new run).
  void reset() noexcept { clock_ = nullptr; }

 private:
  std::int64_t offset(GstClock* clock);  // CLOCK_MONOTONIC - clock time
  const void* clock_ = nullptr;          // identity of the clock the offset belongs to (never dereferenced)
  std::int64_t offset_ = 0;
};

// Posts an error message from `element`, as GST_ELEMENT_ERROR does, with a message built in
// C++: the text names the element, the problem and the fix. A function under a one-line macro
// (for the caller's file and line), not GST_ELEMENT_ERROR's long expansion, so that callers stay
// short enough to read (and under clang-tidy's complexity threshold).
void post_error(gpointer element, GQuark domain, gint code, const std::string& text, const char* file,
                const char* function, int line);
// SHMFRAME_GST_ERROR(self, RESOURCE, SETTINGS, text): domain and code as in GST_ELEMENT_ERROR.
#define SHMFRAME_GST_ERROR(el, domain, code, text)                                                                   \
  shmframe::gst::post_error((el), GST_##domain##_ERROR, GST_##domain##_ERROR_##code, (text), __FILE__, GST_FUNCTION, \
                            __LINE__)

// printf into a std::string (g_strdup_vprintf), for post_error's messages.
std::string printf_string(const char* format, ...) G_GNUC_PRINTF(1, 2);

// The GStreamer debug level of a shmframe log level (the Writer's and Reader's log callbacks).
GstDebugLevel to_debug_level(LogLevel level) noexcept;

// The caps as text ("(none)" for null), for messages.
std::string caps_text(const GstCaps* caps);
// The first error message on the pipeline's bus, with its source element and debug text; pops
// every pending error. "" when there is none.
std::string bus_error(GstElement* pipeline);

}  // namespace shmframe::gst
