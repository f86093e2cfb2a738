// shmframe/sync_reader.hpp: several cameras as one. A SyncReader follows 2 to 8 streams and
// delivers sets: one frame of each, captured together (docs/PROTOCOL.md, "Synchronised sets").
//
//   shmframe::SyncReader sync({"left", "right"});
//   for (;;) {
//     shmframe::SyncEvent e = sync.wait(std::chrono::seconds(1));
//     if (e.kind == shmframe::SyncEventKind::set) use(e.set.frames[0], e.set.frames[1]);
//   }
//
// - approximate (default): a set's capture times lie within `tolerance` (default: half the
//   slowest stream's period, learnt from the capture times), and each frame is paired with the
//   closest frames of the others; exact: equal capture times (phase-locked or hardware-stamped
//   cameras), or for stages of one origin the same origin stream and seq.
// - Every frame is in at most one set. One that can no longer be in any is released and counted
//   unmatched, per stream. A set's frames are held (each within its stream's hold limit, slots - 1:
//   a SyncReader queues at most that many frames of a stream), so they stay valid while the set
//   lives; release the set (or let it go) before waiting for the next.
// - Each stream is followed on its own: a producer restart or a new format ends the sets that
//   used its old generation (its queued frames are unmatched) and sets resume with the new one;
//   a lost producer stops the sets until it is back. A frame of another stream is held at most
//   (its stream's period + the slowest period + the tolerance) after its capture while it waits.
// - One thread waits on every stream at once: futex_waitv on their wake words (Linux 5.16+);
//   where it is missing, on the stream the next set waits for (stats().wait says which). The
//   members' wait policy (SyncOptions::reader.wait) applies to that wait: spin polls every word
//   first, predictive polls around the next set's expected completion (docs/PROTOCOL.md).
//
// Thread contract: one thread calls wait(); interrupt() from any thread (async-signal-safe).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmframe/frame.hpp"
#include "shmframe/reader.hpp"

namespace shmframe {

enum class SyncPolicy { approximate, exact };
std::string_view to_string(SyncPolicy p) noexcept;
std::optional<SyncPolicy> parse_sync_policy(std::string_view text) noexcept;

inline constexpr std::size_t kMinSyncStreams = 2;
inline constexpr std::size_t kMaxSyncStreams = 8;

struct SyncOptions {
  SyncPolicy policy = SyncPolicy::approximate;
  // approximate: the widest spread of capture times in a set. nullopt: half the slowest stream's
  // period (learnt from its capture times). Must be > 0. Ignored by exact.
  std::optional<std::chrono::nanoseconds> tolerance;
  // For every member (delivery, access, wait policy, expect_owner...). Delivery latest is taken as
  // every_frame: a set needs each stream's frames in order.
  ReaderOptions reader;
};

// One frame of each stream, in the order of the names, each held.
struct FrameSet {
  std::vector<Frame> frames;
  std::uint64_t spread_ns = 0;    // latest - earliest capture time
  std::uint64_t capture_ns = 0;   // the earliest capture time
  std::uint64_t complete_ns = 0;  // the last member's commit
  void release() noexcept {
    for (Frame& f : frames) f.release();
  }
};

enum class SyncEventKind {
  set,            // `set` holds one frame of each stream
  attached,       // member `stream` attached to a generation (first, restart, new format): `event`
  producer_lost,  // member `stream`'s producer died or stalled: sets stop until it is back
  closed,         // member `stream` closed cleanly
  timeout,
  interrupted,
  error,    // member `stream`: `event.error`, `event.fatal()`
  corrupt,  // member `stream`: a hostile or broken writer (the member recovered)
};
std::string_view to_string(SyncEventKind k) noexcept;

struct SyncEvent {
  SyncEventKind kind = SyncEventKind::timeout;
  std::size_t stream = 0;  // the member an event is about
  Event event;             // that member's own event (generation, message, error)
  FrameSet set;            // kind == set
};

struct SyncStats {
  std::uint64_t sets = 0;
  std::vector<std::uint64_t> unmatched;           // per stream: frames released without a set
  double spread_p50_ms = 0, spread_p99_ms = 0;    // between the streams of a set
  double latency_p50_ms = 0, latency_p99_ms = 0;  // the last member's commit -> the set delivered
  std::uint64_t tolerance_ns = 0;                 // in use (0: not known yet)
  std::string wait;                               // "futex_waitv" or "first-word" (fallback)
  std::uint64_t polled = 0;                       // waits that polled (ReaderOptions::wait spin, predictive)
  std::vector<ReaderStats> members;
};

class SyncReader {
 public:
  // Does not attach yet. Throws Error(invalid_argument): fewer than 2 or more than 8 names, a
  // name given twice, a tolerance <= 0; Error(invalid_name) for a bad name.
  explicit SyncReader(std::vector<std::string> names, SyncOptions options = {});
  SyncReader(SyncReader&&) noexcept;
  SyncReader& operator=(SyncReader&&) noexcept;
  ~SyncReader();

  // The next set or member event. Attaches and re-attaches each member by itself. Never throws;
  // bounded by `timeout`.
  SyncEvent wait(std::chrono::nanoseconds timeout) noexcept;
  // As Reader::interrupt(): ends a wait() at once, until clear_interrupt().
  void interrupt() noexcept;
  void clear_interrupt() noexcept;
  bool interrupt_requested() const noexcept;

  std::size_t size() const noexcept;
  const std::vector<std::string>& names() const noexcept;
  // Member i (info(), stats(), hold_limit()); do not wait() on it.
  const Reader& member(std::size_t i) const;
  SyncStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmframe
