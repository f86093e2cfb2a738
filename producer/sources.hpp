// producer/sources.hpp: where frames come from. A Source renders or decodes one frame at a
// time into the slot it is given (the test pattern draws in place: zero copy).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <opencv2/core.hpp>
#include <shmframe/format.hpp>
#include <shmframe/writer.hpp>

#include "jpeg.hpp"

namespace shmframe::producer {

class Source {
 public:
  virtual ~Source() = default;
  // Format of the next frame; may change between frames (a file whose size changes).
  virtual shmframe::FrameFormat format() const = 0;
  // Frames per second the source runs at naturally (0 = unknown).
  virtual double natural_fps() const = 0;
  // True when the source gives frames at its own pace (a camera through GStreamer): the producer
  // then takes them as they come unless --fps is given.
  virtual bool paced() const { return false; }
  // Prepares the next frame; false at end of stream. Call format() after it.
  virtual bool grab(std::uint64_t index) = 0;
  // The seq of the slot the next render() fills (the test pattern draws it; seqs restart at 1
  // in every new generation). Others ignore it.
  virtual void set_seq(std::uint64_t seq) { (void)seq; }
  // Writes the grabbed frame into `slot` (already of format()): its planes, or for jpeg its bytes
  // and slot.set_payload_bytes(). A JPEG that does not fit leaves the payload 0 or above the
  // capacity: the commit then refuses it (payload_missing / payload_too_large).
  virtual void render(shmframe::WriteSlot& slot) = 0;
  virtual std::string describe() const = 0;
};

struct SourceOptions {
  std::string spec = "test";  // test | file:PATH | camera:N | gst:PIPELINE
  std::uint32_t width = 0;    // 0 = source's own
  std::uint32_t height = 0;
  shmframe::PixelFormat pixel_format = shmframe::PixelFormat::bgr8;
  bool loop = false;
  int jpeg_quality = shmframe::app::kPatternJpegQuality;  // jpeg: the test pattern's encoding quality
  std::uint64_t max_payload = 0;  // jpeg streams: each frame's most bytes (0: the library's default)
  // camera:N: the camera's own format, asked through GStreamer's v4l2src and published as it
  // comes (nullopt: OpenCV's V4L2 capture, converted to --format).
  std::optional<shmframe::PixelFormat> camera_format;
};

// Throws std::runtime_error with a message naming the source and the fix.
std::unique_ptr<Source> make_source(const SourceOptions& options);
// gst:PIPELINE and camera:N with a camera_format (producer/gst_source.cpp; built with GStreamer).
std::unique_ptr<Source> make_gst_source(const SourceOptions& options);

}  // namespace shmframe::producer
