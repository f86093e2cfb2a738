// shmframe/detail/os.hpp: thin, non-throwing wrappers over the Linux calls the protocol uses
// (futex, clocks, process liveness, shm object names). Internal; thread-safe (no state).
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

std::uint64_t monotonic_ns() noexcept;  // CLOCK_MONOTONIC, the clock of every timestamp in a segment
std::uint64_t realtime_ns() noexcept;

// FUTEX_WAIT (shared, not private: the word is in a MAP_SHARED mapping) with a relative
// CLOCK_MONOTONIC timeout. Returns 0 when woken, or ETIMEDOUT, EAGAIN (value differed), EINTR.
int futex_wait(std::uint32_t* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept;
void futex_wake_all(std::uint32_t* word) noexcept;

// Start time of a process in clock ticks since boot (/proc/PID/stat field 22); 0 if unknown.
std::uint64_t process_start_ticks(pid_t pid) noexcept;
// False only when the process certainly does not exist (kill(pid, 0) says ESRCH) or a
// different process now has its pid (start time differs). EPERM counts as alive.
bool process_alive(pid_t pid, std::uint64_t start_ticks) noexcept;

std::string errno_text(int err);

// Names: stream "cam0" lives in the POSIX shm object "/shmframe.cam0" (Linux:
// /dev/shm/shmframe.cam0); its producer lock is "/shmframe-lock.cam0".
inline constexpr std::string_view kShmDir = "/dev/shm";
std::string segment_object(std::string_view stream);
std::string lock_object(std::string_view stream);
std::string object_path(std::string_view object);  // "/dev/shm" + object

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
