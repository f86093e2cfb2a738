// viewer/feed.hpp: one stream as the viewer sees it.
//
// A Feed runs one thread that blocks in Reader::wait (bounded, so it notices stop()), copies
// each new frame into a buffer of its own and keeps the copy only if the frame was still
// valid after the copy (else it counts an overrun and drops it): nothing the viewer shows can
// be torn, and the viewer never holds a slot longer than one copy, so display never slows the
// stream. Validated copies go through a triple buffer: the feed thread fills the back buffer,
// swaps it with the middle one under the lock; the display thread swaps the middle one to the
// front when it wants the newest (take_latest) and renders the front without a lock.
//
// Thread contract: start/stop, take_latest, front and status from one display thread; the
// feed thread is internal. Every change (frame, life-cycle event) bumps the Notifier.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core/mat.hpp>
#include <shmframe/format.hpp>
#include <shmframe/reader.hpp>

#include "measure.hpp"

namespace shmframe::viewer {

// A change counter the display thread can block on (headless mode).
class Notifier {
 public:
  void notify() {
    {
      std::lock_guard lock(mu_);
      ++version_;
    }
    cv_.notify_all();
  }
  std::uint64_t version() {
    std::lock_guard lock(mu_);
    return version_;
  }
  // Returns when the version differs from `seen` or at `deadline`; the current version.
  std::uint64_t wait_past(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return version_ != seen; });
    return version_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t version_ = 0;
};

// What the banner over a stream's last frame says.
enum class Banner { waiting, live, lost, closed };

// One validated copy of a frame, ready to draw: the packed RGB and gray formats as they come
// (tight rows), every other format converted to bgr8 by the feed thread (YUV and Bayer through
// cvtColor, jpeg decoded, gray16 mapped through a colormap).
struct Shot {
  cv::Mat pixels;
  PixelFormat pixel_format = PixelFormat::bgr8;   // of `pixels`
  PixelFormat source_format = PixelFormat::bgr8;  // of the stream
  cv::Mat raw;               // the copy as it came, when it was converted (gray16: the values under the mouse)
  cv::Mat storage;           // jpeg: the buffer `raw` views (one row of the slot's capacity, reused)
  bool undecodable = false;  // a jpeg frame that does not decode: drawn as a placeholder
  std::uint16_t depth_min = 0, depth_max = 0;  // gray16: the range the colormap spans
  std::uint64_t seq = 0;
  std::uint64_t generation = 0;
  std::uint64_t capture_ns = 0;
  std::uint64_t commit_ns = 0;
  std::uint64_t taken_ns = 0;  // when wait() returned it
  std::uint64_t ready_ns = 0;  // when the copy was validated
  // Shown as a member of a synchronised set (--sync): the set's spread of capture times.
  std::optional<std::uint64_t> set_spread_ns;
};

struct FeedStatus {
  Banner banner = Banner::waiting;
  std::uint64_t generation = 0;
  FrameFormat format{0, 0, PixelFormat::bgr8, 0};
  pid_t producer_pid = 0;
  std::uint64_t lost_at_ns = 0;   // the producer's last sign of life (heartbeat) before it was lost
  std::uint64_t frames = 0;       // validated copies kept
  std::uint64_t drops = 0;        // committed frames this viewer never took (it was busy or late)
  std::uint64_t overruns = 0;     // copies dropped because the producer overwrote the slot meanwhile
  std::uint64_t undecodable = 0;  // jpeg frames that did not decode (shown as a placeholder)
  std::uint64_t last_seq = 0;
  std::uint64_t last_frame_ns = 0;
  double fps = 0;                     // over the last full second
  double handoff_ms = 0;              // of the newest frame: commit -> taken by the viewer
  double e2e_ms = 0;                  // of the newest frame: capture -> validated copy ready to show
  std::uint64_t shmframe_cpu_ns = 0;  // feed thread CPU inside shmframe calls (wait, copy, validate)
  LatencyHistogram handoff, e2e;      // since start
  std::string fatal;                  // non-empty: the stream cannot be used (the message names the fix)
};

