#include "shmframe/detail/segment.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "shmframe/detail/os.hpp"
#include "shmframe/error.hpp"

namespace shmframe::detail {

namespace {

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) / a * a; }

// Overflow-checked arithmetic for values that come from shared memory.
bool add_ok(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept { return !__builtin_add_overflow(a, b, &out); }
bool mul_ok(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept { return !__builtin_mul_overflow(a, b, &out); }

[[noreturn]] void corrupt(std::string_view stream, const std::string& what) {
  throw Error(errc::corrupt, "stream '" + std::string(stream) + "': corrupt segment header: " + what +
                                 "; the segment is unusable: restart its producer (it replaces the segment) or remove " +
                                 object_path(segment_object(stream)));
}

std::string num(std::uint64_t v) { return std::to_string(v); }

}  // namespace

Geometry plan_geometry(std::string_view stream, const FrameFormat& f, std::uint32_t slots, std::uint32_t max_consumers,
                       std::uint32_t metadata_capacity) {
  auto bad = [&](const std::string& what) {
    throw Error(errc::invalid_argument, "stream '" + std::string(stream) + "': " + what);
  };
  if (bytes_per_pixel(f.pixel_format) == 0) bad("unknown pixel format " + num(static_cast<std::uint32_t>(f.pixel_format)));
  if (f.width == 0 || f.height == 0 || f.width > layout::kMaxDimension || f.height > layout::kMaxDimension) {
    bad("frame size " + num(f.width) + "x" + num(f.height) + " is out of range (1.." + num(layout::kMaxDimension) + " each)");
  }
  if (f.stride != 0 && f.stride < f.row_bytes()) {
    bad("stride " + num(f.stride) + " is smaller than a row (" + num(f.row_bytes()) + " bytes)");
  }
  if (slots < 1 || slots > layout::kMaxSlots) bad("slot count " + num(slots) + " is out of range (1.." + num(layout::kMaxSlots) + ")");
  if (max_consumers < 1 || max_consumers > layout::kMaxConsumers) {
    bad("max consumers " + num(max_consumers) + " is out of range (1.." + num(layout::kMaxConsumers) + ")");
  }
  if (metadata_capacity > layout::kMaxMetadata) {
    bad("metadata capacity " + num(metadata_capacity) + " exceeds " + num(layout::kMaxMetadata) + " bytes");
  }
  Geometry g;
  g.format = f;
  g.format.stride = f.effective_stride();
  g.bytes_per_pixel = bytes_per_pixel(f.pixel_format);
  g.frame_bytes = f.frame_bytes();
  g.slot_count = slots;
  g.max_consumers = max_consumers;
  g.metadata_capacity = metadata_capacity;
  g.consumers_offset = sizeof(layout::SegmentHeader);
  g.consumer_stride = sizeof(layout::ConsumerEntry);
  g.slots_offset = round_up(g.consumers_offset + g.consumer_stride * max_consumers, layout::kPage);
  // Pixels start on a page boundary: aligned for any SIMD load and for page-granular prefaulting.
  g.pixel_offset = round_up(sizeof(layout::SlotHeader) + metadata_capacity, layout::kPage);
  g.slot_stride = round_up(g.pixel_offset + g.frame_bytes, layout::kPage);
  g.total_size = g.slots_offset + g.slot_stride * slots;
  return g;
}

void validate_identity(const layout::SegmentHeader& h, std::string_view stream) {
  const std::string who = "stream '" + std::string(stream) + "' (" + object_path(segment_object(stream)) + ")";
  if (h.magic != layout::kMagic) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(h.magic));
    throw Error(errc::bad_magic, who + " is not a shmframe segment (magic " + buf +
                                     "); another program uses this name: pick another stream name or remove the object");
  }
  if (h.abi_version != layout::kAbiVersion || h.header_size != sizeof(layout::SegmentHeader)) {
    throw Error(errc::abi_mismatch, who + " uses ABI version " + num(h.abi_version) + " with a " + num(h.header_size) +
                                        "-byte header; this library speaks ABI " + num(layout::kAbiVersion) + " with " +
                                        num(sizeof(layout::SegmentHeader)) +
                                        " bytes: rebuild producer and consumers against the same shmframe version");
  }
}

