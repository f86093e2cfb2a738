// tests/support/testkit.hpp: helpers for multi-process tests.
//
// - Child: fork()s a function into a real process; every wait on it is bounded (pidfd +
//   poll), and the destructor SIGKILLs and reaps it, so a failing test never leaks processes.
// - LinePipe: a child-to-parent pipe of text lines, read with a timeout.
// - StreamGuard: unique stream names per test, unlinked before and after (RAII).
// - fill_pattern / check_pattern: pixels derived from the sequence number, so a reader can
//   prove it never accepted a torn frame (every 8-byte word of frame `seq` is the same value).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <shmframe/detail/os.hpp>

namespace testkit {

using namespace std::chrono_literals;

inline std::uint64_t pattern_word(std::uint64_t seq) { return (seq * 0x9E3779B97F4A7C15ull) ^ 0x5A5A5A5A5A5A5A5Aull; }

inline void fill_pattern(std::byte* p, std::size_t n, std::uint64_t seq) {
  const std::uint64_t w = pattern_word(seq);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) std::memcpy(p + i, &w, 8);
  for (; i < n; ++i) p[i] = static_cast<std::byte>(w & 0xff);
}

// True if the n bytes are exactly the pattern of `seq`.
inline bool check_pattern(const std::byte* p, std::size_t n, std::uint64_t seq) {
  if (n < 16 || n % 8 != 0) return false;
  const std::uint64_t w = pattern_word(seq);
  if (std::memcmp(p, &w, 8) != 0) return false;
  return std::memcmp(p, p + 8, n - 8) == 0;  // every word equals the first one
}

// A fork()ed child process. fork() only from a parent with no other threads.
class Child {
 public:
  explicit Child(const std::function<int()>& body) {
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int rc = 120;
      try {
        rc = body();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: uncaught: %s\n", getpid(), e.what());
        rc = 121;
      } catch (...) {
        rc = 122;
      }
      std::fflush(nullptr);
      _exit(rc);
    }
    if (pid_ > 0) pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      (void)wait_exit(10s);
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_.has_value(); }
  void signal(int sig) const {
    if (running()) ::kill(pid_, sig);
  }
  // Waits (bounded) for the child to end; returns its wait status, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    if (pid_ <= 0) return std::nullopt;
    pollfd p{pidfd_, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) left = 0ms;
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r > 0) break;
      if (r == 0) return std::nullopt;
      if (errno != EINTR) return std::nullopt;
    }
    int st = 0;
    if (waitpid(pid_, &st, 0) == pid_) status_ = st;
    return status_;
  }
  // Exit code if it exited normally in time, -1 on timeout, 1000+signal if killed.
  int exit_code(std::chrono::milliseconds timeout) {
    auto st = wait_exit(timeout);
    if (!st) return -1;
    if (WIFEXITED(*st)) return WEXITSTATUS(*st);
    if (WIFSIGNALED(*st)) return 1000 + WTERMSIG(*st);
    return -2;
  }
  void kill_and_reap(int sig = SIGKILL) {
    signal(sig);
    (void)wait_exit(10s);
  }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> status_;
};

// Lines from children to the parent.
class LinePipe {
 public:
  LinePipe() {
    if (pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  ~LinePipe() {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
  }
  LinePipe(const LinePipe&) = delete;
  LinePipe& operator=(const LinePipe&) = delete;
  int write_fd() const { return fds_[1]; }
  // Child side: one line, atomically (shorter than PIPE_BUF).
  void send(const std::string& line) const {
    std::string l = line + "\n";
    (void)!::write(fds_[1], l.data(), l.size());
  }
  // Parent side: next line, or nullopt after the timeout.
  std::optional<std::string> recv(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fds_[0], POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return std::nullopt;
      char tmp[4096];
      ssize_t n = ::read(fds_[0], tmp, sizeof tmp);
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  // Next line starting with `prefix` (others are skipped), bounded.
  std::optional<std::string> recv_prefix(const std::string& prefix, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto l = recv(left);
      if (!l) return std::nullopt;
      if (l->rfind(prefix, 0) == 0) return l;
    }
  }

 private:
  int fds_[2];
  std::string buf_;
};

// A unique stream name, whose segment and lock are removed before and after the test.
class StreamGuard {
 public:
  explicit StreamGuard(const std::string& tag) {
    static std::atomic<int> counter{0};
    name_ = "t" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" + tag;
    remove();
  }
  ~StreamGuard() { remove(); }
  const std::string& name() const { return name_; }
  std::string path() const { return shmframe::detail::object_path(shmframe::detail::segment_object(name_)); }
  void remove() const {
    shm_unlink(shmframe::detail::segment_object(name_).c_str());
    shm_unlink(shmframe::detail::lock_object(name_).c_str());
  }

 private:
  std::string name_;
};

// Splits "a b c" into words.
inline std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace testkit
