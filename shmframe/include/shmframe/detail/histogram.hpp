// shmframe/detail/histogram.hpp: latency percentiles in constant memory, for the statistics of
// SyncReader and the viewers. A value type; each object is used by one thread at a time.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace shmframe::detail {

// Log-scale histogram: 8 buckets per octave (each ~9% wide) from 1 us to ~70 min, so a
// percentile is right to within one bucket whatever the run length, in 2 KiB.
class LatencyHistogram {
 public:
  void add(std::uint64_t ns) noexcept {
    ++buckets_[index(ns)];
    ++count_;
    sum_ns_ += ns;
  }
  // What was added since `earlier` (an older copy of this histogram).
  LatencyHistogram since(const LatencyHistogram& earlier) const noexcept {
    LatencyHistogram d = *this;
    for (std::size_t i = 0; i < buckets_.size(); ++i) d.buckets_[i] -= earlier.buckets_[i];
    d.count_ -= earlier.count_;
    d.sum_ns_ -= earlier.sum_ns_;
    return d;
  }
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t sum_ns() const noexcept { return sum_ns_; }
  // How many values are at most `ns`, to the bucket: the buckets wholly at or below it (a
  // Prometheus histogram's cumulative `le` count, never over-counted).
  std::uint64_t count_at_most(std::uint64_t ns) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < buckets_.size() && upper_ns(i) <= static_cast<double>(ns); ++i) n += buckets_[i];
    return n;
  }
  // The p-th percentile (0 < p <= 100) in milliseconds: the middle of its bucket; 0 when empty.
  double percentile_ms(double p) const noexcept {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank && buckets_[i] != 0) return middle_ns(i) / 1e6;
    }
    return middle_ns(buckets_.size() - 1) / 1e6;
  }

 private:
  static constexpr int kPerOctave = 8;
  static constexpr int kOctaves = 32;
  static std::size_t index(std::uint64_t ns) noexcept {
    if (ns < 1000) return 0;
    const double i = std::floor(std::log2(static_cast<double>(ns) / 1000.0) * kPerOctave) + 1;
    return static_cast<std::size_t>(std::min(i, static_cast<double>(kPerOctave * kOctaves)));
  }
  static double upper_ns(std::size_t i) noexcept {
    return i == 0 ? 1000.0 : 1000.0 * std::exp2(static_cast<double>(i) / kPerOctave);
  }
  static double middle_ns(std::size_t i) noexcept {
    return i == 0 ? 500.0 : 1000.0 * std::exp2((static_cast<double>(i) - 0.5) / kPerOctave);
  }
  std::array<std::uint64_t, kPerOctave * kOctaves + 1> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
};

}  // namespace shmframe::detail
