// shmframe/detail/slot_protocol.hpp: the commit protocol, both sides in one place.
//
// Each slot carries a sequence word that is odd (2*seq+1) while the producer writes the slot and
// 2*seq once frame `seq` is committed; a reader that sees the same even word before and after
// reading the pixels read a consistent frame (the Linux seqlock rule). Consumers hold slots (one
// bit each in their entry's `held` set) to ask the producer to write elsewhere; the producer
// honours that while a free slot exists and never waits: with every candidate held it overwrites
// the oldest, and the holder learns it from the sequence word.
//
// Lossless consumers add one rule: a slot holding a frame newer than the last one some lossless
// consumer took is owed to it; the producer does not overwrite it but waits (bounded by its max
// block), then demotes the consumers that block it to lossy (WriterImpl::mark() in writer.cpp).
//
// Threads: the producer side runs on the producer's driving thread. On the consumer side, a
// Holds object may be used from any number of threads at once (frames are released wherever
// they die); everything else is a pure function of shared memory.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe::detail {

// ---- producer -------------------------------------------------------------------------
struct Marked {
  std::uint32_t slot = 0;
  bool forced = false;   // every candidate was held: a holder's frame is being overwritten
  bool blocked = false;  // nothing marked: every free candidate is owed to a lossless consumer
};
// Picks the slot for frame `seq` (the oldest slot no consumer holds, never the one holding the
// newest frame `newest_slot` unless there is only one slot) and marks it being written. Slots in
// `owed` (see owed_slots()) are never picked: if only owed slots are free, nothing is marked
// and the result is `blocked`.
Marked mark_for_write(const WriteView& v, std::uint64_t seq, std::int64_t newest_slot, std::uint64_t owed = 0) noexcept;

// The producer's private memory of the lossless consumers it demoted (PROTOCOL.md, "Delivery
// modes", step 5). Kept out of shared memory, so no consumer can write it: an entry that
// re-arms itself (delivery = 1) with a stale last_seq, or fakes a catch-up, is still not waited
// for. One thread (the producer's driving thread).
class DemotionLedger {
 public:
  void reset(std::uint32_t entries, std::uint64_t window_ns);
  // True when entry `i` (owned by `pid`, whose last_seq reads `last_seq`) must not be waited for:
  // it was demoted and has not yet taken a frame committed after that, or its window is not over.
  // Forgets the demotion once both are done.
  bool excused(std::uint32_t i, std::int32_t pid, std::uint64_t last_seq, std::uint64_t now) noexcept;
  // Entry `i` was demoted while `latest` was the newest commit.
  void demoted(std::uint32_t i, std::int32_t pid, std::uint64_t latest, std::uint64_t now) noexcept;

 private:
  struct Record {
    std::int32_t pid = 0;  // 0: no demotion remembered
    std::uint64_t latest = 0;
    std::uint64_t until_ns = 0;
  };
  std::vector<Record> records_;
  std::uint64_t window_ns_ = 0;
};

// Lossless back-pressure: the slots holding a frame newer than the last frame taken by some
// lossless consumer that `ledger` does not excuse (one bit per slot, like held sets). 0 when no
// lossless consumer is attached.
std::uint64_t owed_slots(const WriteView& v, DemotionLedger& ledger, std::uint64_t now) noexcept;
// After the producer waited its max block: demotes to lossy the lossless consumers furthest
// behind (those whose last taken frame is the oldest). Returns how many, calling `demoted` for each.
std::uint32_t demote_slowest(const WriteView& v, DemotionLedger& ledger, std::uint64_t latest, std::uint64_t now,
                             const std::function<void(std::uint32_t, std::int32_t)>& demoted) noexcept;
// What a commit stores in the slot header besides the sequence word.
struct SlotWords {
  std::uint64_t capture_ns = 0;
  std::uint32_t metadata_size = 0;  // origin record included
  std::uint32_t flags = 0;          // layout::kSlotHasOrigin or 0
  std::uint64_t payload_bytes = 0;
};
// Publishes the slot as frame `seq`: the slot words, then the sequence word, then
// last_committed_seq. Pixels and metadata must be written before.
void commit_slot(const WriteView& v, std::uint32_t slot, std::uint64_t seq, const SlotWords& w) noexcept;
// An acquired slot dropped without commit: it holds no frame any more.
void abort_slot(const WriteView& v, std::uint32_t slot) noexcept;

// ---- consumer -------------------------------------------------------------------------
// One consumer entry's held-slot set, with a count per slot so that several frames of the same
// slot (the same frame taken twice) share one bit. Thread-safe.
class Holds {
 public:
  explicit Holds(std::int32_t owner) noexcept : owner_(owner) {}

  // Sets the slot's bit if this is its first holder; false if the holder limit is reached.
  bool acquire(layout::ConsumerEntry& me, std::uint32_t slot, std::uint32_t limit) noexcept;
  // A frame in `slot` goes: counts an overrun in the entry if it was overwritten, and clears the
  // slot's bit when its last holder goes (if the frame was `held`). No-op once detached.
  void release(layout::ConsumerEntry& me, std::uint32_t slot, bool held, bool overrun) noexcept;
  // Pins a held frame `seq` in `slot` (PROTOCOL.md, "Pinned frames"): the producer will not
  // overwrite it until unpin(). False when the stream's pins would exceed slots - 1 (every
  // consumer's pins count), when the frame was overwritten meanwhile, or once detached.
  bool pin(const ReadView& v, layout::ConsumerEntry& me, std::uint32_t slot, std::uint64_t seq) noexcept;
  // One pinned frame in `slot` goes: clears the slot's pin bit with its last pin.
  void unpin(layout::ConsumerEntry& me, std::uint32_t slot) noexcept;
  // The entry is being given back: clear every bit; later releases must not touch it.
  void detach(layout::ConsumerEntry& me) noexcept;
  // The entry was taken from us (reaped): forget every hold without touching it.
  void abandon() noexcept;

 private:
  void forget_locked() noexcept;
  bool still_ours(const layout::ConsumerEntry& me) noexcept;  // under mu_

  const std::int32_t owner_;
  mutable std::mutex mu_;
  std::uint32_t count_[layout::kMaxSlots] = {};
  std::uint32_t pins_[layout::kMaxSlots] = {};
  std::uint32_t slots_held_ = 0;
  bool detached_ = false;
};

struct Taken {
  std::uint32_t slot = 0;
  std::uint64_t capture_ns = 0;
  std::uint64_t commit_ns = 0;
  std::uint32_t metadata_size = 0;  // clamped to the capacity
  std::uint32_t flags = 0;          // as committed (untrusted: a set kSlotHasOrigin is checked by the record)
  std::uint64_t payload_bytes = 0;  // raw formats: frame_bytes; jpeg: as committed, clamped to frame_bytes
  bool held = false;                // false: over the holder limit, unprotected (still validated)
};
// Takes frame `seq` if a slot holds it: hold the slot, then re-check the sequence word. A
// read-only consumer (no entry: `me` and `holds` null) takes it unheld.
std::optional<Taken> take(const ReadView& v, layout::ConsumerEntry* me, Holds* holds, std::uint64_t seq,
                          std::uint32_t hold_limit) noexcept;
// The union of every claimed entry's pinned set (seq_cst loads).
std::uint64_t pinned_slots(const ReadView& v) noexcept;
// The newest committed sequence number (0 = none yet).
std::uint64_t latest_seq(const ReadView& v) noexcept;
// After reading a frame's pixels: true if no write to its slot had started (seqlock check).
bool still_valid(const ReadView& v, std::uint32_t slot, std::uint64_t seq) noexcept;

}  // namespace shmframe::detail
