// tests/support/testkit.hpp: helpers shared by every kind of test (unit, multiprocess, stress,
// apps). OpenCV-free and gtest-free, so any test executable can use it.
//
// - Child: fork()s a function into a real process; every wait on it is bounded (pidfd +
//   poll), and the destructor SIGKILLs and reaps it, so a failing test never leaks processes.
// - Record: a named-field result line ("kind=frame seq=5 ok=1"), what children send back.
// - LinePipe: a child-to-parent pipe of text lines or Records, read with a timeout.
// - StreamGuard: unique stream names per test, unlinked before and after (RAII).
// - fill_pattern / check_pattern: pixels derived from the sequence number, so a reader can
//   prove it never accepted a torn frame (every 8-byte word of frame `seq` is the same value).
// - small_options: the small stream every protocol test uses (one definition).
// - wait_until: a bounded wait for a condition on shared state that nothing signals.
// - env_u64 / env_seconds: scale knobs for the stress tests.
//
// Threads: fork() only from a parent with no other threads (Child's rule). The rest is
// per-object, no shared state except StreamGuard's name counter (atomic).
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
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <shmframe/detail/os.hpp>
#include <shmframe/writer.hpp>

namespace testkit {

using namespace std::chrono_literals;

// ---- pixels that prove their own integrity ---------------------------------------------

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

// Row pattern for padded-row tests: byte x of row y of frame `tag`.
inline std::byte row_byte(std::uint64_t tag, std::uint32_t y, std::size_t x) {
  return static_cast<std::byte>((tag * 31 + y * 7 + x * 13 + 1) & 0xff);
}
inline void fill_row(std::byte* p, std::size_t n, std::uint64_t tag, std::uint32_t y) {
  for (std::size_t x = 0; x < n; ++x) p[x] = row_byte(tag, y, x);
}
inline bool check_row(const std::byte* p, std::size_t n, std::uint64_t tag, std::uint32_t y) {
  for (std::size_t x = 0; x < n; ++x)
    if (p[x] != row_byte(tag, y, x)) return false;
  return true;
}

// ---- the small stream of the protocol tests ---------------------------------------------

struct Small {
  std::uint32_t slots = 2;
  std::uint32_t max_consumers = 4;
  std::chrono::milliseconds heartbeat{100};
};
// A 64x32 gray8 stream (2 KiB frames, a multiple of 8 bytes for check_pattern).
inline shmframe::WriterOptions small_options(Small s = {}) {
  shmframe::WriterOptions o;
  o.format = shmframe::FrameFormat{64, 32, shmframe::PixelFormat::gray8, 0};
  o.slots = s.slots;
  o.max_consumers = s.max_consumers;
  o.heartbeat = s.heartbeat;
  return o;
}

// ---- bounded waiting ---------------------------------------------------------------------

// Polls `done` until it holds or `timeout` passes; returns its last value. Only for state that
// nothing signals (a counter in a segment, an entry of another process); never a fixed sleep.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(1ms);
  }
}

inline std::chrono::milliseconds left_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? left : 0ms;
}

// ---- scale knobs -------------------------------------------------------------------------

inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}
inline double env_seconds(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtod(v, nullptr) : fallback;
}

// ---- named results from children ---------------------------------------------------------

// One result as named fields: "kind=frame seq=5 gen=1 ok=1". Values are escaped (%XX for
// space, '%', '=' and control characters), so any text (an error message) fits in one field.
// Getters throw std::runtime_error naming the missing or malformed field: gtest reports it as
// a failure of the test that asked.
class Record {
 public:
  Record() = default;
  explicit Record(std::string kind) { set("kind", std::move(kind)); }

  Record& set(const std::string& key, std::string value) {
    for (auto& [k, v] : fields_) {
      if (k == key) {
        v = std::move(value);
        return *this;
      }
    }
    fields_.emplace_back(key, std::move(value));
    return *this;
  }
  Record& set(const std::string& key, const char* value) { return set(key, std::string(value)); }
  Record& set(const std::string& key, bool value) { return set(key, std::string(value ? "1" : "0")); }
  template <class T>
  requires std::is_integral_v<T> Record& set(const std::string& key, T value) {
    return set(key, std::to_string(value));
  }

