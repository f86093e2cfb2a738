// The commit protocol, producer and consumer side by side, so that every ordering pair can be
// read in one place. Labels SYNC(x) name a pair; scripts/check-sync.py checks both sides exist.
// docs/PROTOCOL.md walks through the same steps.
#include "shmframe/detail/slot_protocol.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <emmintrin.h>
#endif

#include "shmframe/detail/os.hpp"

namespace shmframe::detail {

namespace {

// Rounds of snapshot, mark, re-check before the producer overwrites a held slot.
constexpr int kMarkRounds = 4;

// Producer: the union of every live consumer's held set. SYNC(hold) producer load side: seq_cst
// loads after the seq_cst writing mark, against the consumer's seq_cst hold then seq_cst re-load
// in take(). Either we see its bit here, or it sees our writing mark and lets the frame go. One
// load per entry: a consumer moving its holds between two of our loads (releasing an old frame,
// taking the newest) is seen at a single instant, so a free slot is never missed for one reader.
std::uint64_t held_slots(const WriteView& v) noexcept {
  std::uint64_t held = 0;
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    const std::uint64_t h = at(e.held).load(std::memory_order_seq_cst);
    // relaxed: a freed entry's bits are cleared before its pid (SYNC(entry_free)); a stale
    // non-zero pid only costs a slot we could have used.
    if (h != 0 && at(e.owner_pid).load(std::memory_order_relaxed) != 0) held |= h;
  }
  return held;
}

}  // namespace

// SYNC(pin) load side, for both the producer (after its seq_cst writing mark) and a pinning
// consumer (after its seq_cst pin): seq_cst loads. Two consumers pinning at once each see the
// other's bit (and both may back off); a producer and a pinning consumer: either the producer sees
// the pin and leaves the slot, or the consumer sees the writing mark and gives the pin up.
std::uint64_t pinned_slots(const ReadView& v) noexcept {
  std::uint64_t pinned = 0;
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    const auto& e = v.consumer(i);
    const std::uint64_t p = load(e.pinned, std::memory_order_seq_cst);
    // relaxed: as in held_slots().
    if (p != 0 && load(e.owner_pid, std::memory_order_relaxed) != 0) pinned |= p;
  }
  // Bits past the last slot name no slot (forged): they must not spend the pin budget.
  const std::uint32_t n = v.geo.slot_count;
  return n >= 64 ? pinned : pinned & ((std::uint64_t{1} << n) - 1);
}

namespace {

using Candidates = std::pair<std::uint64_t, std::uint32_t>;  // (sequence word, slot), oldest first

// The first candidate neither held nor owed (-1: none); the first one only held (a forced
// overwrite's victim); and whether a free candidate was passed over only because it is owed.
struct Pick {
  std::int64_t free = -1;
  std::int64_t held_only = -1;
  bool owed_free = false;
};
Pick first_free(const Candidates* by_age, std::uint32_t n, std::uint64_t held, std::uint64_t owed) noexcept {
  Pick p;
  for (std::uint32_t k = 0; k < n && p.free < 0; ++k) {
    const std::uint64_t bit = layout::held_bit(by_age[k].second);
    const bool is_held = (held & bit) != 0;
    const bool is_owed = (owed & bit) != 0;
    if (!is_held && !is_owed) p.free = by_age[k].second;
    if (!is_held && is_owed) p.owed_free = true;
    if (is_held && !is_owed && p.held_only < 0) p.held_only = by_age[k].second;
  }
  return p;
}

}  // namespace

