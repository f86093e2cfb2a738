// The segment mechanism: layout planning, header writing next to header validation, opening,
// mapping, creating and retiring segments. docs/ABI.md is the same contract in prose.
#include "shmframe/detail/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "shmframe/detail/errors.hpp"
#include "shmframe/detail/notifier.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/owner_lock.hpp"
#include "shmframe/detail/sigbus.hpp"

namespace shmframe::detail {

namespace {

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) / a * a; }

// Overflow-checked arithmetic for values that come from shared memory.
bool add_ok(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  return !__builtin_add_overflow(a, b, &out);
}
bool mul_ok(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  return !__builtin_mul_overflow(a, b, &out);
}

[[noreturn]] void corrupt(std::string_view stream, const std::string& what) {
  fail(errc::corrupt, stream,
       "corrupt segment header: " + what +
           "; the segment is unusable: restart its producer (it replaces the segment) or remove " +
           object_path(segment_object(stream)));
}

std::string num(std::uint64_t v) { return std::to_string(v); }

// Everything but the state word: identity, then the format block. The creator calls it before
// storing READY; validate_header() below checks exactly what this writes.
void write_header(layout::SegmentHeader& h, const Geometry& g) noexcept {
  h.magic = layout::kMagic;
  h.abi_version = layout::kAbiVersion;
  h.header_size = sizeof(layout::SegmentHeader);
  h.total_size = g.total_size;
  h.generation = g.generation;
  h.writer_pid = g.writer_pid;
  h.writer_uid = g.writer_uid;
  h.writer_start_ticks = g.writer_start_ticks;
  h.created_realtime_ns = realtime_ns();
  h.width = g.format.width;
  h.height = g.format.height;
  h.stride = g.format.effective_stride();
  h.pixel_format = static_cast<std::uint32_t>(g.format.pixel_format);
  h.bytes_per_pixel = g.bytes_per_pixel;
  h.slot_count = g.slot_count;
  h.max_consumers = g.max_consumers;
  h.metadata_capacity = g.metadata_capacity;
  h.frame_bytes = g.frame_bytes;
  h.slots_offset = g.slots_offset;
  h.slot_stride = g.slot_stride;
  h.pixel_offset = g.pixel_offset;
  h.consumers_offset = g.consumers_offset;
  h.consumer_stride = g.consumer_stride;
  h.heartbeat_interval_ns = g.heartbeat_interval_ns;
  h.plane_count = g.format.plane_count();
  for (std::uint32_t i = 0; i < h.plane_count; ++i) {
    const PlaneLayout p = g.format.plane(i);
    h.planes[i] = layout::PlaneEntry{p.offset, p.stride, p.row_bytes, p.rows, 0};
  }
  h.heartbeat_ns = monotonic_ns();
}

}  // namespace

