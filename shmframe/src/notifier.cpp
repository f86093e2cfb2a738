// Wake-ups: the futex words of the consumer entries and of the header's state.
#include "shmframe/detail/notifier.hpp"

#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "shmframe/detail/consumer_table.hpp"
#include "shmframe/detail/os.hpp"

namespace shmframe::detail::notifier {

namespace {
timespec to_timespec(std::uint64_t ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000ull);
  return ts;
}

int futex_wait(const std::uint32_t* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept {
  timespec ts = to_timespec(timeout_ns);
  // Shared (not FUTEX_PRIVATE): the word is in a MAP_SHARED mapping. The relative timeout runs
  // on CLOCK_MONOTONIC. The kernel only reads the word: a PROT_READ mapping is fine.
  const long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
  return r == 0 ? 0 : errno;
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // the same number on every architecture (Linux 5.16)
#endif
// The kernel's struct futex_waitv and its flags (linux/futex.h of 5.16; Debian 12's headers have them,
// spelled out here so that older headers build too).
struct WaitvEntry {
  std::uint64_t val;
  std::uint64_t uaddr;
  std::uint32_t flags;
  std::uint32_t reserved;
};
static_assert(sizeof(WaitvEntry) == 24);
constexpr std::uint32_t kFutex2Size32 = 0x02;
constexpr std::uint32_t kFutex2Private = 128;

// -1 unknown, 0 missing, 1 present. Written once by whichever thread learns it first.
std::atomic<int> g_waitv{-1};

// futex_waitv on the shared `word` and the Interrupt's private word: returns 0 when either was
// woken, or ETIMEDOUT, EAGAIN (either value differed), EINTR, ENOSYS.
int futex_waitv2(const std::uint32_t* word, std::uint32_t expected, const std::uint32_t* own,
                 std::uint32_t own_expected, std::uint64_t timeout_ns) noexcept {
  WaitvEntry w[2] = {
      {expected, reinterpret_cast<std::uintptr_t>(word), kFutex2Size32, 0},
      {own_expected, reinterpret_cast<std::uintptr_t>(own), kFutex2Size32 | kFutex2Private, 0},
  };
  // futex_waitv takes an absolute timeout on the clock it is told (CLOCK_MONOTONIC).
  const std::uint64_t until = monotonic_ns() + timeout_ns;
  timespec ts = to_timespec(until);
  const long r = syscall(SYS_futex_waitv, w, 2u, 0u, &ts, CLOCK_MONOTONIC);
  return r >= 0 ? 0 : errno;
}
}  // namespace

bool has_futex_waitv() noexcept {
  int known = g_waitv.load(std::memory_order_relaxed);  // relaxed: an idempotent cache
  if (known < 0) {
    // A zero-length wait says whether the call exists (EINVAL) or not (ENOSYS).
    // SHMFRAME_FUTEX_WAITV=0 takes the fallbacks where it exists (benchmarks, tests).
    const char* env = std::getenv("SHMFRAME_FUTEX_WAITV");
    const long r = syscall(SYS_futex_waitv, nullptr, 0u, 0u, nullptr, CLOCK_MONOTONIC);
    known = (r < 0 && errno == ENOSYS) || (env != nullptr && std::strcmp(env, "0") == 0) ? 0 : 1;
    g_waitv.store(known, std::memory_order_relaxed);
  }
  return known == 1;
}

int wait_word(const std::uint32_t* word, std::uint32_t expected, std::uint64_t timeout_ns,
              const Interrupt* interrupt) noexcept {
  if (interrupt == nullptr) return futex_wait(word, expected, timeout_ns);
  // SYNC(interrupt) load side, the ticket loaded before the flag (both seq_cst). Pairs with
  // Interrupt::raise(), which stores the flag before it bumps the word.
  const std::uint32_t own = interrupt->ticket();
  if (interrupt->raised()) return ECANCELED;
  auto* intr = const_cast<Interrupt*>(interrupt);  // NOLINT(cppcoreguidelines-pro-type-const-cast): its atomics
  int r = 0;
  if (has_futex_waitv()) {
    r = futex_waitv2(word, expected, intr->word(), own, timeout_ns);
    if (r == ENOSYS) g_waitv.store(0, std::memory_order_relaxed);  // relaxed: see g_waitv
  } else {
    // raise() wakes the word we sleep on. Recorded before the flag is loaded (both seq_cst): it
    // sees the record, or we see the flag. A raise() between that load and the kernel's sleep is
    // lost until the timeout (the Reader's waits last at most one heartbeat interval).
    intr->sleeping_on(word);
    if (interrupt->raised()) {
      intr->sleeping_on(nullptr);
      return ECANCELED;
    }
    r = futex_wait(word, expected, timeout_ns);
    intr->sleeping_on(nullptr);
  }
  // Woken, or a word changed: which one does not matter, the flag says whether we were asked to stop.
  if (r != ETIMEDOUT && interrupt->raised()) return ECANCELED;
  return r;
}

void wake_word(std::uint32_t* word) noexcept { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }

void wake_private(std::uint32_t* word) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, nullptr, nullptr, 0);
}

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
  // The wake order rotates among the claimed entries, frame by frame, so that no consumer is always
  // woken last (on few CPUs the last one waits for the others to run). Rotating over the table
  // instead (starting at entry seq % max_consumers) woke entry 0 first in 31 frames of 32 with two
  // consumers in a 32-entry table.
  const std::uint32_t n = std::min(v.geo.max_consumers, layout::kMaxConsumers);
  std::uint32_t count = 0;
  for (std::uint32_t i = 0; i < n; ++i) count += consumer_table::claimed(v.consumer(i)) ? 1 : 0;
  if (count != 0) {
    const auto skip = static_cast<std::uint32_t>(seq % count);
    // First the claimed entries from the skip-th on, then every claimed entry not woken yet: an
    // entry claimed meanwhile is woken in the second pass whatever its place (SYNC(claim)), and
    // none twice.
    std::uint64_t woken[layout::kMaxConsumers / 64] = {};
    std::uint32_t k = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      auto& e = v.consumer(i);
      if (!consumer_table::claimed(e)) continue;
      if (k++ < skip) continue;
      bump_and_wake(e);
      woken[i / 64] |= std::uint64_t{1} << (i % 64);
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      if ((woken[i / 64] >> (i % 64) & 1u) != 0) continue;
      auto& e = v.consumer(i);
      if (consumer_table::claimed(e)) bump_and_wake(e);
    }
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

