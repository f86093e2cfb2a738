// The consumer table: claim, take over, beat, give back, reap, snapshot. docs/PROTOCOL.md
// ("Consumer entries") states the same rules for other implementations.
#include "shmframe/detail/consumer_table.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <optional>
#include <vector>

#include "shmframe/detail/errors.hpp"
#include "shmframe/info.hpp"

namespace shmframe::detail::consumer_table {

namespace {

// Fields an owner starts with. Runs while the entry is ours alone (claimed or behind kReaping)
// and not yet marked active.
void reset_fields(layout::ConsumerEntry& e, std::uint64_t ticks, std::uint64_t now) noexcept {
  at(e.owner_start_ticks).store(ticks, std::memory_order_relaxed);
  at(e.heartbeat_ns).store(now, std::memory_order_relaxed);
  at(e.held).store(0, std::memory_order_relaxed);
  at(e.pinned).store(0, std::memory_order_relaxed);
  at(e.last_seq).store(0, std::memory_order_relaxed);
  at(e.frames).store(0, std::memory_order_relaxed);
  at(e.drops).store(0, std::memory_order_relaxed);
  at(e.overruns).store(0, std::memory_order_relaxed);
  at(e.waiting).store(0, std::memory_order_relaxed);
  at(e.delivery).store(0, std::memory_order_relaxed);  // lossy until the owner's first frame
  at(e.demotions).store(0, std::memory_order_relaxed);
  at(e.wait_policy).store(0, std::memory_order_relaxed);
  at(e.polling).store(0, std::memory_order_relaxed);
  at(e.wake_latency_ns).store(0, std::memory_order_relaxed);
  // `wake` is kept: it only ever counts up, and a consumer compares it with its own ticket.
}

void mark_active(layout::ConsumerEntry& e) noexcept {
  // SYNC(active) release: owner_start_ticks (and the rest) are the new owner's before anyone
  // who reads active = 1 compares them; pairs with the acquire load in owner_dead().
  at(e.active).store(1, std::memory_order_release);
  // SYNC(claim) fence: the claim's store (CAS or owner store) is ordered before our first load
  // of last_committed_seq, which is only acquire. On weak memory (ARMv8.3+ RCpc loads) that load
  // could otherwise be satisfied before the claim is visible to the producer; pairs with the
  // seq_cst load in claimed().
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Takes the entry from `owner` (CAS owner -> kReaping): while it reads kReaping, nobody else
// touches it. False if the entry no longer belongs to `owner`.
bool seize(layout::ConsumerEntry& e, std::int32_t owner) noexcept {
  // acq_rel: we see the owner's last writes before changing its fields.
  return at(e.owner_pid).compare_exchange_strong(owner, layout::kReaping, std::memory_order_acq_rel);
}

// Clears a seized entry and frees it.
void free_entry(layout::ConsumerEntry& e) noexcept {
  // seq_cst: the slots are free as soon as the entry is (the producer's hold scan is seq_cst),
  // and our reads of them happened before.
  at(e.pinned).store(0, std::memory_order_seq_cst);
  at(e.held).store(0, std::memory_order_seq_cst);
  at(e.active).store(0, std::memory_order_relaxed);
  at(e.waiting).store(0, std::memory_order_relaxed);
  // seq_cst: a producer waiting for this (lossless) consumer stops counting it at its next look
  // (the releasing consumer wakes it: ReaderCore::give_back()).
  at(e.delivery).store(0, std::memory_order_seq_cst);
  at(e.polling).store(0, std::memory_order_relaxed);  // a dead poller no longer counts
  // SYNC(entry_free) release: the cleared fields before the entry can be claimed again.
  at(e.owner_pid).store(0, std::memory_order_release);
}

}  // namespace

Owner judge(const layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t now, std::uint64_t interval) noexcept {
  if (pid == 0) return Owner::free;
  if (pid == layout::kReaping) return Owner::changing_hands;
  if (pid < 0) return Owner::gone;  // no process has this id: someone wrote it
  // SYNC(active) acquire: pairs with mark_active(); the start ticks are then the owner's own.
  const bool active = load(e.active, std::memory_order_acquire) != 0;
  // relaxed: an age, compared with a threshold of heartbeat intervals.
  const std::uint64_t beat = load(e.heartbeat_ns, std::memory_order_relaxed);
  const std::uint64_t age = now - std::min(now, beat);
  // A heartbeat more than an interval in the future was never stored by an owner (every process
  // reads the same CLOCK_MONOTONIC): it must not make an entry look fresh forever (issue 22).
  const bool forged_beat = beat > now + interval;
  if (!active) {
    // A claimer stores its heartbeat right after its CAS and marks the entry active microseconds
    // later; a live pid in an inactive entry silent for a whole interval was written by someone
    // else (pid 1 is always alive).
    return process_alive(pid, 0) && age <= interval && !forged_beat ? Owner::live : Owner::gone;
  }
  const std::uint64_t ticks = load(e.owner_start_ticks, std::memory_order_relaxed);
  if (!process_alive(pid, ticks)) return Owner::gone;
  // An owner always records its start time; without one the pid alone proves nothing, so only
  // a beating owner counts as live.
  return ticks != 0 || (age <= 3 * interval && !forged_beat) ? Owner::live : Owner::gone;
}

bool owner_dead(const layout::ConsumerEntry& e, std::int32_t pid, std::uint64_t now, std::uint64_t interval) noexcept {
  if (judge(e, pid, now, interval) != Owner::gone) return false;
  // relaxed: an age, compared with a threshold of whole heartbeat intervals.
  const std::uint64_t beat = load(e.heartbeat_ns, std::memory_order_relaxed);
  return now - std::min(now, beat) >= 3 * interval;
}

std::optional<std::uint32_t> claim(const WriteView& v, std::int32_t pid, std::string_view stream) {
  const std::uint64_t ticks = process_start_ticks(pid);
  const std::uint64_t now = monotonic_ns();
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    std::int32_t expected = 0;
    // SYNC(claim) store side (seq_cst CAS); SYNC(entry_free) acquire side: the last owner's or
    // the reaper's cleared fields are visible.
    if (at(e.owner_pid).compare_exchange_strong(expected, pid, std::memory_order_seq_cst)) {
      reset_fields(e, ticks, now);
      mark_active(e);
      return i;
    }
  }
  // Table full: take over an entry whose owner is not a live process with its recorded start
  // time, at once (a dead consumer, or a pid someone else wrote: 1, -5, a reused pid). The
  // producer reaps these too, but only after 3 silent intervals. Through the kReaping sentinel,
  // as the reaper does: until we publish our pid the entry still carries the old owner's start
  // ticks and stale heartbeat, and the reaper must not judge us by them.
  std::uint32_t changing = 0;
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    std::int32_t owner = at(e.owner_pid).load(std::memory_order_acquire);
    const Owner o = judge(e, owner, now, v.geo.heartbeat_interval_ns);
    if (o == Owner::changing_hands) ++changing;
    if (o != Owner::gone || !seize(e, owner)) continue;
    at(e.active).store(0, std::memory_order_relaxed);
    reset_fields(e, ticks, now);
    // SYNC(claim) store side; also publishes the reset fields (seq_cst includes release).
    at(e.owner_pid).store(pid, std::memory_order_seq_cst);
    mark_active(e);
    return i;
  }
  // Entries changing hands are free again within microseconds, or (stuck: their taker died or
  // someone wrote -1) once the producer's reaper frees them: not final.
  if (changing != 0) return std::nullopt;
  fail(errc::too_many_consumers, stream,
       "all " + std::to_string(v.geo.max_consumers) +
           " consumer entries are taken by live consumers; stop one, or restart the producer with a larger "
           "--max-consumers");
}

