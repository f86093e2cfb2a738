// shmframe/detail/segment.hpp: mapping a segment and validating its header.
//
// Geometry is the process-local, validated copy of a segment's immutable fields: once a
// header has passed validate_header(), every offset and size the library uses comes from
// the Geometry, never again from shared memory, so a peer that scribbles on the header
// after READY cannot make us read or write out of bounds. Internal; values are immutable
// after construction and may be shared between threads.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shmframe/format.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {
struct ConsumerInfo;
struct StreamInfo;
}

namespace shmframe::detail {

struct Geometry {
  FrameFormat format;
  std::uint32_t bytes_per_pixel = 0;
  std::uint64_t frame_bytes = 0;
  std::uint32_t slot_count = 0;
  std::uint32_t max_consumers = 0;
  std::uint32_t metadata_capacity = 0;
  std::uint64_t slots_offset = 0;
  std::uint64_t slot_stride = 0;
  std::uint64_t pixel_offset = 0;
  std::uint64_t consumers_offset = 0;
  std::uint64_t consumer_stride = 0;
  std::uint64_t total_size = 0;
  std::uint64_t heartbeat_interval_ns = 0;
  std::uint64_t generation = 0;
  std::int32_t writer_pid = 0;
  std::uint32_t writer_uid = 0;
  std::uint64_t writer_start_ticks = 0;
};

// Layout for a new segment; throws Error(invalid_argument) naming the bad option.
Geometry plan_geometry(std::string_view stream, const FrameFormat& format, std::uint32_t slots,
                       std::uint32_t max_consumers, std::uint32_t metadata_capacity);

// Checks a snapshot of a READY header against the size of the object it came from.
// Throws Error(bad_magic | abi_mismatch | corrupt) naming the field, expected and found.
Geometry validate_header(const layout::SegmentHeader& h, std::uint64_t object_size, std::string_view stream);

// Identity-only check (magic, ABI, header size) used before the layout is READY.
void validate_identity(const layout::SegmentHeader& h, std::string_view stream);

// An mmap'ed segment. Accessors assume the geometry was validated for this mapping.
class Mapping {
 public:
  Mapping(void* base, std::size_t size, dev_t dev, ino_t ino) noexcept : base_(base), size_(size), dev_(dev), ino_(ino) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  std::byte* base() const noexcept { return static_cast<std::byte*>(base_); }
  std::size_t size() const noexcept { return size_; }
  dev_t dev() const noexcept { return dev_; }
  ino_t ino() const noexcept { return ino_; }
  layout::SegmentHeader& header() const noexcept { return *reinterpret_cast<layout::SegmentHeader*>(base_); }

 private:
  void* base_;
  std::size_t size_;
  dev_t dev_;
  ino_t ino_;
};

// Typed access into a mapping through a validated geometry.
struct View {
  std::shared_ptr<Mapping> map;
  Geometry geo;

  layout::SegmentHeader& header() const noexcept { return map->header(); }
  std::byte* slot_base(std::uint32_t i) const noexcept {
    return map->base() + geo.slots_offset + static_cast<std::uint64_t>(i) * geo.slot_stride;
  }
  layout::SlotHeader& slot(std::uint32_t i) const noexcept {
    return *reinterpret_cast<layout::SlotHeader*>(slot_base(i));
  }
  std::byte* metadata(std::uint32_t i) const noexcept { return slot_base(i) + sizeof(layout::SlotHeader); }
  std::byte* pixels(std::uint32_t i) const noexcept { return slot_base(i) + geo.pixel_offset; }
  layout::ConsumerEntry& consumer(std::uint32_t i) const noexcept {
    return *reinterpret_cast<layout::ConsumerEntry*>(map->base() + geo.consumers_offset +
                                                     static_cast<std::uint64_t>(i) * geo.consumer_stride);
  }
  // Wakes every consumer entry (used on commit-less events: close, supersede).
  void wake_all_consumers() const noexcept;
};

// ConsumerEntry::owner_pid while the producer reclaims a dead consumer's entry.
inline constexpr std::int32_t kReaping = -1;

// True when `e`, owned by `pid`, belongs to a dead consumer: the pid is gone (its start time is
// compared only once the owner has finished initializing the entry) and the entry has been
// silent for 3 heartbeat intervals (pid namespaces can make a live pid look gone).
bool consumer_dead(layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t now, std::uint64_t interval) noexcept;

// The stream's identity, format and producer health, from a validated view.
StreamInfo stream_info(const View& v);

// Snapshot of the live entries of the consumer table (statistics; relaxed reads).
std::vector<ConsumerInfo> collect_consumers(const View& v);

// mmap()s an open shm object of the given size read-write; throws Error(system_error).
std::shared_ptr<Mapping> map_object(int fd, std::uint64_t size, std::string_view stream, bool populate);

}  // namespace shmframe::detail
