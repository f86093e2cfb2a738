// Interrupt: the latch behind Reader::interrupt(). The futex wake is notifier's.
#include "shmframe/detail/interrupt.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "shmframe/detail/notifier.hpp"

namespace shmframe::detail {

Interrupt::Interrupt() noexcept : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

void Interrupt::raise() noexcept {
  // SYNC(interrupt) store side, the flag stored before the word is bumped (both seq_cst). A
  // waiter that read the old word as its ticket either sees the flag or finds the word changed
  // when the kernel compares it; one that read the new word sees the flag.
  flag_.store(true, std::memory_order_seq_cst);
  word_.fetch_add(1, std::memory_order_seq_cst);
  notifier::wake_private(word());
  // SYNC(interrupt) load side: after the flag store; a waiter that recorded its word before
  // loading the flag is either seen here or sees the flag (without futex_waitv only).
  if (const std::uint32_t* shared = shared_.load(std::memory_order_seq_cst)) {
    notifier::wake_word(const_cast<std::uint32_t*>(shared));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  }
  if (fd_) {
    const std::uint64_t one = 1;
    // A full counter (impossible in practice) is readable anyway: nothing to do on failure.
    [[maybe_unused]] const ssize_t n = ::write(fd_.get(), &one, sizeof one);
  }
}

void Interrupt::clear() noexcept {
  // relaxed: the caller's own thread; a raise() racing with clear() may be lost, as documented
  // (Reader::clear_interrupt()).
  flag_.store(false, std::memory_order_relaxed);
  if (fd_) {
    std::uint64_t v = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd_.get(), &v, sizeof v);  // non-blocking: drains the counter
  }
}

}  // namespace shmframe::detail
