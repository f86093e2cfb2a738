// shmframe/detail/os.hpp: thin, non-throwing wrappers over the Linux calls the protocol uses
// (clocks, process liveness, shm object names, file descriptors). Futex calls live in
// notifier.hpp, nowhere else. Internal; thread-safe (no state).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace shmframe::detail {

// Shared-memory fields are plain integers accessed through atomic_ref; this is the one
// spelling used everywhere so that every access site is greppable.
template <class T>
inline std::atomic_ref<T> at(T& field) noexcept {
  static_assert(std::atomic_ref<T>::required_alignment <= alignof(T));
  return std::atomic_ref<T>(field);
}
// Atomic load of a field seen through a read-only view (the mapping may be PROT_READ; a load
// never writes). atomic_ref<const T> is not C++20, hence the cast; the object is not const.
template <class T>
inline T load(const T& field, std::memory_order order) noexcept {
  return at(const_cast<T&>(field)).load(order);
}

std::uint64_t monotonic_ns() noexcept;  // CLOCK_MONOTONIC, the clock of every timestamp in a segment
std::uint64_t realtime_ns() noexcept;
std::uint64_t boottime_ns() noexcept;  // CLOCK_BOOTTIME: counts suspend too; never goes back within a boot

// Start time of a process in clock ticks since boot (/proc/PID/stat field 22); 0 if unknown.
std::uint64_t process_start_ticks(pid_t pid) noexcept;
// False only when the process certainly does not exist (kill(pid, 0) says ESRCH), is a zombie
// (dead, not yet reaped by its parent), or a different process now has its pid (start time
// differs). EPERM counts as alive.
bool process_alive(pid_t pid, std::uint64_t start_ticks) noexcept;

// Names: stream "cam0" lives in the POSIX shm object "/shmframe.cam0" (Linux:
// /dev/shm/shmframe.cam0); its producer lock is "/shmframe-lock.cam0".
inline constexpr std::string_view kShmDir = "/dev/shm";
std::string segment_object(std::string_view stream);
std::string lock_object(std::string_view stream);
std::string object_path(std::string_view object);  // "/dev/shm" + object
// True when the shm object name currently refers to the inode (dev, ino): "is the name still ours".
bool name_refers_to(std::string_view object, dev_t dev, ino_t ino) noexcept;
// True when the name exists and refers to another inode: a new generation is there.
bool name_moved_on(std::string_view object, dev_t dev, ino_t ino) noexcept;

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace shmframe::detail
