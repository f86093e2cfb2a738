// viewer/sync_feed.hpp: the viewer's --sync: the members of one synchronised set shown together.
//
// A SyncFeed runs one thread that waits on every stream at once (shmframe::SyncReader) and hands
// each set's frames to the members' Feeds (Feed::drive(): the same copy, validation and
// statistics as a stream of its own), with the set's spread for the overlay. A set is published
// to the display whole: the driving thread holds group() while it hands a set over, and the
// display takes the newest shots of every member under it, so the tiles shown are always one
// set's (a member whose copy was overwritten keeps its previous shot, counted as an overrun).
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
  // `feeds`: one per name, in the same order, not started. Throws Error for bad options (names,
  // tolerance): the caller checks them before.
  SyncFeed(std::vector<std::string> names, SyncOptions options, std::vector<Feed*> feeds, Notifier& notifier);
  ~SyncFeed();  // stop()
  SyncFeed(const SyncFeed&) = delete;
  SyncFeed& operator=(const SyncFeed&) = delete;

  void start();
  void stop();  // returns at once: interrupts the wait, joins
  // Held while a set is handed to the feeds; hold it to take every member's newest shot.
  std::mutex& group() { return group_; }
  // The SyncReader's statistics, at most 250 ms old.
  SyncStats stats() const;
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
};

}  // namespace shmframe::viewer
