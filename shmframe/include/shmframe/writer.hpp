// shmframe/writer.hpp: the producer side of a stream.
//
// A Writer owns a stream name for its lifetime: it holds the name's producer lock (an flock the
// kernel drops if the process dies), creates the segment for the current generation, commits
// frames into its slots and keeps a heartbeat. A segment left by a dead producer is taken over
// as generation + 1; a format change makes a new generation, never a resize in place.
//
// Thread contract: every method may be called from any thread; they take turns on one lock. The
// one wait, acquire()'s for a lossless consumer, does not hold that lock: a WriteSlot dropped,
// stats(), reconfigure() or close() on another thread meanwhile go ahead, and close() or
// reconfigure() end the wait (acquire() then returns empty: closed or stale_generation). One
// WriteSlot is out at a time: another acquire() meanwhile returns busy. The Writer runs one
// internal thread for the heartbeat and for reclaiming the entries of dead consumers. It never blocks on a consumer,
// except on a lossless one, and then for at most WriterOptions::max_block per frame.
//
// OpenCV: include <shmframe/opencv.hpp> for slot.mat() and writer.publish(cv::Mat, ...).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shmframe/error.hpp"
#include "shmframe/format.hpp"
#include "shmframe/info.hpp"
#include "shmframe/log.hpp"
#include "shmframe/origin.hpp"