Marked mark_for_write(const WriteView& v, std::uint64_t seq, std::int64_t newest_slot, std::uint64_t owed) noexcept {
  // Candidates: every slot but the one holding the newest frame (late joiners can always read
  // it), oldest first; then, as a last resort before overwriting a held frame, the newest
  // frame's slot (nobody holds it, so losing it costs only a late joiner's wait). Sort a private
  // snapshot: consumers map the segment writable, so words read twice from shared memory could
  // change under std::sort and break its invariants.
  Candidates by_age[layout::kMaxSlots];
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < v.geo.slot_count; ++i) {
    if (static_cast<std::int64_t>(i) != newest_slot || v.geo.slot_count == 1) {
      // relaxed: only the order matters, and only we write committed words.
      by_age[n++] = {at(v.slot(i).state).load(std::memory_order_relaxed), i};
    }
  }
  std::sort(by_age, by_age + n);  // n >= 1: slot_count >= 1 is validated
  const std::uint32_t oldest = by_age[0].second;
  if (n < v.geo.slot_count) by_age[n++] = {0, static_cast<std::uint32_t>(newest_slot)};
  // A few rounds: a consumer may take the slot we picked between our snapshot and our mark; the
  // next round sees its new holds. Bounded: a consumer can never stall the producer.
  for (int round = 0; round < kMarkRounds; ++round) {
    // Leave a held slot alone without even marking it, so a holder's still_valid() does not see
    // a transient writing mark on a frame we will not touch.
    const Pick p = first_free(by_age, n, held_slots(v), owed);
    if (p.free < 0 && p.owed_free) return Marked{0, false, true};  // wait for the lossless consumer
    if (p.free < 0) break;                                         // every slot held
    const auto pick = static_cast<std::uint32_t>(p.free);
    auto state = at(v.slot(pick).state);
    const std::uint64_t old = state.load(std::memory_order_relaxed);
    // SYNC(hold) producer store side: the writing mark, seq_cst, before the hold scan. It must stay
    // seq_cst (not release + fence): on x86 the release fence below is compiler-only.
    state.store(layout::slot_writing(seq), std::memory_order_seq_cst);
    if ((held_slots(v) & layout::held_bit(pick)) == 0) {
      // SYNC(seqlock) release fence: the writing mark is ordered before every pixel store that
      // follows, so a reader that saw a new pixel and then fences sees the mark; pairs with the
      // acquire fence in still_valid().
      std::atomic_thread_fence(std::memory_order_release);
      return Marked{pick, false, false};
    }
    // Taken meanwhile: restore the word. No pixel was touched, so a reader that validates
    // against the restored value read a consistent frame.
    state.store(old, std::memory_order_seq_cst);
  }
  // Every slot is held by slow consumers (or they kept taking what we picked): take the oldest
  // slot the latest snapshot shows free, else the oldest held one. A consumer never stalls the
  // producer; a holder learns of an overwrite through still_valid() and its overruns. An owed
  // slot is never taken here: its lossless consumer is waited for (blocked) instead. A pinned slot
  // is never taken either: honest consumers pin at most slots - 1 (Holds::pin), so another slot
  // exists; only forged pins (every slot) leave none, and then the oldest is taken anyway.
  for (int round = 0;; ++round) {
    const std::uint64_t held = held_slots(v);
    const std::uint64_t pinned = pinned_slots(v);
    const Pick p = first_free(by_age, n, held, owed | pinned);
    if (p.free < 0 && p.held_only < 0 && owed != 0) return Marked{0, false, true};
    std::uint32_t slot = oldest;
    if (p.free >= 0) slot = static_cast<std::uint32_t>(p.free);
    else if (p.held_only >= 0) slot = static_cast<std::uint32_t>(p.held_only);
    auto state = at(v.slot(slot).state);
    const std::uint64_t old = state.load(std::memory_order_relaxed);
    // SYNC(pin) producer store side: the writing mark, seq_cst, then the pin scan. A slot already
    // pinned here means every slot is (forged pins): no second look.
    state.store(layout::slot_writing(seq), std::memory_order_seq_cst);
    // Each honest pin that appears meanwhile rules out one more slot, and there are at most
    // slots - 1 of them: slot_count + kMarkRounds rounds outlast every honest sequence but a
    // pathological churn of pins and unpins, after which the slot is taken anyway.
    if ((pinned & layout::held_bit(slot)) == 0 && (pinned_slots(v) & layout::held_bit(slot)) != 0 &&
        round < kMarkRounds + static_cast<int>(v.geo.slot_count)) {
      state.store(old, std::memory_order_seq_cst);  // pinned meanwhile: as in the rounds above
      continue;
    }
    const bool forced = (held & layout::held_bit(slot)) != 0;
    // relaxed: a statistics counter of held frames overwritten.
    if (forced) at(v.header().forced_overwrites).fetch_add(1, std::memory_order_relaxed);
    // SYNC(seqlock) release fence, as above.
    std::atomic_thread_fence(std::memory_order_release);
    return Marked{slot, forced, false};
  }
}

void DemotionLedger::reset(std::uint32_t entries, std::uint64_t window_ns) {
  records_.assign(entries, Record{});
  window_ns_ = window_ns;
}

