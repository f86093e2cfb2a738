// shmframe/processor.hpp: processing stages.
//
// A Processor is the user's code in a consumer: it sees every frame of a stream (zero-copy) and
// every life-cycle event, and may publish an output frame per input frame, which makes it a
// pipeline stage (camera -> stage -> stage -> viewer). shmframe::run() drives one: it waits,
// re-attaches across producer restarts, handles Ctrl-C, creates the output stream and carries
// each frame's origin (the camera frame behind it) through any number of stages. The same class
// can be compiled into a program or exported as a plugin (shmframe/plugin.hpp).
//
// Input, Output and Processor are header-only, with no library state, so that a plugin built
// with another compiler or standard library sees them only through the C ABI of plugin.h.
//
// Thread contract: run() calls the processor from the calling thread only, one call at a time.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shmframe/format.hpp"
#include "shmframe/info.hpp"
#include "shmframe/log.hpp"
#include "shmframe/origin.hpp"
#include "shmframe/reader.hpp"
#include "shmframe/writer.hpp"

namespace shmframe {

class SyncReader;  // shmframe/sync_reader.hpp

namespace detail {
template <class Dummy>
struct OpenCvAdapter;  // defined by shmframe/opencv.hpp
}

// A frame as a processor sees it: the pixels in their slot (zero-copy, read only), what travels
// with them, and where the frame came from. Valid during on_frame() only.
class Input {
 public:
  using ValidFn = bool (*)(const void* ctx) noexcept;
  // What an Input is made of, by name: run() fills it, and so do tests and benchmarks that call
  // a Processor directly. `valid(valid_ctx)` is the still_valid() check.
  struct Parts {
    const std::byte* data = nullptr;
    FrameFormat format;
    std::uint64_t seq = 0;
    std::uint64_t generation = 0;
    std::uint64_t capture_ns = 0;
    std::uint64_t commit_ns = 0;
    std::span<const std::byte> metadata;
    std::size_t payload_bytes = 0;   // jpeg: the frame's bytes; 0 = format.frame_bytes()
    const Origin* origin = nullptr;  // required: origin() dereferences it
    std::uint64_t now_ns = 0;
    std::uint64_t dropped = 0;
    ValidFn valid = nullptr;
    const void* valid_ctx = nullptr;
  };
  Input() = default;
  explicit Input(const Parts& p) noexcept : p_(p) {}

  const std::byte* data() const noexcept { return p_.data; }
  const FrameFormat& format() const noexcept { return p_.format; }
  std::uint32_t width() const noexcept { return p_.format.width; }
  std::uint32_t height() const noexcept { return p_.format.height; }
  PixelFormat pixel_format() const noexcept { return p_.format.pixel_format; }
  std::size_t stride() const noexcept { return p_.format.effective_stride(); }
  const std::byte* row(std::uint32_t y) const noexcept { return p_.data + static_cast<std::size_t>(y) * stride(); }
  std::uint32_t plane_count() const noexcept { return p_.format.plane_count(); }
  // Plane i (Frame::plane()): nv12's Y and U V planes, i420's Y, U and V; jpeg one row of payload.
  PlaneView plane(std::uint32_t i) const noexcept {
    if (p_.data == nullptr || i >= plane_count()) return {};
    if (p_.format.compressed()) return {p_.data, payload_bytes(), static_cast<std::uint32_t>(payload_bytes()), 1};
    const PlaneLayout l = p_.format.plane(i);
    return {p_.data + l.offset, l.stride, l.row_bytes, l.rows};
  }
  std::size_t payload_bytes() const noexcept {
    return p_.payload_bytes != 0 ? p_.payload_bytes : static_cast<std::size_t>(p_.format.frame_bytes());
  }
  std::span<const std::byte> payload() const noexcept { return {p_.data, p_.data != nullptr ? payload_bytes() : 0}; }
  std::uint64_t seq() const noexcept { return p_.seq; }
  std::uint64_t generation() const noexcept { return p_.generation; }
  std::uint64_t capture_ns() const noexcept { return p_.capture_ns; }
  std::uint64_t commit_ns() const noexcept { return p_.commit_ns; }
  // The user's metadata (an origin record in front of it is removed: see origin()).
  std::span<const std::byte> metadata() const noexcept { return p_.metadata; }
  // The camera frame behind this one (this frame itself when it comes from a producer).
  const Origin& origin() const noexcept { return *p_.origin; }
  std::uint64_t now_ns() const noexcept { return p_.now_ns; }    // when run() handed it over
  std::uint64_t dropped() const noexcept { return p_.dropped; }  // frames missed so far
  // The seqlock check: true if the producer has not started overwriting the frame. Call it
  // after using the pixels; false means the result must be thrown away.
  bool still_valid() const noexcept { return p_.valid != nullptr && p_.valid(p_.valid_ctx); }

