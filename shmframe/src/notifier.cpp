// Wake-ups: the futex words of the consumer entries and of the header's state.
#include "shmframe/detail/notifier.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

#include "shmframe/detail/consumer_table.hpp"
#include "shmframe/detail/os.hpp"

namespace shmframe::detail::notifier {

int wait_word(std::uint32_t* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000ull);
  // Shared (not FUTEX_PRIVATE): the word is in a MAP_SHARED mapping. The relative timeout runs
  // on CLOCK_MONOTONIC.
  const long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
  return r == 0 ? 0 : errno;
}

void wake_word(std::uint32_t* word) noexcept { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }

namespace {
void bump_and_wake(layout::ConsumerEntry& e) noexcept {
  // SYNC(wake) producer side, a store->load (Dekker) pair with wait_for_commit(): we bump `wake`
  // then load `waiting`; the consumer stores `waiting` then FUTEX_WAITs on `wake` (the kernel
  // compares the word under its lock). Either we see waiting = 1 and wake it, or its FUTEX_WAIT
  // sees the new wake value and returns at once. Both seq_cst, so neither load can pass the
  // other side's store.
  at(e.wake).fetch_add(1, std::memory_order_seq_cst);
  if (at(e.waiting).load(std::memory_order_seq_cst) != 0) wake_word(&e.wake);
}

// Bumps a futex word and wakes every sleeper, whether anyone sleeps or not.
void bump_and_wake_always(std::uint32_t& word) noexcept {
  at(word).fetch_add(1, std::memory_order_seq_cst);
  wake_word(&word);
}

void wake_readers(const WriteView& v) noexcept {
  // Read-only consumers cannot raise a flag: bump and wake unconditionally (one system call per
  // commit, ~0.4 us here). SYNC(reader_wake) producer store side: the bump is seq_cst, after the
  // commit's stores; a reader that read the old value as its ticket before checking for news
  // either sees the commit or finds the word changed when the kernel compares it.
  bump_and_wake_always(v.header().reader_wake);
}
}  // namespace

void wake_consumers(const WriteView& v, std::uint64_t seq) noexcept {
  const std::uint32_t n = v.geo.max_consumers;
  const auto first = static_cast<std::uint32_t>(seq % n);
  for (std::uint32_t k = 0; k < n; ++k) {
    auto& e = v.consumer((first + k) % n);
    if (!consumer_table::claimed(e)) continue;
    bump_and_wake(e);
  }
  wake_readers(v);
}

void wake_all(const WriteView& v) noexcept {
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) bump_and_wake_always(v.consumer(i).wake);
  wake_readers(v);
}

WakeWord entry_wake(layout::ConsumerEntry& me) noexcept { return {&me.wake, &me.waiting, &me.polling}; }

WakeWord reader_wake(const ReadView& v) noexcept { return {&v.header().reader_wake, nullptr, nullptr}; }

std::uint32_t ticket(const WakeWord& w) noexcept {
  // acquire: read before the consumer checks for news, so that a commit after this point changes
  // the word and the FUTEX_WAIT in wait_for_commit() returns at once.
  // SYNC(reader_wake) acquire load, read-only consumers' side: pairs with wake_readers().
  return load(*w.word, std::memory_order_acquire);
}

int wait_for_commit(const WakeWord& w, std::uint32_t ticket, std::uint64_t timeout_ns) noexcept {
  // The kernel compares the word under its own lock and never writes it: FUTEX_WAIT works on a
  // read-only mapping.
  auto* word = const_cast<std::uint32_t*>(w.word);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  if (w.waiting == nullptr) return wait_word(word, ticket, timeout_ns);
  // SYNC(wake) consumer side: pairs with bump_and_wake() (see there).
  at(*w.waiting).store(1, std::memory_order_seq_cst);
  const int r = wait_word(word, ticket, timeout_ns);
  // relaxed: a stale 1 costs the producer one spurious FUTEX_WAKE, nothing else.
  at(*w.waiting).store(0, std::memory_order_relaxed);
  return r;
}

namespace {
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}
}  // namespace

bool poll_for_commit(const WakeWord& w, std::uint32_t ticket, std::uint64_t until_ns) noexcept {
  // relaxed: an advisory count for other pollers (pollers()).
  if (w.polling != nullptr) at(*w.polling).store(1, std::memory_order_relaxed);
  bool moved = false;
  for (std::uint32_t n = 0;; ++n) {
    // acquire: like ticket(); a new value means a commit we must look at.
    if (load(*w.word, std::memory_order_acquire) != ticket) {
      moved = true;
      break;
    }
    cpu_relax();
    if ((n & 63u) == 63u && monotonic_ns() >= until_ns) break;  // the clock every 64 pauses (~2-8 us)
  }
  if (w.polling != nullptr) at(*w.polling).store(0, std::memory_order_relaxed);
  return moved;
}

std::uint32_t pollers(const ReadView& v) noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    const auto& e = v.consumer(i);
    // relaxed: advisory (a consumer deciding whether to poll or to sleep).
    if (load(e.polling, std::memory_order_relaxed) != 0 && load(e.owner_pid, std::memory_order_relaxed) > 0) ++n;
  }
  return n;
}

std::uint32_t producer_wait_begin(const WriteView& v) noexcept {
  auto& h = v.header();
  // acquire: read before the producer checks for progress, like ticket().
  const std::uint32_t t = at(h.producer_wake).load(std::memory_order_acquire);
  // SYNC(lossless) producer store side: seq_cst, before the seq_cst loads in owed_slots() and
  // the hold scan; pairs with wake_producer().
  at(h.producer_waiting).store(1, std::memory_order_seq_cst);
  return t;
}

int producer_wait(const WriteView& v, std::uint32_t ticket, std::uint64_t timeout_ns) noexcept {
  return wait_word(&v.header().producer_wake, ticket, timeout_ns);
}

void producer_wait_end(const WriteView& v) noexcept {
  // relaxed: a stale 1 costs a consumer one spurious FUTEX_WAKE.
  at(v.header().producer_waiting).store(0, std::memory_order_relaxed);
}

void wake_producer(const WriteView& v) noexcept {
  auto& h = v.header();
  // SYNC(lossless) consumer side: our progress (last_seq, or a cleared hold) was stored seq_cst
  // before this seq_cst load; either the producer sees it, or we see it waiting and wake it.
  if (at(h.producer_waiting).load(std::memory_order_seq_cst) == 0) return;
  at(h.producer_wake).fetch_add(1, std::memory_order_seq_cst);
  wake_word(&h.producer_wake);
}

}  // namespace shmframe::detail::notifier
