#include "hub.hpp"

#include <spdlog/spdlog.h>

#include <shmframe/clock.hpp>
#include <vector>

#include "render.hpp"

namespace shmframe::web {

Hub::Hub(std::string name, ReaderOptions reader, viewer::Display display, OnPicture on_picture)
    : name_(std::move(name)), on_picture_(std::move(on_picture)),
      feed_(name_, 0, notifier_, std::move(reader), display) {
  feed_.set_copying(false);  // until a client wants pictures
  feed_.start();
  thread_ = std::thread([this] { run(); });
}

Hub::~Hub() {
  stop_.store(true, std::memory_order_relaxed);  // relaxed: the notify below wakes the thread; join orders the rest
  notifier_.notify();
  if (thread_.joinable()) thread_.join();
  feed_.stop();
}

void Hub::subscribe(const Variant& v) {
  {
    std::lock_guard lock(mu_);
    if (uses_.empty()) feed_.set_copying(true);
    ++uses_[v].clients;
  }
  notifier_.notify();
}

void Hub::unsubscribe(const Variant& v) {
  std::lock_guard lock(mu_);
  auto it = uses_.find(v);
  if (it != uses_.end() && --it->second.clients <= 0) uses_.erase(it);
  if (uses_.empty()) feed_.set_copying(false);
}

std::shared_ptr<const Picture> Hub::latest(const Variant& v) const {
  std::lock_guard lock(mu_);
  auto it = uses_.find(v);
  return it != uses_.end() ? it->second.latest : nullptr;
}

void Hub::run() {
  app::Jpeg jpeg;
  std::uint64_t seen = 0;
  std::uint64_t version = 1;  // bumped by every new frame or state: what each variant must show
  std::string last_state;
  bool last_live = false;
  constexpr auto kForever = std::chrono::hours(24 * 365);
  while (!stop_.load(std::memory_order_relaxed)) {
    seen = notifier_.wait_past(seen, std::chrono::steady_clock::now() + kForever);
    if (stop_.load(std::memory_order_relaxed)) break;
    const bool fresh = feed_.take_latest();
    const viewer::FeedStatus st = feed_.status();
    const std::uint64_t now = monotonic_ns();
    const viewer::Shot& shot = feed_.front();
    const bool live = st.fatal.empty() && st.banner == viewer::Banner::live && shot.seq != 0 &&
                      shot.generation == st.generation;
    // A picture to show, or the state it would say: a change of either is a new version.
    const std::string state = state_text(st, now);
    if (fresh || live != last_live || state != last_state) ++version;
    last_state = state;
    last_live = live;
    std::vector<Variant> todo;
    {
      std::lock_guard lock(mu_);
      for (const auto& [v, use] : uses_) {
        if (use.version != version) todo.push_back(v);
      }
    }
    for (const Variant& v : todo) {
      std::shared_ptr<const Picture> pic;
      try {
        if (live) pic = encode(shot, v, jpeg);
        if (!pic) {  // not live, or a frame that does not decode
          viewer::FeedStatus shown = st;
          if (live) shown.fatal = "frame " + std::to_string(shot.seq) + " does not decode";
          pic = placeholder(shown, v, jpeg, now);
        }
      } catch (const std::exception& e) {
        spdlog::error("{}: encoding failed: {}", name_, e.what());
        continue;
      }
      encoded_.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard lock(mu_);
        auto it = uses_.find(v);
        if (it == uses_.end()) continue;  // its last client left meanwhile
        it->second.latest = pic;
        it->second.version = version;
      }
      on_picture_(name_, v, pic);
    }
  }
}

}  // namespace shmframe::web
