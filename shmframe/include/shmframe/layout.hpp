// shmframe/layout.hpp: the binary contract of a shmframe segment.
//
// Everything a process on the other side of the mapping relies on is here: plain,
// standard-layout, trivially copyable structs of fixed-width little-endian fields,
// with explicit padding and a static_assert on every size and offset. No pointers:
// every location is an offset from the segment base. Fields that change after READY
// are accessed only through std::atomic_ref (detail::at in detail/os.hpp); nothing else here
// has behaviour. docs/ABI.md describes the same layout byte by byte.
//
// Version rule: increment kAbiVersion for every incompatible change (a field's width,
// order, meaning or encoding, a struct's size, the commit protocol). Appending into a
// reserved area without changing the meaning of existing fields keeps the version, as
// long as zero means "absent" for the new field.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shmframe::layout {

inline constexpr std::uint64_t kMagic = 0x454D4152464D4853ull;  // bytes "SHMFRAME" in memory order
// 1: first release. 2: ConsumerEntry::lease (one frame) became ConsumerEntry::held (a set of
// slots, one bit each), owner_start_ticks became atomic, the lock object's layout is fixed.
// 3: lossless delivery: ConsumerEntry::delivery / demotions, the header's producer wake word
// (producer_wake, producer_waiting) and lossless_demotions. Later, in reserved space with 0 =
// absent (no version change): ConsumerEntry::wait_policy, polling, wake_latency_ns.
// 4: read-only consumers: the header's reader_wake word, which every producer bumps and wakes
// after each commit (a version 3 producer would leave read-only consumers asleep).
// 5: pinned frames: ConsumerEntry::pinned, which the producer never overwrites (a version 4
// producer would overwrite them); LockRecord::start_ticks (the lock record grew to 32 bytes).
// 6: camera-native formats: pixel formats 5..15 (YUV, Bayer, gray16, jpeg), the header's plane
// table (plane_count, planes[3]) and SlotHeader::payload_bytes (a version 5 producer leaves it 0).
// 7: SlotHeader::flags bit 0 (kSlotHasOrigin) says the metadata starts with an origin record; a
// version 6 reader found the record by its magic, which a user's metadata could imitate.
inline constexpr std::uint32_t kAbiVersion = 7;
inline constexpr std::uint64_t kCacheLine = 64;
inline constexpr std::uint64_t kPage = 4096;

// Segment life cycle (SegmentHeader::state).
// 0 (not an enumerator) = the object exists but the creator has not stored INITIALIZING yet:
// still initializing, whatever the other bytes say; magic and version are checked once it is not 0.
enum class State : std::uint32_t {
  initializing = 1,  // identity (magic, version, header size, pid) is valid; the format block is not yet
  ready = 2,         // layout valid and immutable; frames may be committed
  closed = 3,        // producer shut down cleanly; no more frames in this segment
  superseded = 4,    // a newer generation replaced this segment; re-open the name
};

// Pixel formats (SegmentHeader::pixel_format). Values are part of the ABI.
// docs/ABI.md ("Pixel formats") gives each one's planes and bytes.
enum class PixelFormatCode : std::uint32_t {
  gray8 = 1,
  bgr8 = 2,
  rgb8 = 3,
  bgra8 = 4,
  rgba8 = 5,
  gray16 = 6,
  yuyv = 7,
  uyvy = 8,
  nv12 = 9,
  i420 = 10,
  bayer_rggb8 = 11,
  bayer_bggr8 = 12,
  bayer_grbg8 = 13,
  bayer_gbrg8 = 14,
  jpeg = 15,
};
inline constexpr std::uint32_t kMaxPlanes = 3;

// PlaneEntry: one plane of the frame format (SegmentHeader::planes), 24 bytes. Offsets are from
// the first byte of a slot's pixel area. jpeg: one plane, offset 0, stride = row_bytes =
// frame_bytes (the capacity), rows 1.
struct PlaneEntry {
  std::uint64_t offset;     // from the slot's pixel area
  std::uint32_t stride;     // bytes from one row to the next, >= row_bytes
  std::uint32_t row_bytes;  // pixel bytes of a row
  std::uint32_t rows;
  std::uint32_t reserved;  // 0
};