Geometry plan_geometry(std::string_view stream, const FrameFormat& f, std::uint32_t slots, std::uint32_t max_consumers,
                       std::uint32_t metadata_capacity) {
  auto bad = [&](const std::string& what) { fail(errc::invalid_argument, stream, what); };
  if (auto why = f.check()) bad(*why);
  if (slots < 1 || slots > layout::kMaxSlots)
    bad("slot count " + num(slots) + " is out of range (1.." + num(layout::kMaxSlots) + ")");
  if (max_consumers < 1 || max_consumers > layout::kMaxConsumers) {
    bad("max consumers " + num(max_consumers) + " is out of range (1.." + num(layout::kMaxConsumers) + ")");
  }
  if (metadata_capacity > layout::kMaxMetadata) {
    bad("metadata capacity " + num(metadata_capacity) + " exceeds " + num(layout::kMaxMetadata) + " bytes");
  }
  Geometry g;
  g.format = f;
  if (!f.compressed()) g.format.stride = f.effective_stride();
  if (f.compressed()) g.format.max_payload = f.frame_bytes();
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

namespace {
// The format block: pixel format, size and plane table, each plane inside frame_bytes, in order and
// not overlapping (FrameFormat::check(), overflow-checked), and exactly the layout the fields
// describe (docs/ABI.md, "Planes").
FrameFormat validate_format(const layout::SegmentHeader& h, std::string_view stream) {
  const auto pf = static_cast<PixelFormat>(h.pixel_format);
  if (!is_known(pf)) corrupt(stream, "pixel_format " + num(h.pixel_format) + " is unknown");
  if (h.bytes_per_pixel != bytes_per_pixel(pf)) {
    corrupt(stream, "bytes_per_pixel " + num(h.bytes_per_pixel) + " does not match " + std::string(to_string(pf)));
  }
  if (h.plane_count != plane_count(pf)) {
    corrupt(stream, "plane_count " + num(h.plane_count) + " but " + std::string(to_string(pf)) + " has " +
                        num(plane_count(pf)));
  }
  FrameFormat f{h.width, h.height, pf, h.stride};
  if (f.compressed()) {
    f.stride = 0;
    f.max_payload = h.frame_bytes;
  } else if (h.plane_count > 1) {
    f.chroma_stride = h.planes[1].stride;
    f.chroma_offset[0] = h.planes[1].offset;
    if (h.plane_count > 2) f.chroma_offset[1] = h.planes[2].offset;
  }
  if (auto why = f.check()) corrupt(stream, "format block: " + *why);
  for (std::uint32_t i = 0; i < h.plane_count; ++i) {
    const PlaneLayout want = f.plane(i);
    const layout::PlaneEntry& got = h.planes[i];
    if (got.offset != want.offset || got.stride != want.stride || got.row_bytes != want.row_bytes ||
        got.rows != want.rows) {
      corrupt(stream, "plane " + num(i) + " (offset " + num(got.offset) + ", stride " + num(got.stride) + ", " +
                          num(got.rows) + " rows of " + num(got.row_bytes) + " bytes) is not a " +
                          std::string(to_string(pf)) + " plane of a " + num(h.width) + "x" + num(h.height) +
                          " frame (expected offset " + num(want.offset) + ", " + num(want.rows) + " rows of " +
                          num(want.row_bytes) + " bytes)");
    }
  }
  for (std::uint32_t i = 0; i < h.plane_count && !f.compressed(); ++i) {
    const PlaneLayout p = f.plane(i);
    if (p.offset + static_cast<std::uint64_t>(p.stride) * p.rows > h.frame_bytes) {
      corrupt(stream, "plane " + num(i) + " (offset " + num(p.offset) + ", " + num(p.rows) + " rows of stride " +
                          num(p.stride) + ") ends past frame_bytes " + num(h.frame_bytes));
    }
  }
  if (!f.compressed() && (h.stride != f.plane(0).stride || h.frame_bytes != f.frame_bytes())) {
    corrupt(stream, "stride " + num(h.stride) + " / frame_bytes " + num(h.frame_bytes) +
                        " do not match the plane table (frame_bytes " + num(f.frame_bytes()) + ")");
  }
  if (f.compressed() && h.stride != f.plane(0).stride) {
    corrupt(stream, "jpeg stride " + num(h.stride) + " is not its capacity " + num(h.frame_bytes));
  }
  return f;
}
}  // namespace

void validate_identity(const layout::SegmentHeader& h, std::string_view stream) {
  const std::string where = object_path(segment_object(stream));
  if (h.magic != layout::kMagic) {
    char buf[32];
    (void)std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(h.magic));
    fail(errc::bad_magic, stream,
         where + " is not a shmframe segment (magic " + buf +
             "); another program uses this name: pick another stream name or remove the object");
  }
  if (h.abi_version != layout::kAbiVersion || h.header_size != sizeof(layout::SegmentHeader)) {
    fail(errc::abi_mismatch, stream,
         where + " uses ABI version " + num(h.abi_version) + " with a " + num(h.header_size) +
             "-byte header; this library speaks ABI version " + num(layout::kAbiVersion) + " with " +
             num(sizeof(layout::SegmentHeader)) +
             " bytes: rebuild producer and consumers against the same shmframe version");
  }
}

