// shmframe/detail/watcher.hpp: waiting for a stream's name to change in /dev/shm.
//
// A consumer started before its producer, or between generations, sleeps on inotify events for
// its segment's name (created, removed, resized, chmod'ed), so it attaches within microseconds
// of creation without polling. Without inotify it degrades to a bounded 50 ms poll, and says so
// once through the log. Internal; one thread at a time per Watcher.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "shmframe/detail/interrupt.hpp"
#include "shmframe/detail/os.hpp"

namespace shmframe::detail {

class Watcher {
 public:
  // Watches /dev/shm for `object` (e.g. "/shmframe.cam0"). `warn` hears a degraded mode.
  // `interrupt` (may be null; outlives the Watcher) ends waits when raised.
  Watcher(std::string object, const std::function<void(const std::string&)>& warn,
          const Interrupt* interrupt = nullptr);
  // Blocks until something happens to the name, the deadline (CLOCK_MONOTONIC ns), or the
  // interrupt. Returns 0 (something may have changed), ETIMEDOUT, EINTR or ECANCELED.
  int wait_for_change(std::uint64_t deadline) noexcept;
  // The inotify fd (readable on a change to the name), -1 without one.
  int fd() const noexcept { return fd_ ? fd_.get() : -1; }

 private:
  // Reads every pending event; true if one concerned our name (or events were lost).
  bool drain_events() noexcept;

  std::string object_;
  UniqueFd fd_;
  const Interrupt* interrupt_;
};

}  // namespace shmframe::detail