  // cv::Mat header over the pixels (needs <shmframe/opencv.hpp>). Read only.
  template <class Dummy = void>
  auto mat() const {
    return detail::OpenCvAdapter<Dummy>::view(*this);
  }

 private:
  Parts p_;
};

// The seqlock check of a whole set (SetProcessor::on_set()): true if no member was overwritten.
inline bool still_valid(std::span<const Input> set) noexcept {
  return std::ranges::all_of(set, [](const Input& in) { return in.still_valid(); });
}

// A slot of the output stream, being written (see Output::acquire()).
struct OutputBuffer {
  std::byte* data = nullptr;
  FrameFormat format;  // stride is the real row pitch
  explicit operator bool() const noexcept { return data != nullptr; }
  std::size_t stride() const noexcept { return format.effective_stride(); }
  std::byte* row(std::uint32_t y) const noexcept { return data + static_cast<std::size_t>(y) * stride(); }
  // Plane i to fill (raw formats; stages publish raw formats only).
  MutablePlane plane(std::uint32_t i) const noexcept {
    if (data == nullptr || i >= format.plane_count() || format.compressed()) return {};
    const PlaneLayout l = format.plane(i);
    return {data + l.offset, l.stride, l.row_bytes, l.rows};
  }
  // cv::Mat header over the buffer (needs <shmframe/opencv.hpp>): draw into it in place.
  template <class Dummy = void>
  auto mat() const {
    return detail::OpenCvAdapter<Dummy>::view(*this);
  }
};

// Where a processor publishes its result: the stage's output stream (run()'s RunOptions::output).
// One frame per input frame at most; the input's origin travels with it.
class Output {
 public:
  virtual ~Output() = default;
  // False when the stage has no output stream (acquire() then returns an empty buffer).
  virtual bool enabled() const noexcept = 0;
  // A slot of the output stream in `format` (its stride is ignored: the stream pads as
  // configured). A format other than the current one starts a new generation. Empty if there is
  // no output, or on error (logged).
  virtual OutputBuffer acquire(const FrameFormat& format) noexcept = 0;
  // Publishes the acquired buffer with the input frame's capture time and origin, plus the
  // user's `metadata`. False if nothing was acquired, the metadata is too large, or the input
  // frame was overwritten while the result was computed (input.still_valid() false: run() checks
  // it here, so a result read from changing pixels is never published; the frame counts as
  // discarded).
  virtual bool commit(std::span<const std::byte> metadata = {}) noexcept = 0;