// Slot sequence word (SlotHeader::state): 0 = empty, 2*seq = holds committed frame seq,
// 2*seq + 1 = frame seq being written (pixels undefined).
constexpr std::uint64_t slot_committed(std::uint64_t seq) noexcept { return seq << 1; }
constexpr std::uint64_t slot_writing(std::uint64_t seq) noexcept { return (seq << 1) | 1u; }

// Delivery mode of a consumer (ConsumerEntry::delivery). Values are part of the ABI.
enum class Delivery : std::uint32_t {
  lossy = 0,     // latest or every-frame: the producer never waits for this consumer
  lossless = 1,  // the producer does not overwrite a frame this consumer has not taken yet, for a bounded time
  demoted = 2,   // was lossless, blocked the producer too long: lossy until it catches up
};

// How a consumer waits (ConsumerEntry::wait_policy), for observers. Values are part of the ABI.
enum class WaitPolicyCode : std::uint32_t { unknown = 0, block = 1, predictive = 2, spin = 3 };

// Held-slot set (ConsumerEntry::held): bit i set = the consumer holds a frame in slot i and asks
// the producer not to overwrite it while another slot is free. ConsumerEntry::pinned uses the
// same bits: a pinned slot is never overwritten (PROTOCOL.md, "Pinned frames").
constexpr std::uint64_t held_bit(std::uint32_t slot) noexcept { return std::uint64_t{1} << slot; }
constexpr std::uint32_t kMaxSlots = 64;  // one bit per slot in ConsumerEntry::held
constexpr std::uint32_t kMaxConsumers = 1024;
constexpr std::uint32_t kMaxDimension = 32768;    // width and height
constexpr std::uint32_t kMaxMetadata = 1u << 20;  // bytes of user metadata per frame

// ---------------------------------------------------------------------------------------
// SegmentHeader: at offset 0, 512 bytes.
struct SegmentHeader {
  // -- identity (written once by the creator, before READY) --
  std::uint64_t magic;                // kMagic
  std::uint32_t abi_version;          // kAbiVersion
  std::uint32_t header_size;          // sizeof(SegmentHeader)
  std::uint32_t state;                // State; atomic; futex word for READY waiters
  std::uint32_t flags;                // reserved, 0
  std::uint64_t total_size;           // bytes of the whole segment (== object size)
  std::uint64_t generation;           // != 0, unique per name and boot: see docs/ABI.md
  std::int32_t writer_pid;            // producer process id
  std::uint32_t writer_uid;           // producer effective uid
  std::uint64_t writer_start_ticks;   // producer start time (/proc/PID/stat field 22), pid-reuse guard
  std::uint64_t created_realtime_ns;  // CLOCK_REALTIME at creation, for display only

  // -- producer-hot line: written on every commit / heartbeat (atomic) --
  std::uint64_t last_committed_seq;  // 0 = none yet; stored (seq_cst) after the slot is published
  std::uint64_t heartbeat_ns;        // CLOCK_MONOTONIC of the producer's last beat
  std::uint64_t forced_overwrites;   // commits that had to overwrite a held slot
  std::uint64_t consumers_reaped;    // dead consumer entries reclaimed by the producer
  std::uint64_t commits_aborted;     // slots acquired and abandoned without commit
  std::uint32_t producer_wake;       // futex word: a lossless consumer bumps it after taking a frame; atomic
  std::uint32_t producer_waiting;    // the producer sets 1 while it waits for a lossless consumer; atomic
  std::uint64_t lossless_demotions;  // lossless consumers demoted to lossy for blocking too long; atomic
  std::uint32_t reader_wake;         // futex word: the producer increments it (and wakes it) after every
                                     // commit and on close / supersede, for read-only consumers; atomic
  std::uint32_t reserved_hot;

  // -- format and geometry: immutable once READY --
  std::uint32_t width;
  std::uint32_t height;
  std::uint32_t stride;        // bytes per row, >= width * bytes_per_pixel
  std::uint32_t pixel_format;  // PixelFormatCode
  std::uint32_t bytes_per_pixel;
  std::uint32_t slot_count;         // 1..kMaxSlots
  std::uint32_t max_consumers;      // 1..kMaxConsumers
  std::uint32_t metadata_capacity;  // bytes of user metadata area per slot
  std::uint64_t frame_bytes;        // stride * height
  std::uint64_t slots_offset;       // from segment base, page aligned
  std::uint64_t slot_stride;        // bytes between slots, page aligned
  std::uint64_t pixel_offset;       // pixels, from the start of a slot, page aligned
  std::uint64_t consumers_offset;   // from segment base, cache-line aligned
  std::uint64_t consumer_stride;    // sizeof(ConsumerEntry)
  std::uint64_t heartbeat_interval_ns;
  std::uint32_t plane_count;  // 1..kMaxPlanes, as the pixel format has
  std::uint32_t reserved_planes;
  PlaneEntry planes[kMaxPlanes];  // [0, plane_count) used, the rest 0; in order, not overlapping
  std::uint64_t reserved_tail[27];
};

