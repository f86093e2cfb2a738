// shmframe/detail/interrupt.hpp: a latch that ends a Reader's waits from any thread.
//
// raise() sets a sticky flag, bumps a private futex word and writes an eventfd; every wait of
// the Reader watches both (notifier::wait_word() waits on the shared word and the private one
// at once with futex_waitv; the detached inotify wait polls the eventfd beside inotify's), so a
// raise() ends a wait in progress at once, and every later wait returns at once until clear().
// raise() writes nothing in shared memory: it cannot race with an unmap. Where futex_waitv is
// missing (Linux < 5.16, qemu-user), a wait records the shared word it sleeps on and raise()
// also FUTEX_WAKEs that word: a system call on an address, never a store through it (an address
// unmapped meanwhile gives EFAULT, a reused one a spurious wake-up, which waiters tolerate).
// Thread contract: raise() from any thread, and from a signal handler (it makes only
// async-signal-safe calls); clear() and the waits from the Reader's own thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "shmframe/detail/os.hpp"

namespace shmframe::detail {

class Interrupt {
 public:
  Interrupt() noexcept;  // without an eventfd (EMFILE...), detached waits end within 50 ms instead
  Interrupt(const Interrupt&) = delete;
  Interrupt& operator=(const Interrupt&) = delete;
  ~Interrupt() = default;

  // Any thread, async-signal-safe.
  void raise() noexcept;
  void clear() noexcept;
  bool raised() const noexcept {
    // SYNC(interrupt) load side, seq_cst, after the ticket load (see notifier::wait_word()).
    return flag_.load(std::memory_order_seq_cst);
  }
  // The private word's value: read before raised(), then wait on it (a raise() in between
  // changes it, and the futex wait returns at once).
  std::uint32_t ticket() const noexcept { return word_.load(std::memory_order_seq_cst); }
  std::uint32_t* word() noexcept { return reinterpret_cast<std::uint32_t*>(&word_); }
  // Readable while raised (for poll()); -1 when no eventfd could be made.
  int fd() const noexcept { return fd_.get(); }
  // Without futex_waitv: the shared word a wait sleeps on, for raise() to wake; null when none.
  // SYNC(interrupt) store side, seq_cst: set before the flag is loaded (notifier::wait_word()).
  void sleeping_on(const std::uint32_t* word) noexcept { shared_.store(word, std::memory_order_seq_cst); }

 private:
  std::atomic<bool> flag_{false};
  std::atomic<std::uint32_t> word_{0};
  std::atomic<const std::uint32_t*> shared_{nullptr};
  UniqueFd fd_;
  static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
                "raise() must be async-signal-safe");
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "the futex word is 32 bits");
};

}  // namespace shmframe::detail
