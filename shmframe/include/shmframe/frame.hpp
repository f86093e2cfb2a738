// shmframe/frame.hpp: a committed frame, viewed in place (no copy, no OpenCV needed).
//
// A Frame is the pixels of one committed frame in its slot plus what travels with it (seq,
// generation, timestamps, metadata). While it lives, it holds its slot: the producer writes
// elsewhere as long as a free slot exists. A Reader may hold several frames at once (up to
// slots - 1; more are handed out unheld, see held()). With every spare slot held the producer
// overwrites the oldest anyway (it never waits for a consumer), so check still_valid() after
// using the pixels: true then means what you read was consistent. A pinned frame (pin()) is never
// overwritten: for views handed to code that does not check.
//
// Thread contract: one Frame object is used by one thread at a time, but it may be moved to
// and used, released or destroyed on any thread, while its Reader goes on taking frames on its
// own thread and other Frames of the same Reader are released elsewhere. A Frame keeps the
// mapping alive: it stays safe to read (never a crash) after its Reader moved on, re-attached
// or was destroyed; still_valid() then tells whether the pixels are still that frame.
//
// OpenCV: include <shmframe/opencv.hpp> and frame.mat() is a cv::Mat header over the pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "shmframe/format.hpp"
#include "shmframe/origin.hpp"

namespace shmframe {

namespace detail {
struct Attachment;
class ReaderCore;
template <class Dummy>
struct OpenCvAdapter;  // defined by shmframe/opencv.hpp
}  // namespace detail

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
  std::uint64_t capture_ns() const noexcept { return capture_ns_; }  // CLOCK_MONOTONIC, from the producer
  std::uint64_t commit_ns() const noexcept { return commit_ns_; }    // CLOCK_MONOTONIC, at commit
  const FrameFormat& format() const noexcept;
  std::uint32_t width() const noexcept { return format().width; }
  std::uint32_t height() const noexcept { return format().height; }
  PixelFormat pixel_format() const noexcept { return format().pixel_format; }
  // Bytes from one row to the next; may exceed width * bytes per pixel (padded rows).
  std::size_t stride() const noexcept { return format().effective_stride(); }
  // The first byte of the frame (plane 0's first pixel). Read only: writing through it corrupts
  // the stream for everyone.
  const std::byte* data() const noexcept { return data_; }
  // Planes: 1 for packed formats and jpeg, 2 for nv12 (Y, then U V pairs), 3 for i420 (Y, U, V).
  std::uint32_t plane_count() const noexcept { return format().plane_count(); }
  // Plane i's pixels (empty for i >= plane_count()). jpeg: one row of payload_bytes() bytes.
  PlaneView plane(std::uint32_t i) const noexcept;
  // Bytes of this frame: the planes' extent (format().frame_bytes()) for raw formats, the
  // JPEG's size for jpeg (at most the capacity; never trusted beyond it).
  std::size_t payload_bytes() const noexcept { return payload_bytes_; }
  // The frame's bytes as committed, planes and padding as laid out: a JPEG file's bytes for jpeg.
  std::span<const std::byte> payload() const noexcept { return {data_, payload_bytes_}; }
  // Row y of plane 0 (the only plane of the packed formats, nv12's and i420's Y plane); nullptr
  // past its rows (height(); a jpeg frame has one "row": its payload).
  const std::byte* row(std::uint32_t y) const noexcept {
    const std::uint32_t rows = format().compressed() ? 1 : height();
    return y < rows ? data_ + static_cast<std::size_t>(y) * stride() : nullptr;
  }
  // The user's metadata as committed (after the origin record of a stage's output, which
  // origin() reads). Validate like pixels: still_valid() after using it, or copy it first.
  std::span<const std::byte> metadata() const noexcept { return {metadata_, metadata_size_}; }
  // The camera frame behind a stage's output (docs/ABI.md, "Origin record"): nullopt for a
  // producer's own frame (or a record that does not parse). Validate with still_valid() after it.
  std::optional<Origin> origin() const;
  // True while this frame holds its slot (the producer writes elsewhere while it can).
  bool held() const noexcept { return held_; }
  // Pins the frame: until release(), the producer never overwrites it, so a view of its pixels
  // may be handed to code that will not call still_valid() (a GstBuffer downstream, an array kept
  // by the user). The stream's consumers pin at most slots - 1 frames together, so the producer
  // always has a slot to write. True when pinned (or already was); false for a frame not held, of
  // a read-only reader, overwritten already, or when the stream's pins are all in use: then copy
  // it (copy_to()). Only a writer forging pin bits can break a pin (docs/PROTOCOL.md, "Pinned
  // frames"). Thread contract as for release().
  [[nodiscard]] bool pin() noexcept;
  bool pinned() const noexcept { return pinned_; }
  // True while the producer has not started overwriting this slot. A frame whose pixels were
  // used and that is still valid afterwards was read consistently (seqlock rule).
  bool still_valid() const noexcept;
  // Copies the pixels into `dst` (rows `dst_stride` bytes apart, at least row_bytes() each,
  // height() rows), then validates: true when the copy is this frame, intact (the seqlock rule:
  // the producer had not started overwriting the slot when the copy ended). False, with `dst`
  // holding garbage, when it was overwritten meanwhile, or for an empty Frame or a `dst_stride`
  // below the row size. The one copy-and-validate of the project: use it rather than copying
  // data() and calling still_valid() by hand. Any thread (the Frame's thread contract).
  // Formats with several planes are copied as FrameFormat{width, height, format, dst_stride} lays
  // them out (chroma right after the Y plane, its stride derived: see format.hpp); jpeg copies
  // payload_bytes() bytes (dst_stride at least that).
  [[nodiscard]] bool copy_to(std::byte* dst, std::size_t dst_stride) const noexcept;
  // The same into planes anywhere: one destination per plane (data and stride used; each stride at
  // least that plane's row_bytes), e.g. a GstVideoFrame's planes.
  [[nodiscard]] bool copy_to(std::span<const MutablePlane> planes) const noexcept;
  std::size_t row_bytes() const noexcept { return format().row_bytes(); }
  // Gives the slot back; counts an overrun if it was overwritten while held. Idempotent.
  void release() noexcept;
  // Keeps the segment this frame lives in mapped, without holding its slot: for buffers that
  // view the pixels and may outlive the Frame (a numpy array, a GstMemory). Reading through
  // them stays memory-safe; still_valid() of a Frame still tells whether the pixels are its own.
  // Empty for an empty Frame.
  std::shared_ptr<const void> mapping() const noexcept { return att_; }

  // cv::Mat header over the pixels (needs <shmframe/opencv.hpp>). Read only, like data().
  template <class Dummy = void>
  auto mat() const {
    return detail::OpenCvAdapter<Dummy>::view(*this);
  }

 private:
  friend class detail::ReaderCore;
  std::shared_ptr<detail::Attachment> att_;
  std::uint32_t slot_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t capture_ns_ = 0;
  std::uint64_t commit_ns_ = 0;
  const std::byte* data_ = nullptr;
  const std::byte* metadata_ = nullptr;
  const std::byte* origin_record_ = nullptr;  // kOriginRecordSize bytes, when the slot is flagged
  std::size_t metadata_size_ = 0;
  std::size_t payload_bytes_ = 0;
  bool held_ = false;
  bool pinned_ = false;
};

}  // namespace shmframe