bool DemotionLedger::excused(std::uint32_t i, std::int32_t pid, std::uint64_t last_seq, std::uint64_t now) noexcept {
  if (i >= records_.size()) return false;
  Record& r = records_[i];
  if (r.pid == 0) return false;
  if (r.pid != pid) {  // the entry changed hands: a new consumer, with no past
    r = Record{};
    return false;
  }
  if (last_seq <= r.latest || now < r.until_ns) return true;
  r = Record{};  // caught up, and its window is over: waited for again
  return false;
}

void DemotionLedger::demoted(std::uint32_t i, std::int32_t pid, std::uint64_t latest, std::uint64_t now) noexcept {
  if (i < records_.size()) records_[i] = Record{pid, latest, now + window_ns_};
}

namespace {
// Lossless consumers the ledger does not excuse, with the last frame each took.
// SYNC(lossless) producer load side: seq_cst loads after the seq_cst store of producer_waiting
// (notifier::producer_wait_begin); the consumer stores last_seq (or releases a hold) seq_cst,
// then loads producer_waiting. Either we see its progress here, or it sees us waiting and wakes us.
template <class F>
void for_each_lossless(const WriteView& v, DemotionLedger& ledger, std::uint64_t now, F&& f) {
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    if (at(e.delivery).load(std::memory_order_seq_cst) != static_cast<std::uint32_t>(layout::Delivery::lossless))
      continue;
    const std::int32_t pid = at(e.owner_pid).load(std::memory_order_relaxed);
    if (pid <= 0) continue;
    const std::uint64_t last = at(e.last_seq).load(std::memory_order_seq_cst);
    // Re-armed (delivery 1) but within its demotion window: lossy until the window is over,
    // though its entry reads lossless (PROTOCOL.md, "Delivery modes", step 5).
    if (ledger.excused(i, pid, last, now)) continue;
    f(i, e, pid, last);
  }
}
}  // namespace

std::uint64_t owed_slots(const WriteView& v, DemotionLedger& ledger, std::uint64_t now) noexcept {
  std::uint64_t floor = UINT64_MAX;
  std::uint64_t held = 0;
  for_each_lossless(v, ledger, now, [&](std::uint32_t, layout::ConsumerEntry& e, std::int32_t, std::uint64_t last) {
    floor = std::min(floor, last);
    // A frame a lossless consumer took and still holds is being consumed: owed too, so that
    // other consumers' pins cannot make it the forced overwrite's victim. seq_cst: SYNC(lossless),
    // as for last_seq (the consumer clears the bit seq_cst, then looks for a waiting producer).
    held |= at(e.held).load(std::memory_order_seq_cst);
  });
  if (floor == UINT64_MAX) return 0;
  const std::uint32_t n = v.geo.slot_count;
  std::uint64_t owed = n >= 64 ? held : held & ((std::uint64_t{1} << n) - 1);
  for (std::uint32_t i = 0; i < v.geo.slot_count; ++i) {
    // relaxed: only we write committed words.
    const std::uint64_t word = at(v.slot(i).state).load(std::memory_order_relaxed);
    if (word != 0 && (word & 1u) == 0 && (word >> 1) > floor) owed |= layout::held_bit(i);
  }
  return owed;
}

std::uint32_t demote_slowest(const WriteView& v, DemotionLedger& ledger, std::uint64_t latest, std::uint64_t now,
                             const std::function<void(std::uint32_t, std::int32_t)>& demoted) noexcept {
  std::uint64_t floor = UINT64_MAX;
  for_each_lossless(v, ledger, now, [&floor](std::uint32_t, layout::ConsumerEntry&, std::int32_t, std::uint64_t last) {
    floor = std::min(floor, last);
  });
  std::uint32_t count = 0;
  for_each_lossless(v, ledger, now,
                    [&](std::uint32_t i, layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t last) {
                      if (last != floor) return;
                      // Remembered privately first: whatever the entry writes from now on, it is not waited for
                      // until it has caught up and its window is over.
                      ledger.demoted(i, pid, latest, now);
                      ++count;
                      auto expected = static_cast<std::uint32_t>(layout::Delivery::lossless);
                      // seq_cst: the consumer re-arms with a plain store only when it sees `demoted`; a CAS keeps us
                      // from overwriting a re-arm or a release (0) that happened meanwhile.
                      if (!at(e.delivery)
                               .compare_exchange_strong(expected, static_cast<std::uint32_t>(layout::Delivery::demoted),
                                                        std::memory_order_seq_cst)) {
                        return;
                      }
                      // relaxed: statistics counters.
                      at(e.demotions).fetch_add(1, std::memory_order_relaxed);
                      at(v.header().lossless_demotions).fetch_add(1, std::memory_order_relaxed);
                      if (demoted) demoted(i, pid);
                    });
  return count;
}

