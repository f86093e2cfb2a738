#include "sync_feed.hpp"

#include <spdlog/spdlog.h>

#include <shmframe/clock.hpp>

namespace shmframe::viewer {

namespace {
constexpr std::uint64_t kStatsPeriodNs = 250'000'000;

// The member's own event, as its Feed would have had it from a Reader of its own.
EventKind member_kind(SyncEventKind k) {
  switch (k) {
    case SyncEventKind::attached: return EventKind::attached;
    case SyncEventKind::producer_lost: return EventKind::producer_lost;
    case SyncEventKind::closed: return EventKind::closed;
    case SyncEventKind::error: return EventKind::error;
    case SyncEventKind::corrupt: return EventKind::corrupt;
    default: return EventKind::timeout;
  }
}
}  // namespace

SyncFeed::SyncFeed(std::vector<std::string> names, SyncOptions options, std::vector<Feed*> feeds, Notifier& notifier,
                   std::uint64_t set_limit)
    : names_(names), reader_(std::move(names), std::move(options)), feeds_(std::move(feeds)), notifier_(notifier),
      set_limit_(set_limit) {}

SyncFeed::~SyncFeed() { stop(); }

void SyncFeed::start() {
  for (Feed* f : feeds_) f->announce_waiting();
  thread_ = std::thread([this] { loop(); });
}

void SyncFeed::stop() {
  stop_.store(true, std::memory_order_relaxed);  // relaxed: the interrupt ends the wait; join() orders the rest
  reader_.interrupt();
  if (thread_.joinable()) thread_.join();
}

SyncStats SyncFeed::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void SyncFeed::refresh_stats(bool force) {
  const std::uint64_t now = monotonic_ns();
  if (!force && now - stats_at_ns_ < kStatsPeriodNs) return;
  stats_at_ns_ = now;
  SyncStats s = reader_.stats();
  std::lock_guard lock(stats_mu_);
  stats_ = std::move(s);
}

void SyncFeed::loop() {
  refresh_stats(true);
  while (!stop_.load(std::memory_order_relaxed)) {
    // Bounded only so that the statistics stay fresh while nothing comes; stop() interrupts.
    SyncEvent e = reader_.wait(std::chrono::milliseconds(250));
    if (e.kind == SyncEventKind::set) {
      if (set_limit_ != 0 && shown_ >= set_limit_) continue;  // the set goes at once
      // Every member copied and validated first (no lock: the display goes on), then shown
      // together, or not at all when one copy was overwritten meanwhile.
      bool whole = true;
      for (std::size_t i = 0; i < e.set.frames.size(); ++i) {
        Event ev;
        ev.kind = EventKind::frame;
        ev.frame = std::move(e.set.frames[i]);
        if (!feeds_[i]->drive(ev, reader_.member(i).info(), e.set.spread_ns)) return;
        whole = whole && feeds_[i]->prepared();
      }
      if (whole) {
        const std::lock_guard lock(group_);  // the display takes a set whole (see the header)
        for (Feed* f : feeds_) f->publish();
        ++shown_;
      }
    } else if (e.kind != SyncEventKind::timeout && e.kind != SyncEventKind::interrupted) {
      Event ev = std::move(e.event);
      ev.kind = member_kind(e.kind);
      if (!feeds_[e.stream]->drive(ev, reader_.member(e.stream).info(), std::nullopt)) return;
    }
    refresh_stats(false);
    notifier_.notify();
  }
  refresh_stats(true);
}

}  // namespace shmframe::viewer
