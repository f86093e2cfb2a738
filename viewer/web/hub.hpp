// viewer/web/hub.hpp: one stream as shmframe-web serves it. A Feed (the window viewer's: one
// reader thread, validated copies, never a torn picture) and one encoder thread that, for each
// new frame or change of state, encodes the frame once per variant clients use and hands the
// picture to the server (`on_picture`, called on the encoder thread). Adding a client of a variant
// already in use costs no encoding. While no client uses the stream, the feed only counts
// frames, with one copy a second (Feed::set_copying): an unwatched stream costs no copy per frame.
//
// Thread contract: subscribe/unsubscribe/latest/status from any thread (the server's); the
// callbacks run on the encoder thread; the destructor stops both threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "encode.hpp"
#include "feed.hpp"

namespace shmframe::web {

class Hub {
 public:
  using OnPicture = std::function<void(const std::string& stream, const Variant&, std::shared_ptr<const Picture>)>;

  Hub(std::string name, ReaderOptions reader, viewer::Display display, OnPicture on_picture);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  const std::string& name() const { return name_; }
  // A client of `v` comes or goes. The first one of a variant gets a picture of the current
  // frame (or placeholder) at once, through on_picture.
  void subscribe(const Variant& v);
  void unsubscribe(const Variant& v);
  // The newest picture of a variant in use; null for one nobody uses or before its first.
  std::shared_ptr<const Picture> latest(const Variant& v) const;
  viewer::FeedStatus status() const { return feed_.status(); }
  std::uint64_t frames_encoded() const { return encoded_.load(std::memory_order_relaxed); }

 private:
  struct Use {
    int clients = 0;
    std::shared_ptr<const Picture> latest;
    std::uint64_t version = 0;  // of the state it shows (version_ below)
  };
  void run();

  std::string name_;
  OnPicture on_picture_;
  viewer::Notifier notifier_;  // the feed's changes and subscribe()'s pokes
  viewer::Feed feed_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> encoded_{0};
  mutable std::mutex mu_;
  std::map<Variant, Use> uses_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace shmframe::web