Geometry validate_header(const layout::SegmentHeader& h, std::uint64_t object_size, std::string_view stream) {
  validate_identity(h, stream);
  if (h.total_size != object_size) {
    corrupt(stream, "total_size " + num(h.total_size) + " but the object is " + num(object_size) + " bytes");
  }
  Geometry g;
  g.generation = h.generation;
  g.writer_pid = h.writer_pid;
  g.writer_uid = h.writer_uid;
  g.writer_start_ticks = h.writer_start_ticks;
  g.total_size = h.total_size;
  if (h.generation == 0) corrupt(stream, "generation is 0");
  if (h.writer_pid <= 0) corrupt(stream, "writer_pid " + std::to_string(h.writer_pid) + " is not a process id");
  const auto pf = static_cast<PixelFormat>(h.pixel_format);
  if (bytes_per_pixel(pf) == 0) corrupt(stream, "pixel_format " + num(h.pixel_format) + " is unknown");
  if (h.bytes_per_pixel != bytes_per_pixel(pf)) {
    corrupt(stream, "bytes_per_pixel " + num(h.bytes_per_pixel) + " does not match " + std::string(to_string(pf)));
  }
  if (h.width == 0 || h.height == 0 || h.width > layout::kMaxDimension || h.height > layout::kMaxDimension) {
    corrupt(stream, "frame size " + num(h.width) + "x" + num(h.height) + " is out of range");
  }
  std::uint64_t row = static_cast<std::uint64_t>(h.width) * h.bytes_per_pixel;
  if (h.stride < row) corrupt(stream, "stride " + num(h.stride) + " is smaller than a row of " + num(row) + " bytes");
  std::uint64_t frame = 0;
  if (!mul_ok(h.stride, h.height, frame) || frame != h.frame_bytes) {
    corrupt(stream, "frame_bytes " + num(h.frame_bytes) + " is not stride * height");
  }
  if (h.slot_count < 1 || h.slot_count > layout::kMaxSlots) corrupt(stream, "slot_count " + num(h.slot_count) + " is out of range");
  if (h.max_consumers < 1 || h.max_consumers > layout::kMaxConsumers) {
    corrupt(stream, "max_consumers " + num(h.max_consumers) + " is out of range");
  }
  if (h.metadata_capacity > layout::kMaxMetadata) corrupt(stream, "metadata_capacity " + num(h.metadata_capacity) + " is out of range");
  if (h.consumer_stride != sizeof(layout::ConsumerEntry)) {
    corrupt(stream, "consumer_stride " + num(h.consumer_stride) + ", expected " + num(sizeof(layout::ConsumerEntry)));
  }
  // Consumer table: after the header, inside the object, cache-line aligned.
  std::uint64_t table = 0, table_end = 0;
  if (h.consumers_offset < sizeof(layout::SegmentHeader) || h.consumers_offset % layout::kCacheLine != 0 ||
      !mul_ok(h.consumer_stride, h.max_consumers, table) || !add_ok(h.consumers_offset, table, table_end) ||
      table_end > object_size) {
    corrupt(stream, "consumer table at " + num(h.consumers_offset) + " (" + num(h.max_consumers) +
                        " entries) does not fit in " + num(object_size) + " bytes");
  }
  // Slots: after the consumer table, page aligned, each large enough for header + metadata + pixels.
  std::uint64_t meta_end = sizeof(layout::SlotHeader) + h.metadata_capacity;
  std::uint64_t pix_end = 0;
  if (h.pixel_offset < meta_end || h.pixel_offset % layout::kPage != 0 || !add_ok(h.pixel_offset, h.frame_bytes, pix_end) ||
      h.slot_stride < pix_end || h.slot_stride % layout::kPage != 0) {
    corrupt(stream, "slot layout (pixel_offset " + num(h.pixel_offset) + ", slot_stride " + num(h.slot_stride) +
                        ") cannot hold metadata + " + num(h.frame_bytes) + " frame bytes");
  }
  std::uint64_t slots = 0, slots_end = 0;
  if (h.slots_offset < table_end || h.slots_offset % layout::kPage != 0 || !mul_ok(h.slot_stride, h.slot_count, slots) ||
      !add_ok(h.slots_offset, slots, slots_end) || slots_end > object_size) {
    corrupt(stream, "slots at " + num(h.slots_offset) + " (" + num(h.slot_count) + " x " + num(h.slot_stride) +
                        " bytes) do not fit in " + num(object_size) + " bytes");
  }
  if (h.heartbeat_interval_ns < 1'000'000ull || h.heartbeat_interval_ns > 60'000'000'000ull) {
    corrupt(stream, "heartbeat_interval_ns " + num(h.heartbeat_interval_ns) + " is out of range (1 ms .. 60 s)");
  }
  g.format = FrameFormat{h.width, h.height, pf, h.stride};
  g.bytes_per_pixel = h.bytes_per_pixel;
  g.frame_bytes = h.frame_bytes;
  g.slot_count = h.slot_count;
  g.max_consumers = h.max_consumers;
  g.metadata_capacity = h.metadata_capacity;
  g.slots_offset = h.slots_offset;
  g.slot_stride = h.slot_stride;
  g.pixel_offset = h.pixel_offset;
  g.consumers_offset = h.consumers_offset;
  g.consumer_stride = h.consumer_stride;
  g.heartbeat_interval_ns = h.heartbeat_interval_ns;
  return g;
}

Mapping::~Mapping() {
  if (base_ != nullptr) munmap(base_, size_);
}

bool consumer_dead(layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t now, std::uint64_t interval) noexcept {
  // acquire: pairs with the owner's release store of active; owner_start_ticks is then its own.
  const bool active = at(e.active).load(std::memory_order_acquire) != 0;
  if (process_alive(pid, active ? e.owner_start_ticks : 0)) return false;
  const std::uint64_t beat = at(e.heartbeat_ns).load(std::memory_order_relaxed);
  return now - std::min(now, beat) >= 3 * interval;
}

void View::wake_all_consumers() const noexcept {
  for (std::uint32_t i = 0; i < geo.max_consumers; ++i) {
    auto& e = consumer(i);
    // seq_cst: pairs with the consumer's store to `waiting` before FUTEX_WAIT (Dekker pair, see Writer::commit).
    at(e.wake).fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(&e.wake);
  }
}

std::shared_ptr<Mapping> map_object(int fd, std::uint64_t size, std::string_view stream, bool populate) {
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    throw Error(errc::system_error, "stream '" + std::string(stream) + "': fstat failed: " + errno_text(errno));
  }
  if (size > static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    throw Error(errc::corrupt, "stream '" + std::string(stream) + "': segment size " + num(size) + " cannot be mapped");
  }
  int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
  void* p = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    throw Error(e == EACCES ? errc::permission_denied : errc::system_error,
                "stream '" + std::string(stream) + "': mmap of " + num(size) + " bytes failed: " + errno_text(e));
  }
  return std::make_shared<Mapping>(p, static_cast<std::size_t>(size), st.st_dev, st.st_ino);
}

}  // namespace shmframe::detail
