// shmframe/detail/end_judge.hpp: what an attached reader makes of the header's state word.
//
// CLOSED and SUPERSEDED end the stream, but any process with write access can store them. They
// are believed only when the name no longer refers to the reader's segment or its producer is
// gone (the caller's `believed`: producer_gone(), never the heartbeat alone). One not believed is
// given an interval (a closing producer unlinks the name right after its store, and inotify
// says so); after that it is reported once as a forgery and ignored until READY is seen again
// (docs/PROTOCOL.md, "Hostile writers"). Pure bookkeeping, no system calls. Internal.
#pragma once

#include <cstdint>

namespace shmframe::detail {

class EndJudge {
 public:
  enum class Verdict {
    live,        // READY, or a forged end already reported: carry on
    closed,      // a believed CLOSED: deliver what is left, then the close
    superseded,  // a believed SUPERSEDED: move on to the next generation
    grace,       // an end not believed yet: wait for the name to change, until grace_end()
    forged,      // an end not believed after the grace: report it (once)
  };

  // `state`: the header's state word; `believed`: whether an end would be believed now (computed
  // by the caller only when is_end(state)); `interval`: the stream's heartbeat interval.
  Verdict judge(std::uint32_t state, bool believed, std::uint64_t now, std::uint64_t interval) noexcept;
  // The end of the current grace (valid after a `grace` verdict).
  std::uint64_t grace_end() const noexcept { return grace_end_; }
  // A new attachment.
  void reset() noexcept { *this = EndJudge{}; }

  static bool is_end(std::uint32_t state) noexcept;

 private:
  std::uint64_t since_ = 0;  // first sight of the end not believed
  std::uint64_t grace_end_ = 0;
  bool reported_ = false;
};

}  // namespace shmframe::detail