// SlotHeader: at slots_offset + i * slot_stride, 64 bytes; user metadata follows at +64,
// pixels at +pixel_offset.
struct SlotHeader {
  std::uint64_t state;          // sequence word, see slot_committed / slot_writing; atomic
  std::uint64_t capture_ns;     // CLOCK_MONOTONIC given by the producer at commit
  std::uint64_t commit_ns;      // CLOCK_MONOTONIC when the producer committed
  std::uint32_t metadata_size;  // bytes of metadata (origin record included), <= metadata_capacity
  std::uint32_t flags;          // kSlotHasOrigin or 0; other bits 0
  std::uint64_t payload_bytes;  // bytes of the frame: frame_bytes for raw formats, the JPEG's size for jpeg
  std::uint64_t reserved[3];
};

// ConsumerEntry: at consumers_offset + i * consumer_stride, 128 bytes, two cache lines:
// the first is written by the producer on every commit (wake), the second by the consumer,
// so that neither side's writes invalidate the other's hot line (false sharing).
struct ConsumerEntry {
  // -- wake-up line: `wake` written by the producer, `waiting` by the consumer --
  std::uint32_t wake;             // futex word: producer increments after every commit; atomic
  std::uint32_t waiting;          // consumer sets 1 while blocked in FUTEX_WAIT on wake; atomic
  std::uint32_t delivery;         // Delivery: set by the consumer; lossless -> demoted only by the producer; atomic
  std::uint32_t demotions;        // times the producer demoted this consumer; atomic
  std::uint32_t wait_policy;      // WaitPolicyCode the consumer waits with (0 = not told); atomic
  std::uint32_t polling;          // 1 while the consumer polls `wake` instead of sleeping; atomic
  std::uint32_t wake_latency_ns;  // the consumer's last commit -> frame taken time (saturated); atomic
  std::uint32_t reserved_pin;     // 0
  std::uint64_t pinned;           // slots the consumer pinned (a subset of held): never overwritten; atomic
  std::uint32_t reserved_wake[6];
  // -- consumer line --
  std::int32_t owner_pid;           // 0 = free; claimed by CAS 0 -> pid; -1 (kReaping) while being taken over; atomic
  std::uint32_t active;             // 1 once the entry is fully initialized by its owner; atomic
  std::uint64_t owner_start_ticks;  // owner's start time (/proc/PID/stat field 22); atomic
  std::uint64_t heartbeat_ns;       // CLOCK_MONOTONIC of the consumer's last activity; atomic
  std::uint64_t held;               // slots the consumer holds frames in, see held_bit; atomic
  std::uint64_t last_seq;           // last sequence number the consumer took; atomic
  std::uint64_t frames;             // frames taken; atomic
  std::uint64_t drops;              // frames committed but never taken by this consumer; atomic
  std::uint64_t overruns;           // frames overwritten while this consumer held them; atomic
};

// ConsumerEntry::owner_pid while an entry changes hands (a producer reclaiming a dead
// consumer's entry, or a consumer taking one over): nobody else may touch the entry.
inline constexpr std::int32_t kReaping = -1;

// ---------------------------------------------------------------------------------------
// LockRecord: the first 32 bytes of the producer lock object /shmframe-lock.NAME. Written by
// the producer holding flock(LOCK_EX) on it; read by its successor (to keep generations
// increasing), by tools (to name the owner) and by readers judging whether the name's owner lives
// (pid and start time, checked against /proc and the lock's holder in /proc/locks).
inline constexpr std::uint64_t kLockMagic = 0x4B434F4C464D4853ull;  // bytes "SHMFLOCK" in memory order
struct LockRecord {
  std::uint64_t magic;            // kLockMagic
  std::uint64_t last_generation;  // the newest generation this name's producers created
  std::int32_t pid;               // the producer holding the lock
  std::uint32_t reserved;         // 0
  std::uint64_t start_ticks;      // its start time (/proc/PID/stat field 22): a pid-reuse guard
};