  bool has(std::string_view key) const { return find(key) != nullptr; }
  std::string kind() const { return has("kind") ? get("kind") : std::string(); }
  const std::string& get(std::string_view key) const {
    const std::string* v = find(key);
    if (v == nullptr) throw std::runtime_error("record '" + str() + "' has no field '" + std::string(key) + "'");
    return *v;
  }
  std::uint64_t get_u64(std::string_view key) const {
    const std::string& v = get(key);
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || v[0] == '-') {
      throw std::runtime_error("record '" + str() + "': field '" + std::string(key) + "' is not a number");
    }
    return n;
  }
  bool get_bool(std::string_view key) const {
    const std::string& v = get(key);
    if (v != "0" && v != "1")
      throw std::runtime_error("record '" + str() + "': field '" + std::string(key) + "' is not 0/1");
    return v == "1";
  }
  // Comma-separated numbers ("" = none).
  std::vector<std::uint64_t> get_list(std::string_view key) const {
    std::vector<std::uint64_t> out;
    const std::string& v = get(key);
    std::size_t i = 0;
    while (i < v.size()) {
      std::size_t j = v.find(',', i);
      if (j == std::string::npos) j = v.size();
      out.push_back(std::strtoull(v.substr(i, j - i).c_str(), nullptr, 10));
      i = j + 1;
    }
    return out;
  }

  std::string str() const {
    std::string out;
    for (const auto& [k, v] : fields_) {
      if (!out.empty()) out += ' ';
      out += k;
      out += '=';
      out += escape(v);
    }
    return out;
  }
  // nullopt unless every word is key=value.
  static std::optional<Record> parse(std::string_view line) {
    Record r;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i == line.size()) break;
      std::size_t j = line.find(' ', i);
      if (j == std::string_view::npos) j = line.size();
      const std::string_view word = line.substr(i, j - i);
      const std::size_t eq = word.find('=');
      if (eq == std::string_view::npos || eq == 0) return std::nullopt;
      r.fields_.emplace_back(std::string(word.substr(0, eq)), unescape(word.substr(eq + 1)));
      i = j;
    }
    return r;
  }

 private:
  const std::string* find(std::string_view key) const {
    for (const auto& [k, v] : fields_)
      if (k == key) return &v;
    return nullptr;
  }
  static std::string escape(const std::string& v) {
    std::string out;
    for (unsigned char c : v) {
      if (c <= ' ' || c == '%' || c == '=' || c == 0x7f) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out;
  }
  static std::string unescape(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size()) {
        out += static_cast<char>(std::strtoul(std::string(v.substr(i + 1, 2)).c_str(), nullptr, 16));
        i += 2;
      } else {
        out += v[i];
      }
    }
    return out;
  }
  std::vector<std::pair<std::string, std::string>> fields_;
};

// ---- processes ---------------------------------------------------------------------------

// A fork()ed child process. fork() only from a parent with no other threads. The body's return
// value is the exit code; an exception escaping it exits 121.
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
      int r = ::poll(&p, 1, static_cast<int>(left_until(deadline).count()));
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

// Lines (or Records) from children to the parent. One pipe may have several writers: each
// line is written with one write(), atomically while shorter than PIPE_BUF (4096 bytes).
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

  // Child side.
  void send(const std::string& line) const {
    std::string l = line + "\n";
    (void)!::write(fds_[1], l.data(), l.size());
  }
  void send(const Record& r) const { send(r.str()); }

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
      const auto left = left_until(deadline);
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
      const auto left = left_until(deadline);
      if (left.count() <= 0) return std::nullopt;
      auto l = recv(left);
      if (!l) return std::nullopt;
      if (l->rfind(prefix, 0) == 0) return l;
    }
  }
  // Next Record (lines that are not Records are an error: children send only Records here).
  std::optional<Record> recv_record(std::chrono::milliseconds timeout) {
    auto l = recv(timeout);
    if (!l) return std::nullopt;
    auto r = Record::parse(*l);
    if (!r) throw std::runtime_error("not a record: '" + *l + "'");
    return r;
  }
  // Next Record of `kind` for which `pred` holds (others are skipped), bounded.
  std::optional<Record> recv_kind(const std::string& kind, std::chrono::milliseconds timeout,
                                  const std::function<bool(const Record&)>& pred = {}) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = left_until(deadline);
      if (left.count() <= 0) return std::nullopt;
      auto r = recv_record(left);
      if (!r) return std::nullopt;
      if (r->kind() == kind && (!pred || pred(*r))) return r;
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
    name_ = "t" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" + tag.substr(0, 40);
    remove();
  }
  ~StreamGuard() { remove(); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;
  const std::string& name() const { return name_; }
  std::string path() const { return shmframe::detail::object_path(shmframe::detail::segment_object(name_)); }
  void remove() const {
    shm_unlink(shmframe::detail::segment_object(name_).c_str());
    shm_unlink(shmframe::detail::lock_object(name_).c_str());
  }

 private:
  std::string name_;
};

}  // namespace testkit
