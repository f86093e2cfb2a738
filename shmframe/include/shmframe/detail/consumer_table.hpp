// shmframe/detail/consumer_table.hpp: the consumer table's entry life cycle.
//
// An entry is free (owner_pid 0), changing hands (layout::kReaping), or owned by a consumer
// pid. A consumer claims a free entry with one CAS, or takes over a dead owner's entry through
// the kReaping sentinel; it beats its heartbeat on every wait and gives the entry back on a clean
// exit. The producer reaps the entries of dead consumers through the same sentinel. Tools read
// a relaxed snapshot. Internal; every function may be called from any thread of any process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmframe/detail/os.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {
struct ConsumerInfo;
}

namespace shmframe::detail::consumer_table {

// Consumer: claims an entry for `pid` and initializes it: a free one, else one whose owner is not
// a live process with its recorded start time (taken over at once). nullopt when the table is
// full but some entries are changing hands (retry a little later); throws
// Error(too_many_consumers) when every entry belongs to a live consumer.
std::optional<std::uint32_t> claim(const WriteView& v, std::int32_t pid, std::string_view stream);
// Consumer: gives its entry back (clean exit or re-attach). The caller drops its holds first
// (Holds::detach()), and, lossless, wakes a waiting producer after (notifier::wake_producer()).
void release(const WriteView& v, std::uint32_t entry, std::int32_t pid) noexcept;
// Consumer: a sign of life; false when the entry is no longer ours (reaped: we looked dead).
bool beat(layout::ConsumerEntry& me, std::int32_t pid, std::uint64_t now) noexcept;

// How an entry's owner looks to someone who needs the entry.
enum class Owner {
  free,            // owner_pid 0
  changing_hands,  // layout::kReaping: someone is reaping or taking it over right now
  live,            // a live process with the recorded start time (or, not yet active, beating)
  gone,            // anything else: dead, pid reused, or a value no owner writes (1 unbeating, -5)
};
Owner judge(const layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t now, std::uint64_t interval) noexcept;

// True when the entry's owner `pid` is dead: the pid is gone or belongs to another process
// now (start time compared once the owner initialized the entry), and the entry has been
// silent for 3 heartbeat intervals (pid namespaces can make a live pid look gone).
bool owner_dead(const layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t now, std::uint64_t interval) noexcept;

// Producer: reclaims the entries of dead consumers (their holds free their slots) and entries
// stuck changing hands (kReaping) for a whole interval, counting each in the header's
// consumers_reaped before calling `reaped(entry, pid)`. `changing_since` is the producer's
// private memory of when it first saw each entry changing hands. Returns how many.
std::uint32_t reap(const WriteView& v, std::uint64_t now, std::vector<std::uint64_t>& changing_since,
                   const std::function<void(std::uint32_t, std::int32_t)>& reaped) noexcept;

// Producer, on every commit: may this entry need a wake-up? SYNC(claim) load side: pairs with
// the CAS in claim() and the seq_cst fence after it. A consumer skipped here as unclaimed is
// guaranteed to see the commit just made when it loads last_committed_seq after claiming.
inline bool claimed(layout::ConsumerEntry& e) noexcept { return at(e.owner_pid).load(std::memory_order_seq_cst) != 0; }

// Statistics of the live entries (relaxed reads: consistent per field only).
std::vector<ConsumerInfo> snapshot(const ReadView& v);

}  // namespace shmframe::detail::consumer_table