AnyWait any_wait_kind() noexcept { return has_futex_waitv() ? AnyWait::futex_waitv : AnyWait::first_word; }

namespace {
// wait_any() with a member detached: no set can be made until it attaches, which its inotify fd says.
int poll_fds(std::span<const WaitTarget> targets, const Interrupt* interrupt, std::uint64_t left) noexcept {
  constexpr std::size_t kMax = 16;
  pollfd p[kMax + 1] = {};
  nfds_t n = 0;
  for (const WaitTarget& t : targets) {
    if (t.wake.word == nullptr && n < kMax) p[n++] = {t.fd, POLLIN, 0};  // poll() skips fd -1
  }
  p[n++] = {interrupt != nullptr ? interrupt->fd() : -1, POLLIN, 0};
  const int r = ::poll(p, n, static_cast<int>(std::min<std::uint64_t>((left + 999'999) / 1'000'000, 60'000)));
  if (r < 0) return errno == EINTR ? EINTR : 0;
  return r == 0 ? ETIMEDOUT : 0;
}

// wait_any() on words only: one futex_waitv on all of them and the interrupt's private word.
int waitv_words(std::span<const WaitTarget> targets, const Interrupt* interrupt, std::uint32_t own,
                std::uint64_t until) noexcept {
  constexpr std::size_t kMax = 16;
  WaitvEntry w[kMax + 1] = {};
  std::uint32_t n = 0;
  for (const WaitTarget& t : targets.first(std::min(targets.size(), kMax))) {
    w[n++] = {t.ticket, reinterpret_cast<std::uintptr_t>(t.wake.word), kFutex2Size32, 0};
  }
  if (interrupt != nullptr) {
    auto* intr = const_cast<Interrupt*>(interrupt);  // NOLINT(cppcoreguidelines-pro-type-const-cast): its atomics
    w[n++] = {own, reinterpret_cast<std::uintptr_t>(intr->word()), kFutex2Size32 | kFutex2Private, 0};
  }
  timespec ts = to_timespec(until);
  const long rv = syscall(SYS_futex_waitv, w, n, 0u, &ts, CLOCK_MONOTONIC);
  const int r = rv >= 0 ? 0 : errno;
  if (r == ENOSYS) g_waitv.store(0, std::memory_order_relaxed);  // relaxed: see g_waitv
  return r;
}

// SYNC(wake) consumer side, for every entry word at once: flags raised before the sleep, as
// wait_for_commit() does for one (pairs with bump_and_wake()); lowered after it.
void raise_waiting(std::span<const WaitTarget> targets, bool up) noexcept {
  for (const WaitTarget& t : targets) {
    if (t.wake.waiting == nullptr) continue;
    // relaxed when lowering: a stale 1 costs the producer one spurious FUTEX_WAKE, nothing else.
    at(*t.wake.waiting).store(up ? 1u : 0u, up ? std::memory_order_seq_cst : std::memory_order_relaxed);
  }
}
}  // namespace

int wait_any(std::span<const WaitTarget> targets, const Interrupt* interrupt, std::uint64_t timeout_ns) noexcept {
  const std::uint64_t now = monotonic_ns();
  std::uint64_t until = now + timeout_ns;
  bool fds = targets.empty();
  for (const WaitTarget& t : targets) {
    if (t.until != 0) until = std::min(until, t.until);
    fds = fds || t.wake.word == nullptr;
  }
  if (until <= now) return ETIMEDOUT;
  // SYNC(interrupt) load side, as in wait_word(): the ticket before the flag.
  const std::uint32_t own = interrupt != nullptr ? interrupt->ticket() : 0;
  if (interrupt != nullptr && interrupt->raised()) return ECANCELED;
  int r = 0;
  if (fds) {
    r = poll_fds(targets, interrupt, until - now);
  } else {
    raise_waiting(targets, true);
    r = has_futex_waitv() ? waitv_words(targets, interrupt, own, until)
                          : wait_word(targets[0].wake.word, targets[0].ticket, until - now, interrupt);
    raise_waiting(targets, false);
  }
  if (r == EAGAIN) r = 0;  // a word had moved already: look again
  if (r != ETIMEDOUT && interrupt != nullptr && interrupt->raised()) return ECANCELED;
  return r;
}

int wait_for_commit(const WakeWord& w, std::uint32_t ticket, std::uint64_t timeout_ns,
                    const Interrupt* interrupt) noexcept {
  // The kernel compares the word under its own lock and never writes it: FUTEX_WAIT works on a
  // read-only mapping.
  if (w.waiting == nullptr) return wait_word(w.word, ticket, timeout_ns, interrupt);
  // SYNC(wake) consumer side: pairs with bump_and_wake() (see there).
  at(*w.waiting).store(1, std::memory_order_seq_cst);
  const int r = wait_word(w.word, ticket, timeout_ns, interrupt);
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

namespace {
// The polling loop of poll_for_commit() and poll_any(): `moved()` until it says so, `until_ns`
// or `interrupt`.
template <class Moved>
bool poll_until(Moved moved, std::uint64_t until_ns, const Interrupt* interrupt) noexcept {
  for (std::uint32_t n = 0;; ++n) {
    if (moved()) return true;
    cpu_relax();
    if ((n & 63u) == 63u && (monotonic_ns() >= until_ns || (interrupt != nullptr && interrupt->raised())))
      return false;  // the clock every 64 pauses (~2-8 us)
  }
}
// acquire: like ticket(); a new value means a commit we must look at.
bool word_moved(const std::uint32_t* word, std::uint32_t ticket) noexcept {
  return load(*word, std::memory_order_acquire) != ticket;
}
// relaxed: an advisory count for other pollers (activity()).
void set_polling(std::uint32_t* flag, std::uint32_t v) noexcept {
  if (flag != nullptr) at(*flag).store(v, std::memory_order_relaxed);
}
}  // namespace

bool poll_for_commit(const WakeWord& w, std::uint32_t ticket, std::uint64_t until_ns,
                     const Interrupt* interrupt) noexcept {
  set_polling(w.polling, 1);
  const bool moved = poll_until([&] { return word_moved(w.word, ticket); }, until_ns, interrupt);
  set_polling(w.polling, 0);
  return moved;
}

bool poll_any(std::span<const WaitTarget> targets, std::uint64_t until_ns, const Interrupt* interrupt) noexcept {
  for (const WaitTarget& t : targets) set_polling(t.wake.polling, 1);
  const bool moved = poll_until(
      [&] {
        return std::ranges::any_of(
            targets, [](const WaitTarget& t) { return t.wake.word != nullptr && word_moved(t.wake.word, t.ticket); });
      },
      until_ns, interrupt);
  for (const WaitTarget& t : targets) set_polling(t.wake.polling, 0);
  return moved;
}

Activity activity(const ReadView& v) noexcept {
  Activity a;
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    const auto& e = v.consumer(i);
    // relaxed: advisory (a consumer deciding whether to poll or to sleep).
    if (load(e.owner_pid, std::memory_order_relaxed) <= 0) continue;
    ++a.consumers;
    if (load(e.polling, std::memory_order_relaxed) != 0) ++a.pollers;
  }
  return a;
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
