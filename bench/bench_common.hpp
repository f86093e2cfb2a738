// bench/bench_common.hpp: plumbing shared by every transport in shmframe-bench.
//
// Each case runs one producer and N consumers as fork()ed processes. They meet in a Shared
// block (MAP_SHARED | MAP_ANONYMOUS, created before fork): start/stop flags with futex
// wake-ups, and per-process results (latency samples, CPU time) that the parent reads after
// reaping the children. Timestamps are CLOCK_MONOTONIC nanoseconds.
#pragma once

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace bench {

inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_usec) * 1000ull;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

inline void sleep_until(std::uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000ull), static_cast<long>(t % 1'000'000'000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

inline void futex_wait(std::uint32_t* w, std::uint32_t v, std::uint64_t timeout_ns) {
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000ull), static_cast<long>(timeout_ns % 1'000'000'000ull)};
  syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, nullptr, 0);
}
inline void futex_wake(std::uint32_t* w) { syscall(SYS_futex, w, FUTEX_WAKE, 1 << 30, nullptr, nullptr, 0); }

inline constexpr int kMaxConsumers = 8;
inline constexpr std::size_t kMaxSamples = 1 << 16;

struct ConsumerResult {
  std::uint64_t frames;
  std::uint64_t drops;
  std::uint64_t cpu_ns;
  std::uint64_t handoff[kMaxSamples];
  std::uint64_t wake[kMaxSamples];
  void record(std::uint64_t handoff_ns, std::uint64_t wake_ns) {
    if (frames < kMaxSamples) {
      handoff[frames] = handoff_ns;
      wake[frames] = wake_ns;
    }
    ++frames;
  }
};

struct Shared {
  std::uint32_t ready;  // consumers attached; futex
  std::uint32_t go;     // producer started; futex
  std::uint32_t done;   // producer finished; futex
  std::uint32_t pad;
  std::uint64_t producer_frames;
  std::uint64_t producer_cpu_ns;
  std::uint64_t t_start;
  std::uint64_t t_end;
  ConsumerResult consumers[kMaxConsumers];
};

inline std::atomic_ref<std::uint32_t> flag(std::uint32_t& w) { return std::atomic_ref<std::uint32_t>(w); }

// Consumer side: announce readiness.
inline void signal_ready(Shared& s) {
  flag(s.ready).fetch_add(1);
  futex_wake(&s.ready);
}
// Producer side: wait (bounded) until n consumers are ready.
inline bool wait_ready(Shared& s, std::uint32_t n, std::uint64_t timeout_ns = 20'000'000'000ull) {
  const std::uint64_t deadline = now_ns() + timeout_ns;
  for (std::uint32_t r; (r = flag(s.ready).load()) < n;) {
    const std::uint64_t t = now_ns();
    if (t >= deadline) return false;
    futex_wait(&s.ready, r, deadline - t);
  }
  return true;
}
inline void signal_done(Shared& s) {
  flag(s.done).store(1);
  futex_wake(&s.done);
}
inline bool is_done(Shared& s) { return flag(s.done).load() != 0; }

// Message header that baselines put at the start of each frame's payload.
struct FrameHeader {
  std::uint64_t seq;
  std::uint64_t t_ready;    // frame ready in the producer's memory (before any copy)
  std::uint64_t t_publish;  // just before the transport's send/publish call
  std::uint64_t pad[5];
};
static_assert(sizeof(FrameHeader) == 64);

// The shape of a run.
struct Case {
  std::string transport;  // shmframe, unix_socket, zeromq, iceoryx
  std::string mode;  // copy | zerocopy; shmframe also zerocopy/predictive, zerocopy/spin (the reader's wait policy)
  int width = 1920, height = 1080;
  int consumers = 1;
  double rate = 30;               // frames per second; 0 = as fast as possible
  std::uint64_t frames = 0;       // at a fixed rate: how many frames
  std::uint64_t duration_ns = 0;  // flat out: for how long
  std::size_t bytes() const { return static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3u; }
};

// Paces a producer: returns false when the case is over.
class Pacer {
 public:
  explicit Pacer(const Case& c) : c_(c), start_(now_ns()), next_(start_) {}
  bool next(std::uint64_t sent) {
    if (c_.rate > 0) {
      if (sent >= c_.frames) return false;
      sleep_until(next_);
      next_ += static_cast<std::uint64_t>(1e9 / c_.rate);
      return true;
    }
    return now_ns() - start_ < c_.duration_ns;
  }
  std::uint64_t start() const { return start_; }

 private:
  const Case& c_;
  std::uint64_t start_, next_;
};

// The producer side of every case: paces frames, measures CPU from the first frame to the
// last, records the totals and tells the consumers it is done. `send(n)` publishes frame n and
// returns 1 (sent), 0 (skipped, e.g. no chunk to loan) or -1 (error: the case fails).
template <class Send>
int produce_loop(const Case& c, Shared& s, Send send) {
  const std::uint64_t cpu0 = cpu_ns();
  Pacer pace(c);
  s.t_start = pace.start();
  std::uint64_t sent = 0;
  while (pace.next(sent)) {
    const int r = send(sent);
    if (r < 0) return 11;
    sent += static_cast<std::uint64_t>(r);
  }
  s.t_end = now_ns();
  s.producer_frames = sent;
  s.producer_cpu_ns = cpu_ns() - cpu0;
  signal_done(s);
  return 0;
}

// A frame-sized private buffer with content, touched so it is resident and warm.
inline std::vector<std::uint8_t> make_source_frame(std::size_t bytes) {
  std::vector<std::uint8_t> v(bytes);
  for (std::size_t i = 0; i < bytes; ++i) v[i] = static_cast<std::uint8_t>(i * 31u + 7u);
  return v;
}

// Transport entry points: each runs in its own fork()ed process and returns an exit code.
using ProducerFn = std::function<int(const Case&, Shared&)>;
using ConsumerFn = std::function<int(const Case&, Shared&, int index)>;

}  // namespace bench
