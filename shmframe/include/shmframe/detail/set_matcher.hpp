// shmframe/detail/set_matcher.hpp: matching the frames of N streams into sets by capture time
// (issue 21, synchronised sets). Pure: no streams, no clocks; frames go in with their capture
// time, sets and unmatched frames come out. The SyncReader feeds it; tests feed it numbers.
//
// The rule (docs/PROTOCOL.md, "Synchronised sets"):
// - Each stream has a queue of frames in capture order, at most `capacity` long (the reader's hold
//   limit): a frame pushed into a full queue pushes its oldest out, unmatched.
// - exact: the heads form a set when their keys are equal (the capture time, or for stages of
//   one origin the origin's stream and seq). Otherwise the head with the smallest key can never be
//   in a set (every other stream has moved past it): it is dropped, unmatched.
// - approximate: a head earlier than the latest head by more than the tolerance can never be in
//   a set (the other streams' frames only get later): dropped. When every head is within the
//   tolerance, a stream's next frame that would make the set tighter (a smaller spread) replaces
//   its head, which is dropped; if that next frame is not here yet, the set waits for it only when
//   it is due (the head + the stream's period) close enough to be tighter. Else the set is final.
//   A stream whose period is not known yet (its first frame) is taken as it is.
// Every frame is in at most one set, a set's spread (latest - earliest capture) is at most the
// tolerance, and no frame waits for a partner longer than one period of its own stream plus one
// of the slowest (see release_older_than()).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace shmframe::detail {

enum class MatchPolicy { approximate, exact };

template <class T>
class SetMatcher {
 public:
  struct Entry {
    std::uint64_t capture_ns = 0;
    std::uint64_t key = 0;  // exact: equal keys match (the capture time, or an origin's seq hash)
    T value{};
  };
  // Frames that left without a set, with their stream.
  using Unmatched = std::vector<std::pair<std::size_t, T>>;

  // `tolerance_ns` 0: half the slowest stream's period (estimated from capture times).
  SetMatcher(MatchPolicy policy, std::uint64_t tolerance_ns, std::vector<std::size_t> capacity)
      : policy_(policy), tolerance_(tolerance_ns), streams_(capacity.size()) {
    for (std::size_t i = 0; i < streams_.size(); ++i) streams_[i].capacity = std::max<std::size_t>(1, capacity[i]);
  }

  std::size_t size() const noexcept { return streams_.size(); }
  std::size_t capacity(std::size_t stream) const noexcept { return streams_[stream].capacity; }
  // A new capacity for `stream` (its reader's hold limit after an attach); 0 counts as 1. A queue
  // longer than it drops its oldest into `out`.
  void set_capacity(std::size_t stream, std::size_t capacity, Unmatched& out) {
    streams_[stream].capacity = std::max<std::size_t>(1, capacity);
    while (streams_[stream].queue.size() > streams_[stream].capacity) drop_head(stream, out);
  }
  // Makes room for one more frame of `stream` (before taking it, so that it can be held): a full
  // queue drops its oldest, as push() would.
  void make_room(std::size_t stream, Unmatched& out) {
    while (streams_[stream].queue.size() >= streams_[stream].capacity) drop_head(stream, out);
  }
  // The earliest capture time queued (0 when every queue is empty).
  std::uint64_t oldest_capture() const noexcept {
    std::uint64_t t = 0;
    for (const Stream& s : streams_) {
      if (!s.queue.empty() && (t == 0 || s.queue.front().capture_ns < t)) t = s.queue.front().capture_ns;
    }
    return t;
  }
  std::size_t queued(std::size_t stream) const noexcept { return streams_[stream].queue.size(); }

  // Queues a frame of `stream` (capture times of one stream grow; an older one is refused:
  // returned unmatched). A full queue drops its oldest into `out`.
  void push(std::size_t stream, Entry e, Unmatched& out) {
    Stream& s = streams_[stream];
    if (s.last_capture != 0 && e.capture_ns <= s.last_capture) {
      out.emplace_back(stream, std::move(e.value));
      return;
    }
    if (s.last_capture != 0) {
      const std::uint64_t gap = e.capture_ns - s.last_capture;
      // Period estimate: the smallest recent gap (a dropped frame doubles one gap, never halves it).
      s.period = s.period == 0 ? gap : std::min(gap, s.period + s.period / 8);
    }
    s.last_capture = e.capture_ns;
    make_room(stream, out);
    s.queue.push_back(std::move(e));
  }

