// viewer/sync_feed.hpp: the viewer's --sync: the members of one synchronised set shown together.
//
// A SyncFeed runs one thread that waits on every stream at once (shmframe::SyncReader) and hands
// each set's frames to the members' Feeds (Feed::drive(): the same copy, validation and
// statistics as a stream of its own), with the set's spread for the overlay. A set is shown
// whole or not at all: every member is copied and validated first, without a lock; then, only if
// every copy is valid, all of them become the newest shots at once under group(), which the
// display holds while it takes the newest shot of every member. So the tiles shown are always
// one set's; a set with an overwritten member is not shown (its members count it as an overrun).
//
// Thread contract: start/stop, group and stats from the display thread; the driving thread is
// internal.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <shmframe/sync_reader.hpp>

#include "feed.hpp"

namespace shmframe::viewer {

class SyncFeed {
 public:
  // `feeds`: one per name, in the same order, not started. `set_limit` != 0: show only the first
  // `set_limit` sets (then the last one stays shown). Throws Error for bad options (names,
  // tolerance): the caller checks them before.
  SyncFeed(std::vector<std::string> names, SyncOptions options, std::vector<Feed*> feeds, Notifier& notifier,
           std::uint64_t set_limit);
  ~SyncFeed();  // stop()
  SyncFeed(const SyncFeed&) = delete;
  SyncFeed& operator=(const SyncFeed&) = delete;

  void start();
  void stop();  // returns at once: interrupts the wait, joins
  // Held while a set is handed to the feeds; hold it to take every member's newest shot.
  std::mutex& group() { return group_; }
  // The SyncReader's statistics, at most 250 ms old.
  SyncStats stats() const;
  // Sets shown so far (each member's shot published).
  std::uint64_t shown() const { return shown_.load(std::memory_order_relaxed); }
  const std::vector<std::string>& names() const { return names_; }

 private:
  void loop();
  void refresh_stats(bool force);

  std::vector<std::string> names_;
  SyncReader reader_;
  std::vector<Feed*> feeds_;
  Notifier& notifier_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex group_;
  mutable std::mutex stats_mu_;
  SyncStats stats_;                // guarded by stats_mu_
  std::uint64_t stats_at_ns_ = 0;  // driving thread only
  const std::uint64_t set_limit_;
  std::atomic<std::uint64_t> shown_{0};  // relaxed: a count for the display thread's exit check
};

}  // namespace shmframe::viewer