  // Copying convenience: acquire + copy `image` (tight or strided rows) + commit.
  bool publish(const ImageView& image, PixelFormat pixel_format, std::span<const std::byte> metadata = {}) noexcept {
    if (image.data == nullptr || image.bytes_per_pixel != bytes_per_pixel(pixel_format)) return false;
    const OutputBuffer b = acquire(FrameFormat{image.width, image.height, pixel_format, 0});
    if (!b) return false;
    const std::size_t row = b.format.row_bytes();
    for (std::uint32_t y = 0; y < image.height; ++y) {
      std::memcpy(b.row(y), static_cast<const std::byte*>(image.data) + static_cast<std::size_t>(y) * image.stride,
                  row);
    }
    return commit(metadata);
  }
};

// What run() tells a processor on idle ticks: the reader's counters and the stream's state.
// Over a SyncReader: `reader.frames`, `drops` and `overruns` sum the members' (its other counters
// stay 0; SyncReader::member(i).stats() has each member's), `stream` is the first member's, and
// processed/discarded count sets.
struct RunStatus {
  std::uint64_t now_ns = 0;
  ReaderStats reader;
  StreamInfo stream;            // zeros while not attached
  std::uint64_t processed = 0;  // frames on_frame() accepted
  std::uint64_t discarded = 0;  // frames on_frame() found overwritten (returned false)
  std::uint64_t errors = 0;     // on_frame() calls that threw
  std::uint64_t published = 0;  // output frames committed
  std::uint64_t sets = 0;       // over a SyncReader: sets delivered
  std::uint64_t unmatched = 0;  // over a SyncReader: frames released without a set (every stream)
};

// The user's code. Only on_frame() is required.
class Processor {
 public:
  virtual ~Processor() = default;
  // Attached to a generation of the input (first attach, producer restart, format change).
  virtual void on_attached(const StreamInfo& info) { (void)info; }
  // A frame. Return false when the frame was overwritten while in use (input.still_valid() false
  // after reading): its result is thrown away, and an acquired output buffer is abandoned. A
  // throw is logged and counted; the stage goes on.
  virtual bool on_frame(const Input& input, Output& output) = 0;
  // The producer stopped beating (crashed or hung); a new one may take over.
  virtual void on_producer_lost(const StreamInfo& info, std::string_view why) {
    (void)info;
    (void)why;
  }
  // The producer closed the stream cleanly.
  virtual void on_closed(std::uint64_t generation) { (void)generation; }
  // About once per RunOptions::idle_period, frames or not.
  virtual void on_idle(const RunStatus& status) { (void)status; }
};

// The user's code over synchronised sets (shmframe/sync_reader.hpp): several cameras as one.
// `stream` is a member's index in the SyncReader's names. Only on_set() is required.
class SetProcessor {
 public:
  virtual ~SetProcessor() = default;
  // Member `stream` attached to a generation (first attach, producer restart, format change).
  virtual void on_attached(std::size_t stream, const StreamInfo& info) {
    (void)stream;
    (void)info;
  }
  // A set: one Input per stream, in the order of the names, captured together. Return false when
  // a member was overwritten while in use (any input's still_valid() false after reading). The
  // output carries the first stream's capture time and origin (the reference camera).
  virtual bool on_set(std::span<const Input> set, Output& output) = 0;
  virtual void on_producer_lost(std::size_t stream, const StreamInfo& info, std::string_view why) {
    (void)stream;
    (void)info;
    (void)why;
  }
  virtual void on_closed(std::size_t stream, std::uint64_t generation) {
    (void)stream;
    (void)generation;
  }
  virtual void on_idle(const RunStatus& status) { (void)status; }
};

enum class RunEnd {
  frames_done,  // RunOptions::max_frames processed (frames, or sets)
  stopped,      // interrupt() on the run's reader, the stop flag, or SIGINT / SIGTERM
  closed,       // the producer closed the stream (every stream's, for sets) and exit_on_close was set
  timed_out,    // no frame (set) for RunOptions::idle_timeout
  error,        // the stream cannot be used (message says why), or the output failed
};
std::string_view to_string(RunEnd e) noexcept;

struct RunOptions {
  std::uint64_t max_frames = 0;               // return after this many processed frames (0 = no limit)
  std::chrono::milliseconds idle_timeout{0};  // return timed_out when no frame came this long (0 = never)
  bool exit_on_close = false;                 // return when the producer closes the stream
  // Stop on SIGINT / SIGTERM: while any run() with this set is running, the process's handlers
  // for them are shmframe's (no SA_RESTART), and the previous ones are restored when the last
  // such run() ends; a signal stops every such run() at once, on any thread. Off when the
  // program handles signals itself (then use `stop`, or Reader::interrupt()).
  bool handle_signals = true;
  // Checked between events; set it from anywhere. To stop a run() at once, from any thread or a
  // signal handler, call interrupt() on its Reader instead (or too): the wait in progress ends
  // and run() returns `stopped` (clear_interrupt() before the Reader waits again).
  const std::atomic<bool>* stop = nullptr;
  std::chrono::milliseconds idle_period{1000};
  // Publish the processor's output as this stream ("" = no output). Its format is whatever the
  // processor acquires; output_options sets the rest (slots, mode, max_block, ...). The output's
  // metadata capacity is the record plus output_options.metadata_capacity.
  std::string output;
  WriterOptions output_options;
  LogCallback log;
};

struct RunResult {
  RunEnd end = RunEnd::stopped;
  std::string message;  // why, for error and timed_out
  RunStatus status;     // the final counters
};

// Runs `processor` on `reader`'s frames until an end condition (RunEnd). Never throws: a stream
// that cannot be used, or an output stream that cannot be created (e.g. its name is owned by
// another producer), ends the run with RunEnd::error and a message naming the cause.
RunResult run(Reader& reader, Processor& processor, const RunOptions& options = {});
// The multi-input form: runs `processor` on `reader`'s sets, as above. A member's fatal error
// ends the run; its other events go to the processor with the member's index.
RunResult run(SyncReader& reader, SetProcessor& processor, const RunOptions& options = {});

}  // namespace shmframe
