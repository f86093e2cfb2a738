// samples/recorder/jpeg_avi.hpp: an AVI file of JPEG frames written as they come, without
// decoding them (GStreamer: appsrc ! avimux ! filesink). shmframe-record uses it for jpeg
// streams, so that a camera's MJPEG is stored byte for byte. One thread uses an object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace shmframe::record {

class JpegAvi {
 public:
  // avimux's limits on a frame's width and height.
  static constexpr std::uint32_t kMinSide = 16;
  static constexpr std::uint32_t kMaxSide = 4096;

  JpegAvi();
  ~JpegAvi();  // finishes an open file (close())
  JpegAvi(const JpegAvi&) = delete;
  JpegAvi& operator=(const JpegAvi&) = delete;

  // Starts `path` for frames of width x height at `fps` (frames are stamped n / fps). False,
  // with `why`, when GStreamer cannot make or start the pipeline.
  bool open(const std::string& path, std::uint32_t width, std::uint32_t height, double fps, std::string& why);
  // Copies one JPEG out of the stream, then asks `accept` about the copy (the frame is still
  // intact and a JPEG of the right size): only an accepted copy is appended, its bytes unchanged.
  enum class Write { appended, refused, failed };
  Write write(const std::byte* jpeg, std::size_t size, const std::function<bool(const std::byte*, std::size_t)>& accept,
              std::string& why);
  // Ends the file: the index and the header's frame count are written once avimux has the end of
  // stream (waited for, at most 10 s). False, with `why`, if that fails; the file is closed
  // either way.
  bool close(std::string& why);
  bool is_open() const;

 private:
  struct Pipeline;
  std::unique_ptr<Pipeline> p_;
};

}  // namespace shmframe::record
