#include "shmframe/detail/os.hpp"

#include "shmframe/clock.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
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
std::uint64_t boottime_ns() noexcept { return clock_ns(CLOCK_BOOTTIME); }

namespace {
struct ProcStat {
  char state = '?';         // field 3: R, S, D, T, Z (zombie), X (dead), ...
  std::uint64_t ticks = 0;  // field 22: start time; 0 if unknown
};
ProcStat process_stat(pid_t pid) noexcept {
  ProcStat out;
  char path[64];
  // The main thread's task entry, not /proc/PID/stat: the same start time, but user-mode
  // emulators (qemu-user, used to test ARM64 builds) fake /proc/self/stat and /proc/<own pid>/stat
  // for the emulated process, so a process would record a start time nobody else sees for it.
  (void)std::snprintf(path, sizeof path, "/proc/%d/task/%d/stat", static_cast<int>(pid), static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return out;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  (void)std::fclose(f);  // read-only: nothing to lose on close
  buf[n] = '\0';
  // Field 2 (comm) may contain spaces and parentheses: parse from the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return out;
  if (p[1] == ' ' && p[2] != '\0') out.state = p[2];
  // After ") " come fields 3..; starttime is field 22, i.e. the 20th after comm.
  int field = 2;
  for (++p; *p != '\0'; ++p) {
    if (*p == ' ') {
      ++field;
      if (field == 22) {
        out.ticks = std::strtoull(p + 1, nullptr, 10);
        break;
      }
    }
  }
  return out;
}
// "Threads:" of /proc/PID/status; 0 if unknown.
long process_threads(pid_t pid) noexcept {
  char path[64];
  (void)std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  char line[256];
  long n = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "Threads:", 8) == 0) {
      n = std::strtol(line + 8, nullptr, 10);
      break;
    }
  }
  (void)std::fclose(f);  // read-only
  return n;
}
}  // namespace

std::uint64_t process_start_ticks(pid_t pid) noexcept { return process_stat(pid).ticks; }

bool process_alive(pid_t pid, std::uint64_t start_ticks) noexcept {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  const ProcStat st = process_stat(pid);
  // A zombie answers kill() until its parent reaps it, but it holds nothing any more (its locks
  // and mappings went when it died). The main thread alone shows Z too when it called
  // pthread_exit while other threads run: then the process lives.
  if ((st.state == 'Z' || st.state == 'X') && process_threads(pid) <= 1) return false;
  if (start_ticks != 0 && st.ticks != 0 && st.ticks != start_ticks) return false;  // pid reused
  return true;
}

std::string segment_object(std::string_view stream) { return "/shmframe." + std::string(stream); }
std::string lock_object(std::string_view stream) { return "/shmframe-lock." + std::string(stream); }
std::string object_path(std::string_view object) { return std::string(kShmDir) + std::string(object); }

bool name_refers_to(std::string_view object, dev_t dev, ino_t ino) noexcept {
  struct stat st = {};
  // lstat: a symlink someone put at the name is not our object.
  if (lstat(object_path(object).c_str(), &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

bool name_moved_on(std::string_view object, dev_t dev, ino_t ino) noexcept {
  struct stat st = {};
  if (lstat(object_path(object).c_str(), &st) != 0) return false;  // gone: wait for the next one
  return st.st_dev != dev || st.st_ino != ino;
}

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