// ---------------------------------------------------------------------------------------
// OriginRecord: where a frame of a processing stage's output came from. A stage puts it at the
// start of the frame's metadata (the user's metadata follows it) and sets kSlotHasOrigin in the
// slot's flags; the next stage copies origin fields forward and adds 1 to hops, so the end of a
// chain knows the camera frame behind each frame. Flag clear = the frame is an origin. A record
// whose magic, size or name is wrong under a set flag is not believed (the frame is an origin).
inline constexpr std::uint32_t kOriginMagic = 0x4E47524Fu;  // bytes "ORGN" in memory order
inline constexpr std::uint32_t kSlotHasOrigin = 1u;         // SlotHeader::flags bit 0
struct OriginRecord {
  std::uint32_t magic;          // kOriginMagic
  std::uint32_t size;           // sizeof(OriginRecord); user metadata starts here
  std::uint64_t seq;            // the origin frame's seq
  std::uint64_t generation;     // the origin frame's generation
  std::uint64_t capture_ns;     // the origin frame's capture time (CLOCK_MONOTONIC)
  std::uint32_t hops;           // stages between the origin and this frame (1 = direct output)
  std::uint32_t stream_length;  // bytes of stream used, 1..64
  char stream[64];              // the origin stream's name, not NUL-terminated
};

// ---------------------------------------------------------------------------------------
// Compile-time checks: the contract must not drift by accident.
template <class T>
concept PlainShared = std::is_standard_layout_v<T> && std::is_trivially_copyable_v<T>;
static_assert(PlainShared<SegmentHeader> && PlainShared<SlotHeader> && PlainShared<ConsumerEntry> &&
              PlainShared<LockRecord>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free &&
              std::atomic<std::int32_t>::is_always_lock_free);

static_assert(sizeof(SegmentHeader) == 512 && alignof(SegmentHeader) == 8);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, abi_version) == 8);
static_assert(offsetof(SegmentHeader, header_size) == 12);
static_assert(offsetof(SegmentHeader, state) == 16);
static_assert(offsetof(SegmentHeader, flags) == 20);
static_assert(offsetof(SegmentHeader, total_size) == 24);
static_assert(offsetof(SegmentHeader, generation) == 32);
static_assert(offsetof(SegmentHeader, writer_pid) == 40);
static_assert(offsetof(SegmentHeader, writer_uid) == 44);
static_assert(offsetof(SegmentHeader, writer_start_ticks) == 48);
static_assert(offsetof(SegmentHeader, created_realtime_ns) == 56);
static_assert(offsetof(SegmentHeader, last_committed_seq) == 64);
static_assert(offsetof(SegmentHeader, heartbeat_ns) == 72);
static_assert(offsetof(SegmentHeader, forced_overwrites) == 80);
static_assert(offsetof(SegmentHeader, consumers_reaped) == 88);
static_assert(offsetof(SegmentHeader, commits_aborted) == 96);
static_assert(offsetof(SegmentHeader, producer_wake) == 104);
static_assert(offsetof(SegmentHeader, producer_waiting) == 108);
static_assert(offsetof(SegmentHeader, lossless_demotions) == 112);
static_assert(offsetof(SegmentHeader, reader_wake) == 120);
static_assert(offsetof(SegmentHeader, reserved_hot) == 124);
static_assert(offsetof(SegmentHeader, width) == 128);
static_assert(offsetof(SegmentHeader, height) == 132);
static_assert(offsetof(SegmentHeader, stride) == 136);
static_assert(offsetof(SegmentHeader, pixel_format) == 140);
static_assert(offsetof(SegmentHeader, bytes_per_pixel) == 144);
static_assert(offsetof(SegmentHeader, slot_count) == 148);
static_assert(offsetof(SegmentHeader, max_consumers) == 152);
static_assert(offsetof(SegmentHeader, metadata_capacity) == 156);
static_assert(offsetof(SegmentHeader, frame_bytes) == 160);
static_assert(offsetof(SegmentHeader, slots_offset) == 168);
static_assert(offsetof(SegmentHeader, slot_stride) == 176);
static_assert(offsetof(SegmentHeader, pixel_offset) == 184);
static_assert(offsetof(SegmentHeader, consumers_offset) == 192);
static_assert(offsetof(SegmentHeader, consumer_stride) == 200);
static_assert(offsetof(SegmentHeader, heartbeat_interval_ns) == 208);
static_assert(offsetof(SegmentHeader, plane_count) == 216);
static_assert(offsetof(SegmentHeader, reserved_planes) == 220);
static_assert(offsetof(SegmentHeader, planes) == 224);
static_assert(offsetof(SegmentHeader, reserved_tail) == 296);
static_assert(sizeof(PlaneEntry) == 24 && alignof(PlaneEntry) == 8 && PlainShared<PlaneEntry>);
static_assert(offsetof(PlaneEntry, offset) == 0);
static_assert(offsetof(PlaneEntry, stride) == 8);
static_assert(offsetof(PlaneEntry, row_bytes) == 12);
static_assert(offsetof(PlaneEntry, rows) == 16);
static_assert(offsetof(PlaneEntry, reserved) == 20);

