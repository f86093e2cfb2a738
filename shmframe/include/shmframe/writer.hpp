// shmframe/writer.hpp: the producer side of a stream.
//
// A Writer owns a stream name for its lifetime: it holds the name's producer lock (an
// flock the kernel drops if the process dies), creates the segment for the current
// generation, commits frames into its slots and keeps a heartbeat. A segment left by a
// dead producer is taken over as generation + 1; a format change makes a new generation.
//
// Thread contract: one thread drives acquire/commit/publish/reconfigure/close; stats()
// may be called from any thread. The Writer runs one internal thread for the heartbeat
// and for reclaiming the entries of dead consumers; it never blocks on a consumer.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "shmframe/error.hpp"
#include "shmframe/format.hpp"

namespace shmframe {

namespace detail {
struct WriterImpl;
class Mapping;
}

enum class LogLevel { debug, info, warn, error };
using LogCallback = std::function<void(LogLevel, const std::string&)>;

struct WriterOptions {
  FrameFormat format;
  std::uint32_t slots = 2;               // 1..64; 3+ lets slow zero-copy readers keep a lease without overrun
  std::uint32_t max_consumers = 32;      // consumer table size
  std::uint32_t metadata_capacity = 256; // bytes of user metadata per frame
  mode_t mode = 0600;                    // permissions of the segment and the lock
  std::chrono::milliseconds heartbeat{100};
  bool prefault = true;                  // touch every page at creation so the first frames don't fault
  LogCallback log;                       // optional; called from the creating thread or the heartbeat thread

  // Test hooks, not for production: called with the segment in INITIALIZING state.
  std::function<void()> test_hook_initializing;
};

// A slot being written. Fill mat() (or data()) and pass it to Writer::commit(). Dropping it
// uncommitted abandons the slot: readers never see its content. A slot acquired before a
// reconfigure() or close() can no longer be committed (commit returns 0).
class WriteSlot {
 public:
  WriteSlot() = default;
  WriteSlot(WriteSlot&&) noexcept;
  WriteSlot& operator=(WriteSlot&&) noexcept;
  WriteSlot(const WriteSlot&) = delete;
  WriteSlot& operator=(const WriteSlot&) = delete;
  ~WriteSlot();

  explicit operator bool() const noexcept { return data_ != nullptr; }
  cv::Mat& mat() noexcept { return mat_; }        // view over the slot's pixels (no copy)
  std::byte* data() noexcept { return data_; }
  std::uint64_t seq() const noexcept { return seq_; }

 private:
  friend class Writer;
  friend struct detail::WriterImpl;
  void abandon() noexcept;
  // Weak: a slot may outlive its Writer. The mapping is held so that writes through a slot
  // whose generation was retired (reconfigure, close) land in the old segment, never the new.
  std::weak_ptr<detail::WriterImpl> writer_;
  std::shared_ptr<detail::Mapping> map_;
  cv::Mat mat_;
  std::byte* data_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t generation_ = 0;
};

struct ConsumerInfo {
  pid_t pid = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t lag = 0;  // frames behind the last committed one
  std::uint64_t frames = 0;
  std::uint64_t drops = 0;
  std::uint64_t overruns = 0;
  std::uint64_t heartbeat_age_ns = 0;
  bool holds_lease = false;
};

struct WriterStats {
  std::uint64_t generation = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t forced_overwrites = 0;
  std::uint64_t consumers_reaped = 0;
  std::uint64_t commits_aborted = 0;
  std::vector<ConsumerInfo> consumers;
};

class Writer {
 public:
  // Creates (or takes over) the stream. Throws Error: invalid_name, invalid_argument,
  // already_owned (names the owner pid), permission_denied, system_error.
  Writer(std::string_view name, WriterOptions options);
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  ~Writer();  // close()

  // Zero-copy: a slot to fill in place. Never blocks and never waits for a consumer.
  [[nodiscard]] WriteSlot acquire() noexcept;
  // Publishes a filled slot; returns its sequence number (1, 2, ... within a generation).
  // capture_ns: CLOCK_MONOTONIC time the frame was captured. Metadata longer than the
  // capacity is truncated (the return of metadata_capacity() tells the limit).
  std::uint64_t commit(WriteSlot& slot, std::uint64_t capture_ns, std::span<const std::byte> metadata = {}) noexcept;
  // Copying convenience: acquire + copy `frame` (must match the format) + commit. Returns 0
  // if the frame's size or type does not match the stream format.
  std::uint64_t publish(const cv::Mat& frame, std::uint64_t capture_ns, std::span<const std::byte> metadata = {}) noexcept;

  // Replaces the segment by a new generation with another format (consumers follow).
  void reconfigure(const FrameFormat& format);
  // Marks the stream CLOSED, wakes consumers, removes the segment and the lock. Idempotent.
  void close() noexcept;

  const std::string& name() const noexcept;
  const FrameFormat& format() const noexcept;
  std::uint64_t generation() const noexcept;
  std::uint32_t metadata_capacity() const noexcept;
  WriterStats stats() const;

 private:
  std::shared_ptr<detail::WriterImpl> impl_;
};

}  // namespace shmframe
