// viewer/measure.hpp: what the viewer measures about itself: latency percentiles in constant
// memory, and CPU time per thread and per process. Values only; each object is used by one
// thread at a time (Feed copies them under its lock).
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "shmframe/detail/histogram.hpp"

namespace shmframe::viewer {

// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): blocked time does not count.
inline std::uint64_t thread_cpu_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// User + system CPU time of the whole process, every thread (GTK's included).
inline std::uint64_t process_cpu_ns() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_usec) * 1000ull;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

// Latency percentiles in constant memory: the library's (shared with SyncReader's statistics).
using LatencyHistogram = shmframe::detail::LatencyHistogram;

}  // namespace shmframe::viewer