static_assert(sizeof(SlotHeader) == 64 && alignof(SlotHeader) == 8);
static_assert(offsetof(SlotHeader, state) == 0);
static_assert(offsetof(SlotHeader, capture_ns) == 8);
static_assert(offsetof(SlotHeader, commit_ns) == 16);
static_assert(offsetof(SlotHeader, metadata_size) == 24);
static_assert(offsetof(SlotHeader, flags) == 28);
static_assert(offsetof(SlotHeader, payload_bytes) == 32);
static_assert(offsetof(SlotHeader, reserved) == 40);

static_assert(sizeof(ConsumerEntry) == 128 && alignof(ConsumerEntry) == 8);
static_assert(offsetof(ConsumerEntry, wake) == 0);
static_assert(offsetof(ConsumerEntry, waiting) == 4);
static_assert(offsetof(ConsumerEntry, delivery) == 8);
static_assert(offsetof(ConsumerEntry, demotions) == 12);
static_assert(offsetof(ConsumerEntry, wait_policy) == 16);
static_assert(offsetof(ConsumerEntry, polling) == 20);
static_assert(offsetof(ConsumerEntry, wake_latency_ns) == 24);
static_assert(offsetof(ConsumerEntry, reserved_pin) == 28);
static_assert(offsetof(ConsumerEntry, pinned) == 32);
static_assert(offsetof(ConsumerEntry, reserved_wake) == 40);
static_assert(offsetof(ConsumerEntry, owner_pid) == 64);
static_assert(offsetof(ConsumerEntry, active) == 68);
static_assert(offsetof(ConsumerEntry, owner_start_ticks) == 72);
static_assert(offsetof(ConsumerEntry, heartbeat_ns) == 80);
static_assert(offsetof(ConsumerEntry, held) == 88);
static_assert(offsetof(ConsumerEntry, last_seq) == 96);
static_assert(offsetof(ConsumerEntry, frames) == 104);
static_assert(offsetof(ConsumerEntry, drops) == 112);
static_assert(offsetof(ConsumerEntry, overruns) == 120);

static_assert(sizeof(OriginRecord) == 104 && alignof(OriginRecord) == 8 && PlainShared<OriginRecord>);
static_assert(offsetof(OriginRecord, magic) == 0);
static_assert(offsetof(OriginRecord, size) == 4);
static_assert(offsetof(OriginRecord, seq) == 8);
static_assert(offsetof(OriginRecord, generation) == 16);
static_assert(offsetof(OriginRecord, capture_ns) == 24);
static_assert(offsetof(OriginRecord, hops) == 32);
static_assert(offsetof(OriginRecord, stream_length) == 36);
static_assert(offsetof(OriginRecord, stream) == 40);

static_assert(sizeof(LockRecord) == 32 && alignof(LockRecord) == 8);
static_assert(offsetof(LockRecord, magic) == 0);
static_assert(offsetof(LockRecord, last_generation) == 8);
static_assert(offsetof(LockRecord, pid) == 16);
static_assert(offsetof(LockRecord, reserved) == 20);
static_assert(offsetof(LockRecord, start_ticks) == 24);

}  // namespace shmframe::layout