void release(const WriteView& v, std::uint32_t entry, std::int32_t pid) noexcept {
  auto& e = v.consumer(entry);
  // Through the sentinel: if the producer reclaimed the entry meanwhile (we looked dead) and
  // someone else owns it now, we must not clear their fields.
  if (seize(e, pid)) free_entry(e);
}

bool beat(layout::ConsumerEntry& me, std::int32_t pid, std::uint64_t now) noexcept {
  // relaxed: ownership is re-checked on every wait; a reaped entry is noticed one wait later at worst.
  if (at(me.owner_pid).load(std::memory_order_relaxed) != pid) return false;
  at(me.heartbeat_ns).store(now, std::memory_order_relaxed);
  return true;
}

std::uint32_t reap(const WriteView& v, std::uint64_t now, std::vector<std::uint64_t>& changing_since,
                   const std::function<void(std::uint32_t, std::int32_t)>& reaped) noexcept {
  std::uint32_t count = 0;
  changing_since.resize(v.geo.max_consumers, 0);
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    const std::int32_t pid = at(e.owner_pid).load(std::memory_order_acquire);
    if (pid != layout::kReaping) changing_since[i] = 0;
    if (pid == 0) continue;
    if (pid == layout::kReaping) {
      // Changing hands takes microseconds. Still -1 a whole interval later: its taker died (or
      // stopped) in the middle, or someone wrote -1. Nobody can CAS it from -1 but us now.
      if (changing_since[i] == 0) changing_since[i] = now;
      if (now - changing_since[i] < v.geo.heartbeat_interval_ns) continue;
      changing_since[i] = 0;
    } else {
      if (!owner_dead(e, pid, now, v.geo.heartbeat_interval_ns)) continue;
      // Seize the entry with the sentinel before touching it, so a consumer that takes it over
      // meanwhile cannot have its fresh fields wiped.
      if (!seize(e, pid)) continue;
    }
    free_entry(e);
    // relaxed: a statistics counter, counted before anyone is told.
    at(v.header().consumers_reaped).fetch_add(1, std::memory_order_relaxed);
    ++count;
    if (reaped) reaped(i, pid);
  }
  return count;
}