Geometry validate_header(const layout::SegmentHeader& h, std::uint64_t object_size, std::string_view stream) {
  validate_identity(h, stream);
  // Larger is fine: anyone with write access can grow the object (ftruncate), and nothing past
  // total_size is used; smaller would fault (SIGBUS) at the end (issue 22).
  if (h.total_size > object_size) {
    corrupt(stream, "total_size " + num(h.total_size) + " but the object is only " + num(object_size) + " bytes");
  }
  Geometry g;
  g.generation = h.generation;
  g.writer_pid = h.writer_pid;
  g.writer_uid = h.writer_uid;
  g.writer_start_ticks = h.writer_start_ticks;
  g.total_size = h.total_size;
  if (h.generation == 0) corrupt(stream, "generation is 0");
  if (h.writer_pid <= 0) corrupt(stream, "writer_pid " + std::to_string(h.writer_pid) + " is not a process id");
  g.format = validate_format(h, stream);
  if (h.slot_count < 1 || h.slot_count > layout::kMaxSlots)
    corrupt(stream, "slot_count " + num(h.slot_count) + " is out of range");
  if (h.max_consumers < 1 || h.max_consumers > layout::kMaxConsumers) {
    corrupt(stream, "max_consumers " + num(h.max_consumers) + " is out of range");
  }
  if (h.metadata_capacity > layout::kMaxMetadata)
    corrupt(stream, "metadata_capacity " + num(h.metadata_capacity) + " is out of range");
  if (h.consumer_stride != sizeof(layout::ConsumerEntry)) {
    corrupt(stream, "consumer_stride " + num(h.consumer_stride) + ", expected " + num(sizeof(layout::ConsumerEntry)));
  }
  // Consumer table: after the header, inside the object, cache-line aligned.
  std::uint64_t table = 0;
  std::uint64_t table_end = 0;
  if (h.consumers_offset < sizeof(layout::SegmentHeader) || h.consumers_offset % layout::kCacheLine != 0 ||
      !mul_ok(h.consumer_stride, h.max_consumers, table) || !add_ok(h.consumers_offset, table, table_end) ||
      table_end > g.total_size) {
    corrupt(stream, "consumer table at " + num(h.consumers_offset) + " (" + num(h.max_consumers) +
                        " entries) does not fit in total_size " + num(g.total_size) + " bytes");
  }
  // Slots: after the consumer table, page aligned, each large enough for header + metadata + pixels.
  std::uint64_t meta_end = sizeof(layout::SlotHeader) + h.metadata_capacity;
  std::uint64_t pix_end = 0;
  if (h.pixel_offset < meta_end || h.pixel_offset % layout::kPage != 0 ||
      !add_ok(h.pixel_offset, h.frame_bytes, pix_end) || h.slot_stride < pix_end ||
      h.slot_stride % layout::kPage != 0) {
    corrupt(stream, "slot layout (pixel_offset " + num(h.pixel_offset) + ", slot_stride " + num(h.slot_stride) +
                        ") cannot hold metadata + " + num(h.frame_bytes) + " frame bytes");
  }
  std::uint64_t slots = 0;
  std::uint64_t slots_end = 0;
  if (h.slots_offset < table_end || h.slots_offset % layout::kPage != 0 ||
      !mul_ok(h.slot_stride, h.slot_count, slots) || !add_ok(h.slots_offset, slots, slots_end) ||
      slots_end > g.total_size) {
    corrupt(stream, "slots at " + num(h.slots_offset) + " (" + num(h.slot_count) + " x " + num(h.slot_stride) +
                        " bytes) do not fit in total_size " + num(g.total_size) + " bytes");
  }
  if (h.heartbeat_interval_ns < 1'000'000ull || h.heartbeat_interval_ns > 60'000'000'000ull) {
    corrupt(stream, "heartbeat_interval_ns " + num(h.heartbeat_interval_ns) + " is out of range (1 ms .. 60 s)");
  }
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

Region::Region(void* base, std::size_t size, const struct stat& st, bool writable) noexcept
    : base_(static_cast<std::byte*>(base)), size_(size), dev_(st.st_dev), ino_(st.st_ino), owner_uid_(st.st_uid),
      writable_(writable), guard_(sigbus::watch(base, size)) {}

Region::~Region() {
  sigbus::unwatch(guard_);
  if (base_ != nullptr) munmap(base_, size_);
}

bool Region::broken() const noexcept { return sigbus::broken(guard_); }

std::optional<Object> open_segment(std::string_view stream, bool writable) {
  const std::string object = segment_object(stream);
  const std::string path = object_path(object);
  // O_NOFOLLOW: never follow a link someone put at our name; O_NONBLOCK: never hang on a FIFO.
  Object obj;
  obj.fd = UniqueFd(shm_open(object.c_str(), (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK, 0));
  if (!obj.fd) {
    const int e = errno;
    if (e == ENOENT) return std::nullopt;
    if (errc_from_errno(e) == errc::permission_denied) {
      struct stat st = {};
      const std::string owner = lstat(path.c_str(), &st) == 0 ? " (" + describe_owner(st) + ")" : "";
      fail_os(stream, "cannot open " + path + owner, e,
              writable ? ": run as the producer's user, or start the producer with --mode 0660 and put both users in "
                         "its group, or attach read-only (--read-only; the producer's --mode must let you read)"
                       : ": run as the producer's user, or start the producer with --mode 0640 or 0660");
    }
    if (e == ELOOP) fail(errc::bad_magic, stream, path + " is a symbolic link, not a shmframe segment: remove it", e);
    fail_os(stream, "cannot open " + path, e);
  }
  if (fstat(obj.fd.get(), &obj.st) != 0) fail_os(stream, "fstat " + path, errno);
  if (!S_ISREG(obj.st.st_mode)) {
    fail(errc::bad_magic, stream,
         path + " is not a regular file (" + describe_owner(obj.st) +
             "); another program uses this name: pick another stream name");
  }
  return obj;
}

std::shared_ptr<Region> map_region(const Object& obj, bool writable, std::string_view stream, bool prefault,
                                   std::uint64_t length) {
  const std::uint64_t size = length == 0 ? obj.size() : std::min(length, obj.size());
  if (size == 0 || size > static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    fail(errc::corrupt, stream, "segment size " + num(size) + " cannot be mapped");
  }
  void* p = mmap(nullptr, static_cast<std::size_t>(size), writable ? PROT_READ | PROT_WRITE : PROT_READ,
                 MAP_SHARED | (prefault ? MAP_POPULATE : 0), obj.fd.get(), 0);
  if (p == MAP_FAILED) fail_os(stream, "mmap of " + num(size) + " bytes", errno);
  return std::make_shared<Region>(p, static_cast<std::size_t>(size), obj.st, writable);
}

void check_backed(const Object& obj, std::uint64_t used, std::string_view stream) {
  // Fresh: the object was sized by its creator after we opened it, maybe.
  struct stat st = {};
  const std::string path = object_path(segment_object(stream));
  if (fstat(obj.fd.get(), &st) != 0) fail_os(stream, "fstat " + path, errno);
  const auto size = std::min(static_cast<std::uint64_t>(st.st_size), used);
  const std::uint64_t backed = static_cast<std::uint64_t>(st.st_blocks) * 512;  // st_blocks: 512-byte units
  if (backed >= size) return;
  fail(errc::corrupt, stream,
       path + " is sparse: only " + num(backed) + " of its " + num(size) +
           " bytes are backed by memory. A shmframe producer reserves its whole segment (posix_fallocate), so "
           "this one was made or hole-punched by something else; using it could fill /dev/shm and end in SIGBUS. "
           "Remove " +
           path + ", or restart its producer (it replaces the segment)");
}

void populate(const Region& r, std::uint64_t used) noexcept {
#ifdef MADV_POPULATE_READ
  // Page tables now, so the first frames cost no minor faults. Only after validation: the size
  // was checked against the header, and huge segments are left to fault lazily. Only what the
  // segment uses: a grown object's holes past it must stay holes.
  const std::size_t n = std::min<std::uint64_t>(r.size(), used);
  if (n <= (std::size_t{1} << 30)) (void)madvise(r.base(), n, MADV_POPULATE_READ);
#else
  (void)r;
  (void)used;
#endif
}

std::uint32_t load_state(const layout::SegmentHeader& h) noexcept {
  // SYNC(state) acquire: pairs with the release store in publish_state(); every header field
  // the creator wrote before READY is visible once we read READY.
  return load(h.state, std::memory_order_acquire);
}

void publish_state(layout::SegmentHeader& h, layout::State s) noexcept {
  // SYNC(state) release: publishes every header field written before; pairs with load_state().
  at(h.state).store(static_cast<std::uint32_t>(s), std::memory_order_release);
  notifier::wake_word(&h.state);
}

namespace {
std::function<void()>& hook_storage() {
  static std::function<void()> hook;
  return hook;
}
}  // namespace

void set_initializing_hook(std::function<void()> hook) { hook_storage() = std::move(hook); }
const std::function<void()>& initializing_hook() { return hook_storage(); }

WriteView create_segment(std::string_view stream, Geometry geo, mode_t mode, bool prefault,
                         const std::function<void()>& hook) {
  const std::string object = segment_object(stream);
  const std::string path = object_path(object);
  UniqueFd fd(shm_open(object.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
  if (!fd && errno == EEXIST) {
    // We hold the owner lock: whatever is at the name is debris of ours (a creator killed
    // before it could unlink) unless it belongs to someone else, which we never remove.
    struct stat st = {};
    if (lstat(path.c_str(), &st) == 0) check_ours(stream, path, st);
    shm_unlink(object.c_str());
    fd = UniqueFd(shm_open(object.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
  }
  if (!fd) fail_os(stream, "cannot create " + path, errno);
  try {
    // The umask must neither widen nor narrow the requested mode.
    if (fchmod(fd.get(), mode) != 0) fail_os(stream, "fchmod " + path, errno);
    // fallocate reserves the pages now: a full /dev/shm is an error here, not a SIGBUS mid-frame.
    const int err = posix_fallocate(fd.get(), 0, static_cast<off_t>(geo.total_size));
    if (err != 0) fail_os(stream, "cannot reserve " + num(geo.total_size) + " bytes in /dev/shm", err);
    Object obj{std::move(fd), {}};
    if (fstat(obj.fd.get(), &obj.st) != 0) fail_os(stream, "fstat " + path, errno);
    // Pre-fault: a first write into fresh shared pages costs ~3x a warm copy (docs/PERFORMANCE.md).
    auto region = map_region(obj, true, stream, prefault);
    auto& h = *reinterpret_cast<layout::SegmentHeader*>(region->base());
    geo.writer_pid = static_cast<std::int32_t>(getpid());
    geo.writer_uid = geteuid();
    geo.writer_start_ticks = process_start_ticks(getpid());
    write_header(h, geo);
    // INITIALIZING lets a joiner that opened the object early check identity and wait on the
    // state futex; the format block is not to be read before READY.
    publish_state(h, layout::State::initializing);
    if (hook) hook();
    publish_state(h, layout::State::ready);
    return WriteView{std::move(region), geo};
  } catch (...) {
    shm_unlink(object.c_str());
    throw;
  }
}

bool producer_gone(const ReadView& v, std::string_view stream, std::uint64_t now) noexcept {
  // relaxed: an age, compared with whole heartbeat intervals.
  const std::uint64_t beat = load(v.header().heartbeat_ns, std::memory_order_relaxed);
  const std::uint64_t age = now > beat ? now - beat : 0;
  const std::uint64_t interval = v.geo.heartbeat_interval_ns;
  // A heartbeat more than an interval ahead of the clock every process reads was never the
  // producer's: it proves nothing, so ask what cannot be forged.
  const bool future = beat > now + interval;
  if (age <= interval + interval / 2 && !future) return false;  // beating: no system call
  // Stale, or forged (any writer can store 0): ask what cannot be forged.
  switch (producer_liveness(stream, v.geo.writer_pid, v.geo.writer_start_ticks)) {
    case Liveness::alive: return false;
    case Liveness::gone: return true;
    case Liveness::unknown: break;
  }
  return true;  // the heartbeat missed a beat and nothing says the producer lives
}

bool producer_stalled(const ReadView& v, std::uint64_t now, std::uint64_t progress_ns) noexcept {
  // relaxed: an age, compared with whole heartbeat intervals.
  const std::uint64_t beat = load(v.header().heartbeat_ns, std::memory_order_relaxed);
  const std::uint64_t limit = 3 * v.geo.heartbeat_interval_ns;
  // A heartbeat far in the future is as stale as a missing one (see producer_gone()).
  const bool stale = beat > now + v.geo.heartbeat_interval_ns || (now > beat && now - beat > limit);
  return stale && now - std::min(now, progress_ns) > limit;
}

void retire_segment(const WriteView& v, layout::State state, std::string_view stream) noexcept {
  if (!v) return;
  publish_state(v.header(), state);
  notifier::wake_all(v);
  const std::string object = segment_object(stream);
  if (name_refers_to(object, v.region->dev(), v.region->ino())) shm_unlink(object.c_str());
}

std::uint64_t supersede_existing(std::string_view stream, const std::function<void(const std::string&)>& log) {
  const std::string object = segment_object(stream);
  const std::string path = object_path(object);
  struct stat st = {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return 0;
    fail_os(stream, "cannot inspect the old segment " + path, errno);
  }
  // Never remove what is not ours: another user's object, a FIFO, a link.
  check_ours(stream, path, st);
  std::uint64_t generation = 0;
  try {
    if (auto obj = open_segment(stream, true); obj && obj->size() >= sizeof(layout::SegmentHeader)) {
      auto region = map_region(*obj, true, stream);
      auto& h = *reinterpret_cast<layout::SegmentHeader*>(region->base());
      layout::SegmentHeader snap;
      std::memcpy(&snap, &h, sizeof snap);
      validate_identity(snap, stream);
      generation = snap.generation;
      publish_state(h, layout::State::superseded);
      try {
        notifier::wake_all(WriteView{region, validate_header(snap, obj->size(), stream)});
      } catch (const Error&) {
        // Layout unreadable: its consumers find out through the heartbeat and the unlink.
      }
      log("taking over from producer pid " + std::to_string(snap.writer_pid) + " (generation " + num(generation) + ")");
    }
  } catch (const Error& e) {
    log(std::string("replacing an unusable segment: ") + e.what());
  }
  if (shm_unlink(object.c_str()) != 0 && errno != ENOENT)
    fail_os(stream, "cannot remove the old segment " + path, errno);
  return generation;
}

}  // namespace shmframe::detail