// How the feed turns frames into pictures.
struct Display {
  // gray16: the values the colormap spans; min == max == 0: each frame's own min and max.
  std::uint16_t depth_min = 0;
  std::uint16_t depth_max = 0;
  // false: jpeg and YUV frames stay as they come (Shot::raw, in cv_view()'s shape; pixels empty)
  // for a viewer that encodes them itself (shmframe-web); Bayer and gray16 are still converted.
  bool decode_compressed_and_yuv = true;
};

class Feed {
 public:
  // `frame_limit` != 0: keep only the first `frame_limit` frames (then the last one stays shown).
  // `reader`: the stream's ReaderOptions (wait policy, access; its log is the app's).
  Feed(std::string name, std::uint64_t frame_limit, Notifier& notifier, ReaderOptions reader = {},
       Display display = {});
  ~Feed();  // stop()
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  void start();
  void stop();  // returns at once: ends the feed thread's wait (Reader::interrupt())
  const std::string& name() const { return name_; }

  // Any thread: whether every frame is copied (the default), or only counted (fps, seq,
  // hand-off, drops) with one copy a second. A viewer that shows nothing for a while
  // (shmframe-web without clients of a stream) turns copying off, so an unwatched 1080p stream
  // costs one copy a second, not one a frame, and a client that comes back still gets a picture
  // at once.
  // relaxed: the feed thread sees the change by its next frame at the latest.
  void set_copying(bool on);

  // Display thread: makes the newest validated copy the front one; true if it changed.
  bool take_latest();
  // The front copy (empty pixels before the first frame). Valid until the next take_latest.
  const Shot& front() const { return shots_[front_]; }
  FeedStatus status() const;
  // The state changes since the last call, oldest first, as lines for people ("live:
  // generation 2, 640x480 bgr8, producer pid 42", "producer lost (pid 42, 0.2 s ago)", ...).
  std::vector<std::string> take_changes();

  // A feed driven from outside instead of by its own thread (the members of a synchronised set,
  // viewer/sync_feed.hpp): start() is not called; one driving thread hands over this stream's
  // events (`info`: the stream's, for attached and producer_lost) and frames (`set_spread_ns`:
  // of the set the frame belongs to). False when the stream cannot be used (status().fatal).
  // A frame handed over with a set's spread is copied and validated but not shown yet: prepared()
  // says whether it is ready (a valid copy), publish() makes it the newest shot. The driver
  // publishes a set only when every member is prepared.
  void announce_waiting();
  bool drive(Event& ev, const StreamInfo& info, std::optional<std::uint64_t> set_spread_ns);
  bool prepared() const;
  void publish();

 private:
  void run();
  void loop();
  // One event of the stream, from loop() or drive(); false when fatal.
  bool handle(Event& ev, const StreamInfo& info, std::uint64_t cpu0, std::optional<std::uint64_t> set_spread_ns);
  void set_banner(Banner b, FeedStatus& s, std::uint64_t now);  // under mu_
  // Feed thread: counts a frame (if `counted`) in the fps window at `now`; the window's fps when
  // a second has passed (then a new window starts), else -1.
  double fps_tick(std::uint64_t now, bool counted);
  template <class F>
  void update(F&& f);

  std::string name_;
  std::uint64_t frame_limit_;
  ReaderOptions reader_options_;
  Display display_;
  Notifier& notifier_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> copying_{true};
  static constexpr std::uint64_t kIdleCopyPeriodNs = 1'000'000'000;
  std::uint64_t last_copy_ns_ = 0;  // feed thread only
  std::uint64_t kept_ = 0;          // feed thread only: frames kept (frame_limit)
  std::optional<Reader> reader_;    // made by start() before the thread; used by it, interrupted by stop()
  std::thread thread_;

  mutable std::mutex mu_;
  FeedStatus status_;                 // guarded by mu_
  std::vector<std::string> changes_;  // guarded by mu_
  // Triple buffer: back_ is the feed thread's, front_ the display thread's, middle_ changes
  // hands under mu_ (fresh_ says it holds a copy the display has not taken yet).
  std::array<Shot, 3> shots_;
  int back_ = 0, middle_ = 1, front_ = 2;
  bool fresh_ = false;
  bool prepared_ = false;                                       // a set member's copy in back_, waiting for publish()
  std::uint64_t fps_window_start_ = 0, fps_window_frames_ = 0;  // feed thread only
};

}  // namespace shmframe::viewer
