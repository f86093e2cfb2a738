// shmframe/detail/producer_words.hpp: the words only the producer writes, stored and recorded as
// one step.
//
// A consumer with write access can scribble on the producer's words (slot sequence words,
// last_committed_seq, state, identity and format); the producer's heartbeat restores them from
// its own record (PROTOCOL.md, "Hostile writers"). That record is only right if every store of
// one of those words also updates it, under the same lock: each method here stores and records
// together, so no call site can do one without the other. Internal; the driving thread calls
// reset(), mark(), commit() and abort(), the heartbeat thread reassert(); one lock orders them.
#pragma once

#include <cstdint>
#include <mutex>

#include "shmframe/detail/segment.hpp"
#include "shmframe/detail/slot_protocol.hpp"
#include "shmframe/layout.hpp"

namespace shmframe::detail {

class ProducerWords {
 public:
  // A new generation: records its header (identity and format, as created); no slot word yet.
  void reset(const WriteView& v) noexcept;
  // mark_for_write(), recording the slot's writing word when a slot was marked.
  Marked mark(const WriteView& v, std::uint64_t seq, std::int64_t newest_slot, std::uint64_t owed) noexcept;
  // commit_slot(), recording the slot's committed word and last_committed_seq.
  void commit(const WriteView& v, std::uint32_t slot, std::uint64_t seq, const SlotWords& w) noexcept;
  // abort_slot(), recording the slot as holding no frame.
  void abort(const WriteView& v, std::uint32_t slot) noexcept;
  // Heartbeat: restores every word another process changed (identity and format bytes, slot
  // words, last_committed_seq, state READY); returns how many. `v` must be the current view.
  std::uint32_t reassert(const WriteView& v) noexcept;

 private:
  std::mutex mu_;
  std::uint64_t slot_words_[layout::kMaxSlots] = {};  // under mu_
  std::uint64_t committed_seq_ = 0;                   // under mu_
  layout::SegmentHeader header_{};                    // under mu_
};

}  // namespace shmframe::detail