void commit_slot(const WriteView& v, std::uint32_t slot, std::uint64_t seq, const SlotWords& w) noexcept {
  auto& s = v.slot(slot);
  const std::uint64_t now = monotonic_ns();
  s.capture_ns = w.capture_ns;
  s.commit_ns = now;
  s.metadata_size = w.metadata_size;
  s.flags = w.flags;
  s.payload_bytes = w.payload_bytes;
#if defined(__x86_64__) || defined(__i386__)
  // Pixels written with non-temporal stores (ours in publish(), or a zero-copy producer's own
  // SIMD) are weakly ordered even on x86: without this fence the release store below could become
  // visible before them. A release store does not order them.
  _mm_sfence();
#endif
  // SYNC(slot_state) release: publishes pixels, metadata and timestamps of the slot; pairs with
  // the acquire load in take().
  at(s.state).store(layout::slot_committed(seq), std::memory_order_release);
  // SYNC(last_committed) seq_cst store: release for the data (pairs with latest_seq()), and the
  // store side of the store->load pair with a claiming consumer (SYNC(claim), see claimed()).
  at(v.header().last_committed_seq).store(seq, std::memory_order_seq_cst);
  // relaxed: the heartbeat carries no data; readers only compare its age.
  at(v.header().heartbeat_ns).store(now, std::memory_order_relaxed);
}

void abort_slot(const WriteView& v, std::uint32_t slot) noexcept {
  // The slot's pixels are partly overwritten: it holds no frame any more. Readers compare with
  // 2*seq, which 0 never is.
  at(v.slot(slot).state).store(0, std::memory_order_release);
  at(v.header().commits_aborted).fetch_add(1, std::memory_order_relaxed);
}

// ---- consumer -------------------------------------------------------------------------

bool Holds::still_ours(const layout::ConsumerEntry& me) noexcept {
  // relaxed: the producer may have reclaimed the entry (we looked dead); from then on it may be
  // someone else's and we must not write to it. Checked under mu_ before every write, this
  // narrows the window to the write itself; owners beat often enough never to be reclaimed.
  if (!detached_ && load(me.owner_pid, std::memory_order_relaxed) != owner_) forget_locked();
  return !detached_;
}

bool Holds::acquire(layout::ConsumerEntry& me, std::uint32_t slot, std::uint32_t limit) noexcept {
  std::lock_guard lk(mu_);
  if (!still_ours(me)) return false;
  if (count_[slot] == 0) {
    if (slots_held_ >= limit) return false;
    // SYNC(hold) consumer store side: seq_cst, before the re-load of the sequence word in take().
    at(me.held).fetch_or(layout::held_bit(slot), std::memory_order_seq_cst);
    ++slots_held_;
  }
  ++count_[slot];
  return true;
}

void Holds::release(layout::ConsumerEntry& me, std::uint32_t slot, bool held, bool overrun) noexcept {
  std::lock_guard lk(mu_);
  if (!still_ours(me)) return;
  // relaxed: a statistics counter.
  if (overrun) at(me.overruns).fetch_add(1, std::memory_order_relaxed);
  if (!held || count_[slot] == 0) return;
  if (--count_[slot] == 0) {
    --slots_held_;
    // release: our reads of the slot happen before the producer may see it free. seq_cst: also
    // the store side of SYNC(lossless) (a producer waiting for a free slot, see Frame::release).
    at(me.held).fetch_and(~layout::held_bit(slot), std::memory_order_seq_cst);
  }
}

bool Holds::pin(const ReadView& v, layout::ConsumerEntry& me, std::uint32_t slot, std::uint64_t seq) noexcept {
  std::lock_guard lk(mu_);
  if (!still_ours(me) || count_[slot] == 0) return false;
  if (pins_[slot] == 0) {
    // At most slots - 1 pinned slots in the stream, so that the producer always has one to write.
    const std::uint32_t budget = v.geo.slot_count - 1;
    const std::uint64_t bit = layout::held_bit(slot);
    if (std::popcount(pinned_slots(v) | bit) > static_cast<int>(budget)) return false;
    // SYNC(pin) consumer store side: seq_cst, then the pin scan and the sequence word (seq_cst).
    at(me.pinned).fetch_or(bit, std::memory_order_seq_cst);
    if (std::popcount(pinned_slots(v)) > static_cast<int>(budget) ||
        load(v.slot(slot).state, std::memory_order_seq_cst) != layout::slot_committed(seq)) {
      at(me.pinned).fetch_and(~bit, std::memory_order_seq_cst);
      return false;
    }
  }
  ++pins_[slot];
  return true;
}

