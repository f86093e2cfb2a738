#include "shmframe/detail/os.hpp"

#include "shmframe/clock.hpp"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace shmframe::detail {

namespace {
std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

std::uint64_t monotonic_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
std::uint64_t realtime_ns() noexcept { return clock_ns(CLOCK_REALTIME); }

int futex_wait(std::uint32_t* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000ull);
  // FUTEX_WAIT's relative timeout is measured on CLOCK_MONOTONIC: wall-clock jumps cannot stall it.
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
  return r == 0 ? 0 : errno;
}

void futex_wake_all(std::uint32_t* word) noexcept { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }

std::uint64_t process_start_ticks(pid_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Field 2 (comm) may contain spaces and parentheses: parse from the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  // After ") " come fields 3..; starttime is field 22, i.e. the 20th after comm.
  int field = 2;
  for (++p; *p != '\0'; ++p) {
    if (*p == ' ') {
      ++field;
      if (field == 22) return std::strtoull(p + 1, nullptr, 10);
    }
  }
  return 0;
}

bool process_alive(pid_t pid, std::uint64_t start_ticks) noexcept {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  if (start_ticks != 0) {
    std::uint64_t now = process_start_ticks(pid);
    if (now != 0 && now != start_ticks) return false;  // pid was reused by another process
  }
  return true;
}

std::string errno_text(int err) { return std::strerror(err); }

std::string segment_object(std::string_view stream) { return "/shmframe." + std::string(stream); }
std::string lock_object(std::string_view stream) { return "/shmframe-lock." + std::string(stream); }
std::string object_path(std::string_view object) { return std::string(kShmDir) + std::string(object); }

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}
UniqueFd::~UniqueFd() { reset(); }
void UniqueFd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace shmframe::detail

namespace shmframe {
std::uint64_t monotonic_ns() noexcept { return detail::monotonic_ns(); }
}  // namespace shmframe
