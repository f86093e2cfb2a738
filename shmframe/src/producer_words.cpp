// ProducerWords: stores of the producer's own words together with the record the heartbeat
// restores them from.
#include "shmframe/detail/producer_words.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iterator>

#include "shmframe/detail/os.hpp"

namespace shmframe::detail {

namespace {
// The header bytes only the producer writes and nobody changes after creation: identity (magic,
// version, header size), flags..created_realtime_ns, and the format block.
struct Range {
  std::size_t begin, end;
};
constexpr Range kFixedHeader[] = {
    {offsetof(layout::SegmentHeader, magic), offsetof(layout::SegmentHeader, state)},
    {offsetof(layout::SegmentHeader, flags), offsetof(layout::SegmentHeader, last_committed_seq)},
    {offsetof(layout::SegmentHeader, width), sizeof(layout::SegmentHeader)},
};
}  // namespace

void ProducerWords::reset(const WriteView& v) noexcept {
  std::lock_guard lk(mu_);
  std::memcpy(&header_, &v.header(), sizeof header_);
  std::fill(std::begin(slot_words_), std::end(slot_words_), std::uint64_t{0});
  committed_seq_ = 0;
}

Marked ProducerWords::mark(const WriteView& v, std::uint64_t seq, std::int64_t newest_slot,
                           std::uint64_t owed) noexcept {
  std::lock_guard lk(mu_);
  const Marked r = mark_for_write(v, seq, newest_slot, owed);
  if (!r.blocked) slot_words_[r.slot] = layout::slot_writing(seq);
  return r;
}

void ProducerWords::commit(const WriteView& v, std::uint32_t slot, std::uint64_t seq, const SlotWords& w) noexcept {
  std::lock_guard lk(mu_);
  commit_slot(v, slot, seq, w);
  slot_words_[slot] = layout::slot_committed(seq);
  committed_seq_ = seq;
}

void ProducerWords::abort(const WriteView& v, std::uint32_t slot) noexcept {
  std::lock_guard lk(mu_);
  abort_slot(v, slot);
  slot_words_[slot] = 0;
}

std::uint32_t ProducerWords::reassert(const WriteView& v) noexcept {
  std::lock_guard lk(mu_);
  std::uint32_t repaired = 0;
  auto& h = v.header();
  // Identity and format: joiners validate them; a scribbled copy would lock every new consumer
  // out. Plain bytes: anyone may be changing them, which is the point.
  auto* live = reinterpret_cast<unsigned char*>(&h);
  const auto* mine = reinterpret_cast<const unsigned char*>(&header_);
  for (const Range& r : kFixedHeader) {
    if (std::memcmp(live + r.begin, mine + r.begin, r.end - r.begin) != 0) {
      std::memcpy(live + r.begin, mine + r.begin, r.end - r.begin);
      ++repaired;
    }
  }
  for (std::uint32_t i = 0; i < v.geo.slot_count; ++i) {
    // relaxed: compared with our own last store, under mu_ (no store of ours in between).
    auto word = at(v.slot(i).state);
    if (word.load(std::memory_order_relaxed) == slot_words_[i]) continue;
    // SYNC(slot_state) release: as in commit_slot(), our pixels before the word we restore.
    word.store(slot_words_[i], std::memory_order_release);
    ++repaired;
  }
  auto last = at(h.last_committed_seq);
  if (last.load(std::memory_order_relaxed) != committed_seq_) {
    // SYNC(last_committed) seq_cst store, as in commit_slot().
    last.store(committed_seq_, std::memory_order_seq_cst);
    ++repaired;
  }
  if (load_state(h) != static_cast<std::uint32_t>(layout::State::ready)) {
    publish_state(h, layout::State::ready);  // SYNC(state) release store, and wakes its waiters
    ++repaired;
  }
  return repaired;
}

}  // namespace shmframe::detail