void Holds::unpin(layout::ConsumerEntry& me, std::uint32_t slot) noexcept {
  std::lock_guard lk(mu_);
  if (!still_ours(me) || pins_[slot] == 0) return;
  // release: our reads of the pixels happen before the producer may write the slot again.
  if (--pins_[slot] == 0) at(me.pinned).fetch_and(~layout::held_bit(slot), std::memory_order_seq_cst);
}

void Holds::detach(layout::ConsumerEntry& me) noexcept {
  std::lock_guard lk(mu_);
  if (detached_) return;
  forget_locked();
  // release: as in release().
  at(me.pinned).store(0, std::memory_order_release);
  at(me.held).store(0, std::memory_order_release);
}

void Holds::abandon() noexcept {
  std::lock_guard lk(mu_);
  forget_locked();
}

void Holds::forget_locked() noexcept {
  detached_ = true;
  std::fill(std::begin(count_), std::end(count_), std::uint32_t{0});
  std::fill(std::begin(pins_), std::end(pins_), std::uint32_t{0});
  slots_held_ = 0;
}

std::optional<Taken> take(const ReadView& v, layout::ConsumerEntry* me, Holds* holds, std::uint64_t seq,
                          std::uint32_t hold_limit) noexcept {
  if (seq == 0) return std::nullopt;
  for (std::uint32_t i = 0; i < v.geo.slot_count; ++i) {
    const auto& s = v.slot(i);
    // SYNC(slot_state) acquire: pairs with the release store in commit_slot(); pixels, metadata
    // and timestamps of `seq` are visible once we see its committed word.
    if (load(s.state, std::memory_order_acquire) != layout::slot_committed(seq)) continue;
    Taken t;
    t.slot = i;
    // What travels with the frame is read before the re-check below, which validates it like
    // still_valid() validates pixels: a frame we cannot hold may be overwritten at any moment,
    // and values read after the check could be the next frame's.
    t.capture_ns = s.capture_ns;
    t.commit_ns = s.commit_ns;
    t.metadata_size = std::min(s.metadata_size, v.geo.metadata_capacity);  // untrusted: clamp
    t.flags = s.flags;
    // A raw frame is its planes, whatever the word says; a JPEG's size is clamped to the slot.
    t.payload_bytes = v.geo.format.compressed() ? std::min(s.payload_bytes, v.geo.frame_bytes) : v.geo.frame_bytes;
    t.held = me != nullptr && holds->acquire(*me, i, hold_limit);
    // SYNC(seqlock) acquire fence: orders the reads above before the re-load; pairs with the
    // release fence after the writing mark in mark_for_write().
    std::atomic_thread_fence(std::memory_order_acquire);
    // SYNC(hold) consumer load side: seq_cst re-load after the seq_cst hold (see held_slots()).
    if (load(s.state, std::memory_order_seq_cst) != layout::slot_committed(seq)) {
      if (me != nullptr) holds->release(*me, i, t.held, false);
      return std::nullopt;  // overwritten between the two loads
    }
    // From here on the frame is protected (held), or, unheld, what we read was still that
    // frame's; a producer overwriting it later is caught by still_valid().
    return t;
  }
  return std::nullopt;
}

std::uint64_t latest_seq(const ReadView& v) noexcept {
  // SYNC(last_committed) load, seq_cst: acquire for the data (pairs with the store in
  // commit_slot()), and the load side of SYNC(claim): after a claim, this load cannot be
  // satisfied before the claim is visible to the producer (with acquire only it could on ARMv8.3+
  // RCpc loads; tests/model/model_wake.cpp). Free on x86 (a plain mov), ldar on ARM.
  return load(v.header().last_committed_seq, std::memory_order_seq_cst);
}

bool still_valid(const ReadView& v, std::uint32_t slot, std::uint64_t seq) noexcept {
  // SYNC(seqlock) acquire fence: orders our earlier (racy, by design) reads of the pixels before
  // the load below; pairs with the release fence after the writing mark in mark_for_write(). If
  // the word still says committed(seq), no write to this slot had started when we read it.
  std::atomic_thread_fence(std::memory_order_acquire);
  return load(v.slot(slot).state, std::memory_order_relaxed) == layout::slot_committed(seq);
}

}  // namespace shmframe::detail
