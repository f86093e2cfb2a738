// EndJudge: believing a CLOSED / SUPERSEDED header (docs/PROTOCOL.md, "Hostile writers").
#include "shmframe/detail/end_judge.hpp"

#include "shmframe/layout.hpp"

namespace shmframe::detail {

bool EndJudge::is_end(std::uint32_t state) noexcept {
  return state == static_cast<std::uint32_t>(layout::State::closed) ||
         state == static_cast<std::uint32_t>(layout::State::superseded);
}

EndJudge::Verdict EndJudge::judge(std::uint32_t state, bool believed, std::uint64_t now,
                                  std::uint64_t interval) noexcept {
  if (!is_end(state)) {  // READY again: a later forgery is judged afresh
    since_ = 0;
    reported_ = false;
    return Verdict::live;
  }
  if (believed) {
    return state == static_cast<std::uint32_t>(layout::State::closed) ? Verdict::closed : Verdict::superseded;
  }
  if (reported_) return Verdict::live;
  if (since_ == 0) since_ = now;
  grace_end_ = since_ + interval;
  if (now < grace_end_) return Verdict::grace;
  reported_ = true;
  return Verdict::forged;
}

}  // namespace shmframe::detail
