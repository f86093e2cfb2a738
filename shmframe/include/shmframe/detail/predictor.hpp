// shmframe/detail/predictor.hpp: when the next frame of a periodic stream is due.
//
// A camera commits frames at a steady period with some jitter. The predictor learns both from
// the commit times of consecutive frames (exponentially weighted: the period, and the mean
// absolute error of its own predictions, which follow the stream's phase) and says when to
// start and stop polling for the next one. A stream that is not
// regular (too few samples, a gap, a rate change, a new generation) has no prediction: the
// reader then blocks, never spins. Internal; one Reader's, used from its thread only.
#pragma once

#include <cstdint>
#include <optional>

namespace shmframe::detail {

class ArrivalPredictor {
 public:
  struct Window {
    std::uint64_t begin_ns = 0;  // start polling (CLOCK_MONOTONIC)
    std::uint64_t end_ns = 0;    // give up polling and block
  };

  // The commit time of frame `seq` (of one generation); consecutive frames teach the period.
  void observe(std::uint64_t seq, std::uint64_t commit_ns) noexcept;
  void reset() noexcept;
  // The window to poll in for the frame after the last observed one; nullopt when the stream is
  // not regular enough to predict, or when `now` is already past the window (a late frame).
  // `max_window_ns` caps the window's width.
  std::optional<Window> next(std::uint64_t now, std::uint64_t max_window_ns) const noexcept;

  std::uint64_t period_ns() const noexcept { return period_; }
  std::uint64_t jitter_ns() const noexcept { return jitter_; }
  bool regular() const noexcept { return samples_ >= kMinSamples; }

 private:
  static constexpr std::uint32_t kMinSamples = 8;
  std::uint64_t last_seq_ = 0;
  std::uint64_t last_commit_ = 0;
  std::uint64_t period_ = 0;  // EWMA of the inter-commit interval
  std::uint64_t jitter_ = 0;  // EWMA of |commit - due|
  std::uint64_t due_ = 0;     // when the next frame is expected
  std::uint32_t samples_ = 0;
};

}  // namespace shmframe::detail
