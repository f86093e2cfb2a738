// shmframe/reader.hpp: the consumer side of a stream.
//
// A Reader follows a stream by name across producer restarts and format changes: it waits
// for the stream to appear, attaches to the current generation (validating every header
// field), takes committed frames without copying them, notices a lost producer within a
// few heartbeats, and re-attaches by itself when a new generation appears. Each Reader
// holds one entry in the segment's consumer table (its wake-up word, its lease, its
// counters); the producer never waits for it.
//
// Thread contract: a Reader and the Frames it returns are used from one thread at a time.
// Different Readers (in one or many processes) are independent. Waits return early with
// Event::interrupted when a signal handler runs (install handlers without SA_RESTART).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <opencv2/core/mat.hpp>

#include "shmframe/error.hpp"
#include "shmframe/format.hpp"
#include "shmframe/writer.hpp"  // LogCallback

namespace shmframe {

namespace detail {
struct Attachment;
struct ReaderImpl;
}  // namespace detail

// A committed frame, viewed in place. The Reader's lease asks the producer not to overwrite
// the slot of the frame it took last (one lease per Reader: taking another frame moves it);
// with more slow readers than spare slots the producer overwrites anyway, so check
// still_valid() after using the pixels (or use copy_latest()).
class Frame {
 public:
  Frame() = default;
  Frame(Frame&&) noexcept;
  Frame& operator=(Frame&&) noexcept;
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  ~Frame();  // release()

  explicit operator bool() const noexcept { return att_ != nullptr; }
  std::uint64_t seq() const noexcept { return seq_; }
  std::uint64_t generation() const noexcept;
  std::uint64_t capture_ns() const noexcept { return capture_ns_; }
  std::uint64_t commit_ns() const noexcept { return commit_ns_; }
  const FrameFormat& format() const noexcept;
  // Zero-copy view over the slot's pixels. Read only: writing through it corrupts the stream.
  const cv::Mat& mat() const noexcept { return mat_; }
  const std::byte* data() const noexcept { return data_; }
  std::span<const std::byte> metadata() const noexcept { return {metadata_, metadata_size_}; }
  // True while the producer has not started overwriting this slot. A frame whose pixels
  // were used and that is still valid afterwards was read consistently (seqlock rule).
  bool still_valid() const noexcept;
  // Drops the lease; counts an overrun if the slot was overwritten while held.
  void release() noexcept;

 private:
  friend struct detail::ReaderImpl;
  std::shared_ptr<detail::Attachment> att_;
  std::uint32_t slot_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t capture_ns_ = 0;
  std::uint64_t commit_ns_ = 0;
  const std::byte* data_ = nullptr;
  const std::byte* metadata_ = nullptr;
  std::size_t metadata_size_ = 0;
  cv::Mat mat_;
};

struct ReaderOptions {
  std::chrono::milliseconds ready_timeout{2000};  // how long a segment may stay INITIALIZING
  bool every_frame = false;  // take seq+1 while it is still held by a slot, instead of jumping to the newest
  LogCallback log;
};

enum class EventKind {
  frame,           // Event::frame holds a new frame
  attached,        // attached to a generation (first attach, or after a takeover / format change)
  producer_lost,   // the producer died or stopped beating; frames already taken stay readable
  closed,          // the producer closed the stream cleanly
  timeout,         // nothing happened before the timeout
  interrupted,     // a signal arrived
  error,           // the stream exists but cannot be used (error / message say why)
};
std::string_view to_string(EventKind k) noexcept;

struct Event {
  EventKind kind = EventKind::timeout;
  Frame frame;
  std::uint64_t generation = 0;
  std::error_code error;
  std::string message;
  std::uint64_t dropped = 0;  // with a frame: frames missed just before it
};

struct StreamInfo {
  std::uint64_t generation = 0;
  FrameFormat format;
  pid_t writer_pid = 0;
  uid_t writer_uid = 0;
  std::uint32_t slots = 0;
  std::uint32_t max_consumers = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t heartbeat_age_ns = 0;
  std::uint64_t heartbeat_interval_ns = 0;
};

struct ReaderStats {
  std::uint64_t frames = 0;       // frames taken through wait()
  std::uint64_t drops = 0;        // committed frames this reader never took
  std::uint64_t overruns = 0;     // frames overwritten while held, or retried during a copy
  std::uint64_t attaches = 0;     // generations attached
  std::uint64_t producer_lost = 0;
  std::uint64_t version_mismatches = 0;
  std::uint64_t bad_magic = 0;
  std::uint64_t corrupt = 0;
  std::uint64_t permission_denied = 0;
  std::uint64_t init_failures = 0;
};

class Reader {
 public:
  // Does not attach yet. Throws Error(invalid_name).
  explicit Reader(std::string_view name, ReaderOptions options = {});
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  ~Reader();

  // Attaches now, waiting up to `timeout` for the stream to exist and be READY. Throws
  // Error: not_found, permission_denied, abi_mismatch, bad_magic, corrupt, init_timeout,
  // creator_died, too_many_consumers.
  void attach(std::chrono::milliseconds timeout);
  bool attached() const noexcept;
  void detach() noexcept;

  // The next event: a new frame, a life-cycle change, or timeout. Attaches and re-attaches
  // by itself. Never throws; bounded by `timeout`.
  Event wait(std::chrono::nanoseconds timeout) noexcept;

  // The newest committed frame (empty if none or not attached).
  Frame latest() noexcept;
  // Frame `seq` of the current generation while a slot still holds it (empty otherwise).
  Frame read(std::uint64_t seq) noexcept;
  // Copies the newest frame into `out` (reallocated to the format) and validates the copy;
  // retries when the producer overwrote it meanwhile. False if there is no frame.
  bool copy_latest(cv::Mat& out, std::uint64_t* seq = nullptr) noexcept;

  const std::string& name() const noexcept;
  StreamInfo info() const noexcept;  // of the attached generation; zeros when detached
  ReaderStats stats() const noexcept;

 private:
  std::unique_ptr<detail::ReaderImpl> impl_;
};

}  // namespace shmframe
