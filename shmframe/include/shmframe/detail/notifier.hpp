// shmframe/detail/notifier.hpp: wake-ups, the only place that makes futex system calls.
//
// Each consumer entry carries a futex word `wake` that the producer bumps after every commit,
// and a `waiting` flag the consumer raises while it sleeps on it, so the producer makes the
// FUTEX_WAKE system call only for consumers that sleep. Read-only consumers, which cannot write
// a flag, sleep on the header's `reader_wake`, which the producer wakes after every commit. The
// header's state word is a futex too (READY waiters, close and supersede). Waits are relative
// CLOCK_MONOTONIC timeouts: a wall-clock jump cannot stall them. A Windows backend would map the
// same words to named events. Internal; every function may be called from any thread.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <span>

#include "shmframe/detail/interrupt.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe::detail::notifier {

// FUTEX_WAIT on a shared word. Returns 0 when woken, or ETIMEDOUT, EAGAIN (value differed), EINTR;
// with an Interrupt, also ECANCELED once it is raised (at once if it already is): then the wait
// is a futex_waitv on the shared word and the Interrupt's private one. Where futex_waitv is
// missing (Linux < 5.16, qemu-user), a plain FUTEX_WAIT that Interrupt::raise() wakes through the
// shared word (see interrupt.hpp; a raise() in the instant before the sleep waits for the timeout).
int wait_word(const std::uint32_t* word, std::uint32_t expected, std::uint64_t timeout_ns,
              const Interrupt* interrupt = nullptr) noexcept;
// A wait's result that ended because of a signal (EINTR) or Reader::interrupt() (ECANCELED).
inline bool interrupted(int r) noexcept { return r == EINTR || r == ECANCELED; }
// True when this kernel has futex_waitv (interruptible waits without slices).
bool has_futex_waitv() noexcept;
// FUTEX_WAKE every waiter of a shared word.
void wake_word(std::uint32_t* word) noexcept;
// FUTEX_WAKE every waiter of a process-private word (Interrupt::raise(): async-signal-safe).
void wake_private(std::uint32_t* word) noexcept;

// Producer, after committing frame `seq`: bump every claimed entry's wake word, and make the
// system call for those that sleep. Starts at entry seq % max_consumers so that no consumer is
// always woken last. Then bumps and wakes the header's reader_wake (read-only consumers).
void wake_consumers(const WriteView& v, std::uint64_t seq) noexcept;
// Producer, on events that commit nothing (close, supersede, a repair): wakes every entry and
// the read-only consumers.
void wake_all(const WriteView& v) noexcept;

// Where a consumer sleeps: its entry's `wake` word, with the `waiting` and `polling` flags it
// raises there; or, read-only (no entry, a PROT_READ mapping), the header's `reader_wake`, with
// no flags (the producer wakes that word after every commit, whether anyone sleeps or not).
struct WakeWord {
  const std::uint32_t* word = nullptr;
  std::uint32_t* waiting = nullptr;  // nullptr when read-only
  std::uint32_t* polling = nullptr;  // nullptr when read-only
};
WakeWord entry_wake(layout::ConsumerEntry& me) noexcept;
WakeWord reader_wake(const ReadView& v) noexcept;

// One of the things a SyncReader sleeps on at once: an attached member's wake word (wait while it
// equals `ticket`, read before looking for news), or a detached member's inotify fd (readable
// when the stream's name changes). `until`: the member must be looked at again by then.
struct WaitTarget {
  WakeWord wake;  // word null: not a word
  std::uint32_t ticket = 0;
  int fd = -1;
  std::uint64_t until = 0;           // CLOCK_MONOTONIC ns; 0 = no limit of its own
  bool pending = false;              // attached, and a frame newer than the last one taken is committed
  std::shared_ptr<const void> keep;  // the mapping `wake` points into, kept while the target lives
};
// How wait_any() sleeps on several words (for --status): futex_waitv, or one word at a time.
enum class AnyWait { futex_waitv, first_word };
AnyWait any_wait_kind() noexcept;
// Sleeps until a word moves past its ticket, an fd is readable, `interrupt`, or `timeout_ns`
// (further bounded by each target's `until`). With fds among the targets (a member detached), a
// poll() on those fds and the interrupt's eventfd: the words are looked at again at the targets'
// `until` (a heartbeat). Otherwise one futex_waitv on every word and the interrupt's private word;
// where futex_waitv is missing, a wait on the first target's word only (put first the member the
// caller needs most: the others are looked at after it commits, or at the timeout). Returns 0
// (something may have changed), ETIMEDOUT, EINTR or ECANCELED (interrupt raised).
int wait_any(std::span<const WaitTarget> targets, const Interrupt* interrupt, std::uint64_t timeout_ns) noexcept;

// Consumer: the wake word's value; read it before checking for news, then pass it to
// wait_for_commit() so that a commit in between ends the wait at once.
std::uint32_t ticket(const WakeWord& w) noexcept;
// Consumer: sleeps until the producer bumps the word past `ticket`, the timeout, or `interrupt`.
// Returns 0, ETIMEDOUT, EAGAIN, EINTR or ECANCELED like wait_word().
int wait_for_commit(const WakeWord& w, std::uint32_t ticket, std::uint64_t timeout_ns,
                    const Interrupt* interrupt = nullptr) noexcept;

// Consumer, polling instead of sleeping (wait policies spin and predictive): watches the word
// with a CPU pause until it moves past `ticket` (true) or `until_ns` passes (false). Raises the
// entry's `polling` flag meanwhile (not read-only: nobody counts those pollers); `waiting`
// stays 0, so the producer makes no system call for it. Stops (false) when `interrupt` is raised.
bool poll_for_commit(const WakeWord& w, std::uint32_t ticket, std::uint64_t until_ns,
                     const Interrupt* interrupt = nullptr) noexcept;
// poll_for_commit() on several words at once (a SyncReader's members, as wait_any() takes them):
// true as soon as one moved past its ticket, false at `until_ns` or on `interrupt`. Targets
// without a word are not watched.
bool poll_any(std::span<const WaitTarget> targets, std::uint64_t until_ns,
              const Interrupt* interrupt = nullptr) noexcept;
// The segment's live consumers (claimed entries; read-only ones are not counted: they have none)
// and those of them polling right now (their `polling` flag).
struct Activity {
  std::uint32_t consumers = 0;
  std::uint32_t pollers = 0;
};
Activity activity(const ReadView& v) noexcept;

// Lossless back-pressure, the producer's side: the header's producer_wake word, bumped by
// lossless consumers when they take a frame or free a slot while the producer waits.
// producer_wait_begin() returns the ticket and raises producer_waiting (check for progress
// after it); producer_wait() sleeps until a bump or the timeout; producer_wait_end() lowers the flag.
std::uint32_t producer_wait_begin(const WriteView& v) noexcept;
int producer_wait(const WriteView& v, std::uint32_t ticket, std::uint64_t timeout_ns) noexcept;
void producer_wait_end(const WriteView& v) noexcept;
// Consumer, after it took a frame or released a slot (stores that are seq_cst): wakes the
// producer if it waits.
void wake_producer(const WriteView& v) noexcept;

}  // namespace shmframe::detail::notifier