std::vector<ConsumerInfo> snapshot(const ReadView& v) {
  std::vector<ConsumerInfo> out;
  // relaxed everywhere: a statistics snapshot, consistent per field only.
  const std::uint64_t last = load(v.header().last_committed_seq, std::memory_order_relaxed);
  const std::uint64_t now = monotonic_ns();
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    const auto& e = v.consumer(i);
    const std::int32_t pid = load(e.owner_pid, std::memory_order_relaxed);
    if (pid <= 0) continue;
    ConsumerInfo c;
    c.entry = i;
    c.pid = pid;
    c.last_seq = load(e.last_seq, std::memory_order_relaxed);
    c.lag = last > c.last_seq ? last - c.last_seq : 0;
    c.frames = load(e.frames, std::memory_order_relaxed);
    c.drops = load(e.drops, std::memory_order_relaxed);
    c.overruns = load(e.overruns, std::memory_order_relaxed);
    const std::uint64_t beat = load(e.heartbeat_ns, std::memory_order_relaxed);
    c.heartbeat_age_ns = now > beat ? now - beat : 0;
    const std::uint64_t held = load(e.held, std::memory_order_relaxed);
    const std::uint64_t valid = v.geo.slot_count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << v.geo.slot_count) - 1;
    c.held_slots = static_cast<std::uint32_t>(std::popcount(held & valid));
    c.pinned_slots = static_cast<std::uint32_t>(std::popcount(load(e.pinned, std::memory_order_relaxed) & valid));
    switch (load(e.delivery, std::memory_order_relaxed)) {
      case static_cast<std::uint32_t>(layout::Delivery::lossless): c.delivery = ConsumerDelivery::lossless; break;
      case static_cast<std::uint32_t>(layout::Delivery::demoted): c.delivery = ConsumerDelivery::demoted; break;
      default: c.delivery = ConsumerDelivery::lossy; break;
    }
    c.demotions = load(e.demotions, std::memory_order_relaxed);
    switch (load(e.wait_policy, std::memory_order_relaxed)) {
      case static_cast<std::uint32_t>(layout::WaitPolicyCode::block): c.wait_policy = WaitPolicy::block; break;
      case static_cast<std::uint32_t>(layout::WaitPolicyCode::predictive):
        c.wait_policy = WaitPolicy::predictive;
        break;
      case static_cast<std::uint32_t>(layout::WaitPolicyCode::spin): c.wait_policy = WaitPolicy::spin; break;
      default: c.wait_policy.reset(); break;
    }
    c.wake_latency_ns = load(e.wake_latency_ns, std::memory_order_relaxed);
    out.push_back(c);
  }
  return out;
}

}  // namespace shmframe::detail::consumer_table
