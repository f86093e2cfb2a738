// shmframe/detail/segment.hpp: the segment mechanism: plan, create, open, validate, retire.
//
// Geometry is the process-local, validated copy of a segment's immutable fields: once a header
// has passed validate_header(), every offset and size the library uses comes from the Geometry,
// never again from shared memory, so a peer that scribbles on the header after READY cannot
// make us read or write out of bounds. write_header() and validate_header() sit side by side
// in segment.cpp so the two cannot drift apart.
//
// Access rights live in the type: a ReadView (inspect, tools) can only read; a WriteView
// (producer, consumers owning an entry) can write. Internal; views are values that may be
// copied and shared between threads (the Region they hold unmaps when the last one goes).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shmframe/detail/os.hpp"
#include "shmframe/format.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {
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

// Checks magic, ABI version and header size of a header snapshot (valid once state != 0).
// Throws Error(bad_magic | abi_mismatch) naming both versions.
void validate_identity(const layout::SegmentHeader& h, std::string_view stream);
// Checks a snapshot of a READY header against the size of the object it came from.
// Throws Error(bad_magic | abi_mismatch | corrupt) naming the field, expected and found.
Geometry validate_header(const layout::SegmentHeader& h, std::uint64_t object_size, std::string_view stream);

// An mmap'ed shm object. Unmapped when the last view of it goes.
class Region {
 public:
  // Watched by the SIGBUS guard (detail/sigbus.hpp) for its lifetime.
  Region(void* base, std::size_t size, const struct stat& st, bool writable) noexcept;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region();

  std::byte* base() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  dev_t dev() const noexcept { return dev_; }
  ino_t ino() const noexcept { return ino_; }
  uid_t owner_uid() const noexcept { return owner_uid_; }  // fstat's st_uid: who really owns it
  bool writable() const noexcept { return writable_; }
  // True once the object was truncated under us: the mapping is private zero pages now.
  bool broken() const noexcept;

 private:
  std::byte* base_;
  std::size_t size_;
  dev_t dev_;
  ino_t ino_;
  uid_t owner_uid_;
  bool writable_;
  int guard_;  // sigbus::watch() handle
};

// Read-only typed access through a validated geometry.
struct ReadView {
  std::shared_ptr<const Region> region;
  Geometry geo;

  explicit operator bool() const noexcept { return region != nullptr; }
  const layout::SegmentHeader& header() const noexcept {
    return *reinterpret_cast<const layout::SegmentHeader*>(region->base());
  }
  const std::byte* slot_base(std::uint32_t i) const noexcept {
    return region->base() + geo.slots_offset + static_cast<std::uint64_t>(i) * geo.slot_stride;
  }
  const layout::SlotHeader& slot(std::uint32_t i) const noexcept {
    return *reinterpret_cast<const layout::SlotHeader*>(slot_base(i));
  }
  const std::byte* metadata(std::uint32_t i) const noexcept { return slot_base(i) + sizeof(layout::SlotHeader); }
  const std::byte* pixels(std::uint32_t i) const noexcept { return slot_base(i) + geo.pixel_offset; }
  const layout::ConsumerEntry& consumer(std::uint32_t i) const noexcept {
    return *reinterpret_cast<const layout::ConsumerEntry*>(region->base() + geo.consumers_offset +
                                                           static_cast<std::uint64_t>(i) * geo.consumer_stride);
  }
};

// Read-write typed access (the Region was mapped PROT_WRITE).
struct WriteView {
  std::shared_ptr<Region> region;
  Geometry geo;

  explicit operator bool() const noexcept { return region != nullptr; }
  operator ReadView() const noexcept { return ReadView{region, geo}; }  // NOLINT(google-explicit-constructor)
  layout::SegmentHeader& header() const noexcept { return *reinterpret_cast<layout::SegmentHeader*>(region->base()); }
  std::byte* slot_base(std::uint32_t i) const noexcept {
    return region->base() + geo.slots_offset + static_cast<std::uint64_t>(i) * geo.slot_stride;
  }
  layout::SlotHeader& slot(std::uint32_t i) const noexcept {
    return *reinterpret_cast<layout::SlotHeader*>(slot_base(i));
  }
  std::byte* metadata(std::uint32_t i) const noexcept { return slot_base(i) + sizeof(layout::SlotHeader); }
  std::byte* pixels(std::uint32_t i) const noexcept { return slot_base(i) + geo.pixel_offset; }
  layout::ConsumerEntry& consumer(std::uint32_t i) const noexcept {
    return *reinterpret_cast<layout::ConsumerEntry*>(region->base() + geo.consumers_offset +
                                                     static_cast<std::uint64_t>(i) * geo.consumer_stride);
  }
};