namespace shmframe {

namespace detail {
class WriterImpl;
class Region;
template <class Dummy>
struct OpenCvAdapter;  // defined by shmframe/opencv.hpp
}  // namespace detail

struct WriterOptions {
  FrameFormat format;
  std::uint32_t slots = 2;                // 1..64; a reader may hold slots - 1 frames without overrun (at least 1)
  std::uint32_t max_consumers = 32;       // consumer table size
  std::uint32_t metadata_capacity = 256;  // bytes of user metadata per frame
  // Pad every row to a multiple of this many bytes (a power of two, 1..4096; 1 = tight). Used
  // when format.stride is 0; an explicit stride wins.
  std::uint32_t stride_align = 1;
  mode_t mode = 0600;  // permissions of the segment (the lock stays owner-only)
  std::chrono::milliseconds heartbeat{100};
  // Lossless consumers: acquire() waits at most this long for one to take the frame it would
  // overwrite, then demotes it to lossy (counted). 0 = never wait (lossless consumers are lossy).
  std::chrono::milliseconds max_block{100};
  // After demoting a lossless consumer, the producer waits for it again only once it has taken a
  // frame committed after its demotion (caught up) and this long has passed: a slow or hostile
  // lossless consumer costs at most one max_block per window (docs/PROTOCOL.md, "Delivery
  // modes"). 0 = as soon as it has caught up.
  std::chrono::milliseconds demotion_window{1000};
  bool prefault = true;  // touch every page at creation so the first frames don't fault
  LogCallback log;       // optional; called from the driving thread or the heartbeat thread
};

// The limits of WriterOptions: the Writer refuses anything outside them (Error(invalid_argument)).
// Front ends use these constants in their own option checks rather than restating the numbers.
inline constexpr std::uint32_t kMaxSlots = 64;  // one bit per slot in a consumer's held set
inline constexpr std::uint32_t kMaxConsumers = 1024;
inline constexpr std::uint32_t kMaxDimension = 32768;  // width and height
inline constexpr std::uint32_t kMaxMetadata = 1u << 20;
inline constexpr std::uint32_t kMaxStrideAlign = 4096;
inline constexpr std::chrono::milliseconds kMinHeartbeat{1};
inline constexpr std::chrono::milliseconds kMaxHeartbeat{60'000};
inline constexpr std::chrono::milliseconds kMaxMaxBlock{60'000};
inline constexpr std::chrono::milliseconds kMaxDemotionWindow{3'600'000};
inline constexpr mode_t kDefaultMode = 0600;

// Every option against those limits (the format's size too, when it is set: width and height
// not 0). nullopt when a Writer would accept them; else the first problem, naming the option as
// the apps and the GStreamer element spell it ("slots=0 is out of range: use 1..64 ..."). The
// Writer's constructor throws the same message; front ends call this to refuse early (the
// GStreamer sink when it starts, before any caps).
std::optional<std::string> check_options(const WriterOptions& o);

// Why a hot-path call did not commit. Every value but `ok` means nothing was published.
enum class CommitStatus {
  ok,
  closed,              // the Writer was closed
  busy,                // another WriteSlot is outstanding: commit or drop it first
  empty_slot,          // the WriteSlot is empty (acquire failed, or already committed)
  foreign_slot,        // the WriteSlot came from another Writer
  stale_generation,    // the WriteSlot was acquired before a reconfigure(): its generation is gone
  format_mismatch,     // publish(): the image's size, pixel size or planes differ from the stream format
  metadata_too_large,  // more metadata than metadata_capacity(); the slot stays acquired
  payload_too_large,   // jpeg: more bytes than the stream's capacity (max_payload); never truncated
  payload_missing,     // jpeg: commit() without set_payload_bytes(), or an empty payload
  bad_origin,          // the origin's stream is not a valid stream name; the slot stays acquired
};
// "payload_too_large", ...
std::string_view to_string(CommitStatus s) noexcept;
// One sentence: what went wrong and the fix ("... raise --max-payload ...").
std::string_view explain(CommitStatus s) noexcept;

struct [[nodiscard]] CommitResult {
  CommitStatus status = CommitStatus::empty_slot;
  std::uint64_t seq = 0;  // the committed sequence number when status == ok
  explicit operator bool() const noexcept { return status == CommitStatus::ok; }
};

// An image in memory, for publish(): rows of `bytes_per_pixel * width` bytes, `stride` apart.
struct ImageView {
  const void* data = nullptr;
  std::size_t stride = 0;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t bytes_per_pixel = 0;
};

// A slot being written. Fill its planes (data(), rows stride() apart, for the packed formats;
// plane(i) for nv12 and i420; for jpeg up to capacity() bytes at data(), then
// set_payload_bytes()) and pass it to Writer::commit(). Dropping it uncommitted abandons the
// slot: readers never see its content.
class WriteSlot {
 public:
  WriteSlot() = default;
  WriteSlot(WriteSlot&&) noexcept;
  WriteSlot& operator=(WriteSlot&&) noexcept;
  WriteSlot(const WriteSlot&) = delete;
  WriteSlot& operator=(const WriteSlot&) = delete;
  ~WriteSlot();

  explicit operator bool() const noexcept { return data_ != nullptr; }
  // Why an empty WriteSlot is empty (closed or busy); ok for a valid one.
  CommitStatus status() const noexcept { return status_; }
  std::byte* data() noexcept { return data_; }
  std::byte* row(std::uint32_t y) noexcept { return data_ + static_cast<std::size_t>(y) * format_.effective_stride(); }
  std::size_t stride() const noexcept { return format_.effective_stride(); }
  const FrameFormat& format() const noexcept { return format_; }
  std::uint32_t plane_count() const noexcept { return format_.plane_count(); }
  // Plane i to fill (empty for i >= plane_count(), or an empty slot). jpeg: one row of capacity().
  MutablePlane plane(std::uint32_t i) noexcept;
  // Bytes the slot can take: format().frame_bytes().
  std::size_t capacity() const noexcept { return static_cast<std::size_t>(format_.frame_bytes()); }
  // jpeg: how many bytes at data() the frame is (1..capacity(); commit() refuses more with
  // payload_too_large). Raw formats ignore it: a frame is always its planes.
  void set_payload_bytes(std::size_t n) noexcept { payload_bytes_ = n; }
  std::uint64_t seq() const noexcept { return seq_; }
  // Keeps the segment this slot lives in mapped, also after commit() (which empties the slot) and
  // after the Writer's end: take it first, for buffers over data() that may outlive the WriteSlot
  // (a numpy array, a GstMemory). It only keeps a late write from crashing: writing after
  // commit() still corrupts a published frame. Empty for an empty WriteSlot.
  std::shared_ptr<const void> mapping() const noexcept { return region_; }

  // cv::Mat header over the slot's pixels (needs <shmframe/opencv.hpp>): draw into it in place.
  template <class Dummy = void>
  auto mat() {
    return detail::OpenCvAdapter<Dummy>::view(*this);
  }

 private:
  friend class Writer;
  friend class detail::WriterImpl;
  void abandon() noexcept;
  // Weak: a slot may outlive its Writer. The mapping is held so that writes through a slot
  // whose generation was retired (reconfigure, close) land in the old segment, never the new.
  std::weak_ptr<detail::WriterImpl> writer_;
  std::shared_ptr<detail::Region> region_;
  FrameFormat format_;
  std::byte* data_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t generation_ = 0;
  std::size_t payload_bytes_ = 0;
  CommitStatus status_ = CommitStatus::empty_slot;
};

struct WriterStats {
  std::uint64_t generation = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t forced_overwrites = 0;
  std::uint64_t consumers_reaped = 0;
  std::uint64_t commits_aborted = 0;
  std::uint64_t lossless_demotions = 0;   // lossless consumers demoted after max_block
  std::uint64_t lossless_waits = 0;       // acquire() calls that waited for a lossless consumer
  std::uint64_t lossless_blocked_ns = 0;  // total time they waited
  // Words only the producer writes (state, sequence words, identity and format) that the
  // heartbeat found changed by another process and restored: a consumer with write access is
  // hostile or broken. The Writer's log says so too (at most once a second).
  std::uint64_t tampering = 0;
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

  // Zero-copy: a slot to fill in place. Never waits for a consumer, except for a lossless one
  // that has not taken the frame this slot holds, and then at most max_block. Empty (status()
  // says why) when the Writer is closed or another slot is outstanding.
  [[nodiscard]] WriteSlot acquire() noexcept;
  // Publishes a filled slot as the next frame. capture_ns: CLOCK_MONOTONIC time of capture.
  // `origin`: for a processing stage's output, the camera frame behind it (hops already counted:
  // the input's origin with hops + 1). It is recorded in front of `metadata` (docs/ABI.md, "Origin
  // record"), so the stream's metadata capacity must hold kOriginRecordSize more bytes;
  // bad_origin if its stream name is not one. The publish functions take it too.
  CommitResult commit(WriteSlot& slot, std::uint64_t capture_ns, std::span<const std::byte> metadata = {},
                      const Origin* origin = nullptr) noexcept;
  // Copying convenience: acquire + copy `image` (its size and pixel size must match the format)
  // + commit. Packed formats (one plane); use publish_planes() for nv12 / i420, publish_payload()
  // for jpeg.
  CommitResult publish(const ImageView& image, std::uint64_t capture_ns, std::span<const std::byte> metadata = {},
                       const Origin* origin = nullptr) noexcept;
  // acquire + copy each plane (one PlaneView per plane of the format, each with the format's
  // row_bytes and rows for it, any stride >= row_bytes) + commit. Any raw format.
  CommitResult publish_planes(std::span<const PlaneView> planes, std::uint64_t capture_ns,
                              std::span<const std::byte> metadata = {}, const Origin* origin = nullptr) noexcept;
  // jpeg: acquire + copy the compressed bytes + commit. payload_too_large (nothing published)
  // beyond the capacity, format_mismatch for a raw format.
  CommitResult publish_payload(std::span<const std::byte> payload, std::uint64_t capture_ns,
                               std::span<const std::byte> metadata = {}, const Origin* origin = nullptr) noexcept;
  // publish() for any image type an adapter knows (cv::Mat with <shmframe/opencv.hpp>).
  template <class Image>
  requires(!std::is_same_v<std::remove_cvref_t<Image>, ImageView>) CommitResult
      publish(const Image& image, std::uint64_t capture_ns, std::span<const std::byte> metadata = {})
  noexcept { return publish(detail::OpenCvAdapter<Image>::image(image), capture_ns, metadata); }

  // Replaces the segment by a new generation with another format (consumers follow).
  void reconfigure(const FrameFormat& format);
  // Marks the stream CLOSED, wakes consumers, removes the segment and the lock. Idempotent.
  void close() noexcept;

  const std::string& name() const noexcept;
  // The stream's format; stride is the real row pitch (after stride_align).
  FrameFormat format() const noexcept;
  std::uint64_t generation() const noexcept;
  std::uint32_t metadata_capacity() const noexcept;
  WriterStats stats() const;

 private:
  std::shared_ptr<detail::WriterImpl> impl_;
};

}  // namespace shmframe