  // The next set, if one is final; frames that can no longer be in any set go to `out` on the way.
  std::optional<std::vector<Entry>> pop(Unmatched& out) {
    std::vector<Entry> set;
    set.reserve(streams_.size());
    if (!pop(out, [&set](Entry&& e) { set.push_back(std::move(e)); })) return std::nullopt;
    return set;
  }
  // The same, handing the set's entries to `take` one by one, in stream order (no vector of
  // them). False when there is no set.
  template <class Take>
  bool pop(Unmatched& out, Take&& take) {
    for (;;) {
      if (std::any_of(streams_.begin(), streams_.end(), [](const Stream& s) { return s.queue.empty(); })) {
        return false;
      }
      const Step step = policy_ == MatchPolicy::exact ? step_exact() : step_approximate();
      switch (step.action) {
        case Action::set:
          for (Stream& s : streams_) {
            take(std::move(s.queue.front()));
            s.queue.pop_front();
          }
          return true;
        case Action::wait: return false;
        case Action::drop: drop_head(step.stream, out); break;
      }
    }
  }

  // Releases, unmatched, every queued frame captured before `cutoff` (a stream stopped: its
  // partners must not stay held; the caller passes now - (slowest period + tolerance)).
  void release_older_than(std::uint64_t cutoff, Unmatched& out) {
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      while (!streams_[i].queue.empty() && streams_[i].queue.front().capture_ns < cutoff) drop_head(i, out);
    }
  }

  // Stream `stream` started again (new generation, restart): its queue is dropped (unmatched)
  // and its capture clock and period forgotten.
  void restart(std::size_t stream, Unmatched& out) {
    while (!streams_[stream].queue.empty()) drop_head(stream, out);
    streams_[stream].last_capture = 0;
    streams_[stream].period = 0;
  }

  // The tolerance in use: as given, else half the slowest stream's period (0 while a period is
  // not known yet).
  std::uint64_t tolerance() const noexcept {
    if (tolerance_ != 0) return tolerance_;
    std::uint64_t slowest = 0;
    for (const Stream& s : streams_) {
      if (s.period == 0) return 0;
      slowest = std::max(slowest, s.period);
    }
    return slowest / 2;
  }
  std::uint64_t period(std::size_t stream) const noexcept { return streams_[stream].period; }
  std::uint64_t slowest_period() const noexcept {
    std::uint64_t p = 0;
    for (const Stream& s : streams_) p = std::max(p, s.period);
    return p;
  }

 private:
  struct Stream {
    std::deque<Entry> queue;
    std::size_t capacity = 1;
    std::uint64_t last_capture = 0;
    std::uint64_t period = 0;  // estimated; 0 = unknown
  };
  // What the heads call for: a set, a head dropped (unmatched), or waiting for more frames.
  enum class Action { set, drop, wait };
  struct Step {
    Action action;
    std::size_t stream = 0;  // drop: whose head
  };
  Step step_exact() const {
    std::size_t low = 0;
    bool equal = true;
    for (std::size_t i = 1; i < streams_.size(); ++i) {
      equal = equal && head(i).key == head(0).key;
      if (head(i).key < head(low).key) low = i;
    }
    return equal ? Step{Action::set} : Step{Action::drop, low};
  }
  Step step_approximate() const {
    std::size_t early = 0;
    std::uint64_t last = head(0).capture_ns;
    for (std::size_t i = 1; i < streams_.size(); ++i) {
      last = std::max(last, head(i).capture_ns);
      if (head(i).capture_ns < head(early).capture_ns) early = i;
    }
    const std::uint64_t spread = last - head(early).capture_ns;
    if (spread == 0) return {Action::set};  // captured together (phase-locked): nothing is closer
    const std::uint64_t tol = tolerance();
    if (tol == 0) return {Action::wait};  // the default tolerance needs every period: not known yet
    if (spread > tol) return {Action::drop, early};
    // A stream's next frame, queued, that would make a tighter set replaces its head (dropped).
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      const auto& q = streams_[i].queue;
      if (q.size() >= 2 && spread_with(i, q[1].capture_ns) < spread) return {Action::drop, i};
    }
    // Final only if no stream's next frame, due a period after its head, could be tighter.
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      const Stream& st = streams_[i];
      if (st.queue.size() >= 2 || st.period == 0) continue;  // unknown period: take what is here
      if (spread_with(i, head(i).capture_ns + st.period) < spread) return {Action::wait};
    }
    return {Action::set};
  }
  const Entry& head(std::size_t i) const { return streams_[i].queue.front(); }
  // The spread of the heads with stream i's head replaced by a frame captured at `t`.
  std::uint64_t spread_with(std::size_t i, std::uint64_t t) const {
    std::uint64_t lo = t;
    std::uint64_t hi = t;
    for (std::size_t j = 0; j < streams_.size(); ++j) {
      if (j == i) continue;
      lo = std::min(lo, head(j).capture_ns);
      hi = std::max(hi, head(j).capture_ns);
    }
    return hi - lo;
  }
  void drop_head(std::size_t i, Unmatched& out) {
    out.emplace_back(i, std::move(streams_[i].queue.front().value));
    streams_[i].queue.pop_front();
  }
  MatchPolicy policy_;
  std::uint64_t tolerance_;
  std::vector<Stream> streams_;
};

}  // namespace shmframe::detail
