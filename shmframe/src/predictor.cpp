// The arrival predictor: period and jitter of a periodic stream from its commit times.
#include "shmframe/detail/predictor.hpp"

#include <algorithm>

namespace shmframe::detail {

namespace {
// Polling starts at least this long before the due time: a timed sleep ends late by the timer
// slack (50 us by default) plus a wake-up, and the frame itself may come early.
constexpr std::uint64_t kMarginNs = 100'000;
}  // namespace

void ArrivalPredictor::observe(std::uint64_t seq, std::uint64_t commit_ns) noexcept {
  const bool consecutive = last_seq_ != 0 && seq == last_seq_ + 1 && commit_ns > last_commit_;
  const std::uint64_t interval = consecutive ? commit_ns - last_commit_ : 0;
  last_seq_ = seq;
  last_commit_ = commit_ns;
  if (!consecutive) {  // skipped frames or a new generation: the interval says nothing
    samples_ = std::min(samples_, kMinSamples - 1);
    due_ = period_ != 0 ? commit_ns + period_ : 0;
    return;
  }
  // The first interval, or a rate change or a pause: start learning again from this interval.
  if (samples_ == 0 || interval > period_ + period_ / 2 || interval < period_ / 2) {
    period_ = interval;
    jitter_ = 0;
    due_ = commit_ns + interval;
    samples_ = 1;
    return;
  }
  // A camera commits on its own clock: frame n at about t0 + n * period, each late by its own
  // jitter. Predicting from the last commit would add that frame's jitter to the next one's;
  // following the phase instead (a due time corrected by a quarter of each error, like a PLL)
  // leaves the next frame's own jitter only. A VM or a busy host delays the odd frame by
  // milliseconds: errors count at most `bound` (the current window's half-width), so one such
  // frame neither widens the window for long nor shifts the phase.
  const auto bound = static_cast<std::int64_t>(2 * jitter_ + kMarginNs);
  const std::int64_t err = std::clamp(static_cast<std::int64_t>(commit_ns - due_), -bound, bound);
  const auto dev = std::clamp(static_cast<std::int64_t>(interval - period_), -bound, bound);
  jitter_ = jitter_ - jitter_ / 8 + static_cast<std::uint64_t>(err < 0 ? -err : err) / 8;  // EWMA, weight 1/8
  period_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(period_) + dev / 8);
  due_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(due_ + period_) + err / 4);
  if (samples_ < kMinSamples) ++samples_;
}

void ArrivalPredictor::reset() noexcept { *this = ArrivalPredictor{}; }

std::optional<ArrivalPredictor::Window> ArrivalPredictor::next(std::uint64_t now,
                                                               std::uint64_t max_window_ns) const noexcept {
  if (samples_ < kMinSamples || period_ == 0) return std::nullopt;
  if (jitter_ > period_ / 4) return std::nullopt;  // too irregular to be worth polling for
  const std::uint64_t due = due_;
  // Poll from 2 deviations plus the margin before the due time to as long after.
  const std::uint64_t half = std::min(2 * jitter_ + kMarginNs, std::max(kMarginNs, max_window_ns / 2));
  Window w{due > half ? due - half : 0, due + half};
  if (now > w.end_ns) return std::nullopt;  // late: block until it comes
  return w;
}

}  // namespace shmframe::detail