// An open shm object: the descriptor and what fstat said of it.
struct Object {
  UniqueFd fd;
  struct stat st = {};
  std::uint64_t size() const noexcept { return static_cast<std::uint64_t>(st.st_size); }
};

// Opens the stream's segment without following links or blocking on a FIFO, and checks it is
// a regular file. nullopt when the name does not exist; throws Error(permission_denied naming
// the owner and the fix, or system_error) otherwise.
std::optional<Object> open_segment(std::string_view stream, bool writable);

// Maps an open object: its first `length` bytes (0 = all of it; never more than it has). Without
// `prefault` nothing is faulted in (a huge sparse object must not make us allocate it). Readers
// map the header first, then the validated total_size: an object someone grew to an absurd size
// costs them nothing. Throws Error(permission_denied | system_error | corrupt).
std::shared_ptr<Region> map_region(const Object& obj, bool writable, std::string_view stream, bool prefault = false,
                                   std::uint64_t length = 0);
// Throws Error(corrupt, naming the file and the fix) unless the object has as many bytes backed by
// memory as the segment uses (`used`, its total_size; tmpfs counts allocated pages in st_blocks).
// Producers posix_fallocate their segments; a sparse one would fill /dev/shm as it is touched,
// and die of SIGBUS once /dev/shm is full. An object someone grew (ftruncate) past `used` has
// holes only past it, which are never touched. Call before populate() and before touching
// anything beyond the header.
void check_backed(const Object& obj, std::uint64_t used, std::string_view stream);
// Pre-faults the page tables of the first `used` bytes of a validated mapping (best effort).
void populate(const Region& r, std::uint64_t used) noexcept;

// The state word, read by anyone: SYNC(state) acquire side; the header is complete once it
// reads READY (or later).
std::uint32_t load_state(const layout::SegmentHeader& h) noexcept;
// Stores a life-cycle state (release) and wakes everyone waiting on the state word.
void publish_state(layout::SegmentHeader& h, layout::State s) noexcept;

// Creates generation `geo.generation` of the stream: O_EXCL object, exact mode, fallocate'd,
// header written and READY. Debris at the name (we hold the owner lock) is removed first.
// `hook` runs while the segment is INITIALIZING (tests only). Throws Error; nothing is left
// behind on failure.
// Tests only: a function every Writer of this process calls with its new segment still
// INITIALIZING (to kill or stall a creator there); empty (the default) for none. Set it before
// the Writer is made, on the thread that makes it (a forked test child).
void set_initializing_hook(std::function<void()> hook);
const std::function<void()>& initializing_hook();
WriteView create_segment(std::string_view stream, Geometry geo, mode_t mode, bool prefault,
                         const std::function<void()>& hook);

// Marks the segment `state` (CLOSED or SUPERSEDED), wakes its consumers, and unlinks the
// name if it still refers to this segment.
void retire_segment(const WriteView& v, layout::State state, std::string_view stream) noexcept;

// With the owner lock held: whatever segment has the name belongs to a producer that is gone.
// Marks it SUPERSEDED, wakes its consumers, unlinks it. Returns its generation (0 if none or
// unreadable). `log` hears what was replaced.
std::uint64_t supersede_existing(std::string_view stream, const std::function<void(const std::string&)>& log);

// True when the producer of `v` (the stream `stream`) is gone: dead, or no longer the name's
// owner. Judged from what no writer of the segment can forge (PROTOCOL.md, "Liveness and
// recovery"): the pid and start time of the validated header copy against the process table and
// the owner lock's holder. The heartbeat counts only while it is fresh (the cheap answer: alive)
// and when neither can tell (another pid namespace): older than 1.5 intervals is gone then.
// Believing a CLOSED or SUPERSEDED, and advising to remove an object, rest on this.
bool producer_gone(const ReadView& v, std::string_view stream, std::uint64_t now) noexcept;
// True when its heartbeat is older than 3 intervals and no commit was seen for as long
// (`progress_ns`: when the caller last saw last_committed_seq change): a stopped or hung producer,
// reported as lost, never believed to have ended. One rule for readers and tools alike.
bool producer_stalled(const ReadView& v, std::uint64_t now, std::uint64_t progress_ns) noexcept;

// The stream's identity, format and producer health, from a validated view (relaxed reads).
StreamInfo stream_info(const ReadView& v);

}  // namespace shmframe::detail
