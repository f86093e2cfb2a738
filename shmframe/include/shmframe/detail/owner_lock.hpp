// shmframe/detail/owner_lock.hpp: who produces a stream name.
//
// A producer holds flock(LOCK_EX) on /shmframe-lock.NAME for its lifetime. The kernel drops the
// lock however the producer dies, and only one successor can take it, so takeover is race-free
// and needs no stale-owner timeout. The lock object stores a layout::LockRecord: the owner's pid
// (for error messages) and the newest generation created under the name (so generations keep
// increasing even when the old segment is unreadable). Internal; one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shmframe/detail/os.hpp"

namespace shmframe::detail {

// The producer recorded in the name's lock object (the one that holds it, or held it last): its
// pid and start time (0 if a version 4 producer wrote the record); pid 0 if there is none or it
// cannot be read (another user's lock is 0600).
struct LockOwner {
  std::int32_t pid = 0;
  std::uint64_t start_ticks = 0;
};
LockOwner lock_owner(std::string_view stream) noexcept;

// Who holds the name's lock right now, as the kernel says (/proc/locks: no other process can
// forge it): the holder's pid as seen from here; 0 when there is no lock object (nobody holds
// it); kHiddenHolder when the kernel lists a holder without a pid; nullopt when no holder is
// listed (nobody holds it, or a process of another pid namespace, which /proc/locks hides) or
// /proc/locks is unreadable.
inline constexpr std::int32_t kHiddenHolder = -1;
std::optional<std::int32_t> lock_holder(std::string_view stream) noexcept;

// Is the producer (pid, start time: from a validated header snapshot) alive and the name's owner?
// Judged only from what no writer of the segment can forge: the process table and the lock's
// holder. unknown when neither says (another pid namespace, /proc/locks unreadable).
enum class Liveness { alive, gone, unknown };
Liveness producer_liveness(std::string_view stream, std::int32_t pid, std::uint64_t start_ticks) noexcept;

// Does a live process hold the name's lock (so a producer owns the name, whatever its segment's
// header says)? For a joiner, which has no header it can trust yet.
Liveness name_owner_liveness(std::string_view stream) noexcept;

class OwnerLock {
 public:
  OwnerLock() = default;
  // Takes the lock of `stream`. Throws Error(already_owned) naming the owner's pid, or
  // Error(permission_denied | system_error).
  OwnerLock(std::string_view stream, mode_t mode);
  OwnerLock(OwnerLock&&) noexcept = default;
  OwnerLock& operator=(OwnerLock&&) noexcept = default;
  ~OwnerLock();  // unlock_and_remove()

  // The generation recorded by the previous owners (0 if none).
  std::uint64_t last_generation() const noexcept;
  // Records a new generation; false (errno set) if the lock object could not be written.
  bool record(std::uint64_t generation) noexcept;
  // Removes the lock object (while still holding it, and only if the name still refers to it),
  // then unlocks. Idempotent.
  void unlock_and_remove() noexcept;

 private:
  std::string stream_;
  UniqueFd fd_;
};

}  // namespace shmframe::detail
