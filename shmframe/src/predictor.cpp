// The arrival predictor: period and jitter of a periodic stream from its commit times.
#include "shmframe/detail/predictor.hpp"

#include <algorithm>

namespace shmframe::detail {

namespace {
// Polling starts at least this long before the due time: a timed sleep ends late by the timer
// slack (50 us by default) plus a wake-up, and the frame itself may come early.
constexpr std::uint64_t kMarginNs = 100'000;
std::uint64_t absdiff(std::uint64_t a, std::uint64_t b) noexcept { return a > b ? a - b : b - a; }
}  // namespace

void ArrivalPredictor::observe(std::uint64_t seq, std::uint64_t commit_ns) noexcept {
  const bool consecutive = last_seq_ != 0 && seq == last_seq_ + 1 && commit_ns > last_commit_;
  const std::uint64_t interval = consecutive ? commit_ns - last_commit_ : 0;
  last_seq_ = seq;
  last_commit_ = commit_ns;
  if (!consecutive) {  // skipped frames or a new generation: the interval says nothing
    samples_ = std::min(samples_, kMinSamples - 1);
    return;
  }
  if (samples_ == 0) {
    period_ = interval;
    jitter_ = interval / 8;
    samples_ = 1;
    return;
  }
  // A rate change or a pause: start learning again from this interval.
  if (interval > period_ + period_ / 2 || interval < period_ / 2) {
    period_ = interval;
    jitter_ = interval / 8;
    samples_ = 1;
    return;
  }
  // EWMA, 1/8 weight for the new sample (integer, no drift below 8 ns).
  jitter_ = jitter_ - jitter_ / 8 + absdiff(interval, period_) / 8;
  period_ = period_ - period_ / 8 + interval / 8;
  if (samples_ < kMinSamples) ++samples_;
}

void ArrivalPredictor::reset() noexcept { *this = ArrivalPredictor{}; }

std::optional<ArrivalPredictor::Window> ArrivalPredictor::next(std::uint64_t now,
                                                               std::uint64_t max_window_ns) const noexcept {
  if (samples_ < kMinSamples || period_ == 0) return std::nullopt;
  if (jitter_ > period_ / 4) return std::nullopt;  // too irregular to be worth polling for
  const std::uint64_t due = last_commit_ + period_;
  // Poll from 2 deviations plus the margin before the due time to as long after.
  const std::uint64_t half = std::min(2 * jitter_ + kMarginNs, std::max(kMarginNs, max_window_ns / 2));
  Window w{due > half ? due - half : 0, due + half};
  if (now > w.end_ns) return std::nullopt;  // late: block until it comes
  return w;
}

}  // namespace shmframe::detail
