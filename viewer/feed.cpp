#include "feed.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include <opencv2/imgproc.hpp>
#include <shmframe/clock.hpp>
#include <shmframe/opencv_convert.hpp>
#include <shmframe/reader.hpp>

#include "app.hpp"
#include "render.hpp"

namespace shmframe::viewer {

Feed::Feed(std::string name, std::uint64_t frame_limit, Notifier& notifier, ReaderOptions reader, Display display)
    : name_(std::move(name)), frame_limit_(frame_limit), reader_options_(std::move(reader)), display_(display),
      notifier_(notifier) {}

namespace {

// Formats drawn as they come (cv::cvtColor or a copy at draw time, after scaling).
bool drawn_as_is(PixelFormat f) {
  return f == PixelFormat::gray8 || f == PixelFormat::bgr8 || f == PixelFormat::rgb8 || f == PixelFormat::bgra8 ||
         f == PixelFormat::rgba8;
}

// What Display::decode_compressed_and_yuv = false keeps as it comes.
bool kept_raw_for_encoding(PixelFormat f) {
  return f == PixelFormat::jpeg || f == PixelFormat::yuyv || f == PixelFormat::uyvy || f == PixelFormat::nv12 ||
         f == PixelFormat::i420;
}

// gray16 through a colormap over [lo, hi] (the frame's own range when the display gives none).
void colorize_depth(const cv::Mat& raw, const Display& d, Shot& shot) {
  double lo = d.depth_min;
  double hi = d.depth_max;
  if (d.depth_min == 0 && d.depth_max == 0) cv::minMaxLoc(raw, &lo, &hi);
  if (hi <= lo) hi = lo + 1;
  cv::Mat scaled;
  raw.convertTo(scaled, CV_8U, 255.0 / (hi - lo), -lo * 255.0 / (hi - lo));
  cv::applyColorMap(scaled, shot.pixels, cv::COLORMAP_TURBO);
  shot.depth_min = static_cast<std::uint16_t>(lo);
  shot.depth_max = static_cast<std::uint16_t>(std::min(hi, 65535.0));
}

// Turns the validated copy in shot.raw into a picture (outside the frame's hold).
void convert(Shot& shot, const Display& d) {
  if (shot.source_format == PixelFormat::gray16) {
    colorize_depth(shot.raw, d, shot);
  } else {
    shot.undecodable = !to_bgr(shot.raw, shot.source_format, shot.pixels);
  }
  shot.pixel_format = PixelFormat::bgr8;
}

}  // namespace

Feed::~Feed() { stop(); }

void Feed::start() {
  try {
    ReaderOptions ro = reader_options_;
    ro.log = app::library_logger();
    reader_.emplace(name_, ro);
  } catch (const std::exception& e) {  // names are checked before: only an allocation failure
    update([&](FeedStatus& s) { s.fatal = e.what(); });
    return;
  }
  thread_ = std::thread([this] { run(); });
}

void Feed::stop() {
  stop_.store(true, std::memory_order_relaxed);  // relaxed: the interrupt ends the wait; join() orders the rest
  if (reader_) reader_->interrupt();
  if (thread_.joinable()) thread_.join();
}

bool Feed::take_latest() {
  std::lock_guard lock(mu_);
  if (!fresh_) return false;
  std::swap(front_, middle_);
  fresh_ = false;
  return true;
}

std::vector<std::string> Feed::take_changes() {
  std::lock_guard lock(mu_);
  return std::exchange(changes_, {});
}

FeedStatus Feed::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

template <class F>
void Feed::update(F&& f) {
  {
    std::lock_guard lock(mu_);
    f(status_);
  }
  notifier_.notify();
}

double Feed::fps_tick(std::uint64_t now, bool counted) {
  if (fps_window_start_ == 0) fps_window_start_ = now;
  if (counted) ++fps_window_frames_;
  const std::uint64_t window = now - fps_window_start_;
  if (window < 1'000'000'000ull) return -1;
  const double fps = static_cast<double>(fps_window_frames_) * 1e9 / static_cast<double>(window);
  fps_window_start_ = now;
  fps_window_frames_ = 0;
  return fps;
}

void Feed::set_copying(bool on) { copying_.store(on, std::memory_order_relaxed); }

void Feed::run() {
  try {
    loop();
  } catch (const std::exception& e) {  // OpenCV allocation
    update([&](FeedStatus& s) { s.fatal = e.what(); });
  }
}

void Feed::loop() {
  Reader& reader = *reader_;
  update([&](FeedStatus& s) { changes_.push_back(banner_text(s, 0)); });  // "waiting for producer"
  while (!stop_.load(std::memory_order_relaxed)) {
    const std::uint64_t cpu0 = thread_cpu_ns();
    // No timeout: the next event, or stop()'s interrupt.
    Event ev = reader.wait(std::chrono::hours(1));
    if (!handle(ev, reader.info(), cpu0, std::nullopt)) return;
  }
}

void Feed::announce_waiting() {
  update([&](FeedStatus& s) { changes_.push_back(banner_text(s, 0)); });
}

bool Feed::drive(Event& ev, const StreamInfo& info, std::optional<std::uint64_t> set_spread_ns) {
  const std::uint64_t cpu0 = thread_cpu_ns();
  try {
    return handle(ev, info, cpu0, set_spread_ns);
  } catch (const std::exception& e) {  // OpenCV allocation
    update([&](FeedStatus& s) { s.fatal = e.what(); });
    return false;
  }
}

// Called under mu_. "live" is announced with the generation it is about (a new size or format
// comes as a new generation, possibly without any banner in between).
void Feed::set_banner(Banner b, FeedStatus& s, std::uint64_t now) {
  if (s.banner == b && b != Banner::live) return;
  s.banner = b;
  if (b == Banner::live) {
    changes_.push_back(
        fmt::format("live: generation {}, {}, producer pid {}", s.generation, to_string(s.format), s.producer_pid));
  } else {
    changes_.push_back(banner_text(s, now));
  }
}

bool Feed::prepared() const {
  std::lock_guard lock(mu_);
  return prepared_;
}

void Feed::publish() {
  std::lock_guard lock(mu_);
  if (!prepared_) return;
  std::swap(back_, middle_);
  fresh_ = true;
  prepared_ = false;
}

bool Feed::handle(Event& ev, const StreamInfo& info, std::uint64_t cpu0, std::optional<std::uint64_t> set_spread_ns) {
  if (ev.kind == EventKind::timeout || ev.kind == EventKind::interrupted) {
    const std::uint64_t cpu = thread_cpu_ns() - cpu0;
    std::lock_guard lock(mu_);  // nothing to announce: no notify
    status_.shmframe_cpu_ns += cpu;
    return true;
  }
  if (ev.kind != EventKind::frame) {
    const std::uint64_t cpu = thread_cpu_ns() - cpu0;
    const std::uint64_t now = monotonic_ns();
    update([&](FeedStatus& s) {
      s.shmframe_cpu_ns += cpu;
      switch (ev.kind) {
        case EventKind::attached:
          s.generation = info.generation;
          s.format = info.format;
          s.producer_pid = info.writer_pid;
          set_banner(Banner::live, s, now);
          break;
        case EventKind::producer_lost:
          if (info.writer_pid != 0) s.producer_pid = info.writer_pid;
          s.lost_at_ns = now - std::min(now, info.heartbeat_age_ns);
          set_banner(Banner::lost, s, now);
          break;
        case EventKind::closed: set_banner(Banner::closed, s, now); break;
        case EventKind::error:
          // The library says whether waiting on can help (a creator that died: the next
          // producer replaces it), or not (permissions, ABI, corruption).
          if (ev.fatal()) {
            s.fatal = ev.message;
          } else {
            spdlog::warn("{}", ev.message);
          }
          break;
        default: break;
      }
    });
    return !ev.fatal();
  }
  if (frame_limit_ != 0 && kept_ >= frame_limit_) return true;  // ~Event releases the frame at once
  // Nobody wants pictures: statistics only, and one copy a second, so that a viewer that
  // comes back has a recent picture at once (a still or slow stream sends no next frame).
  if (const std::uint64_t now = monotonic_ns();
      !copying_.load(std::memory_order_relaxed) && now - last_copy_ns_ < kIdleCopyPeriodNs) {
    const double fps = fps_tick(now, true);
    const std::uint64_t handoff = now - std::min(now, ev.frame.commit_ns());
    const std::uint64_t seq = ev.frame.seq();
    ev.frame.release();
    const std::uint64_t cpu = thread_cpu_ns() - cpu0;
    update([&](FeedStatus& s) {
      s.shmframe_cpu_ns += cpu;
      s.drops += ev.dropped;
      if (fps >= 0) s.fps = fps;
      if (s.banner != Banner::live) set_banner(Banner::live, s, now);
      s.last_seq = seq;
      s.last_frame_ns = now;
      s.handoff_ms = static_cast<double>(handoff) / 1e6;
      s.handoff.add(handoff);
    });
    return true;
  }

  if (set_spread_ns) {
    std::lock_guard lock(mu_);
    prepared_ = false;
  }
  Shot& shot = shots_[back_];
  shot.taken_ns = monotonic_ns();
  last_copy_ns_ = shot.taken_ns;
  const FrameFormat& fmt = ev.frame.format();
  const bool as_is = drawn_as_is(fmt.pixel_format);
  cv::Mat& copy = as_is ? shot.pixels : shot.raw;
  // Tight, in cv_view()'s shape: rows of the packed formats, the 4:2:0 planes stacked, a JPEG's bytes.
  const int rows = static_cast<int>(fmt.plane_count() > 1 ? fmt.height * 3 / 2 : fmt.height);
  if (fmt.compressed()) {
    // A view of a buffer of the slot's capacity: JPEG sizes change every frame, and a fresh
    // allocation of each (above malloc's mmap threshold) would cost page faults every frame.
    const int capacity = static_cast<int>(std::max<std::uint64_t>(1, fmt.frame_bytes()));
    if (shot.storage.cols < capacity) shot.storage.create(1, capacity, CV_8UC1);
    copy = shot.storage.colRange(
        0, static_cast<int>(std::clamp<std::size_t>(ev.frame.payload_bytes(), 1, static_cast<std::size_t>(capacity))));
  } else {
    copy.create(rows, static_cast<int>(fmt.width), cv_type(fmt.pixel_format));
  }
  const bool valid = ev.frame.copy_to(reinterpret_cast<std::byte*>(copy.data), copy.step[0]);
  shot.source_format = fmt.pixel_format;
  shot.pixel_format = fmt.pixel_format;
  shot.undecodable = false;
  shot.seq = ev.frame.seq();
  shot.generation = ev.frame.generation();
  shot.capture_ns = ev.frame.capture_ns();
  shot.commit_ns = ev.frame.commit_ns();
  shot.set_spread_ns = set_spread_ns;
  ev.frame.release();
  const std::uint64_t cpu = thread_cpu_ns() - cpu0;
  if (valid && !as_is && (display_.decode_compressed_and_yuv || !kept_raw_for_encoding(fmt.pixel_format))) {
    convert(shot, display_);
  } else if (!as_is) {
    shot.pixels.release();  // the raw copy is the picture (Display::decode_compressed_and_yuv)
  }
  shot.ready_ns = monotonic_ns();

  if (valid) ++kept_;
  const double fps = fps_tick(shot.ready_ns, valid);
  const bool window_done = fps >= 0;

  const std::uint64_t handoff = shot.taken_ns - std::min(shot.taken_ns, shot.commit_ns);
  const std::uint64_t e2e = shot.ready_ns - std::min(shot.ready_ns, shot.capture_ns);
  update([&](FeedStatus& s) {
    s.shmframe_cpu_ns += cpu;
    s.drops += ev.dropped;
    if (window_done) s.fps = fps;
    if (!valid) {
      ++s.overruns;
      return;
    }
    if (shot.undecodable) ++s.undecodable;
    // Frames again after a loss without a new generation: the producer was only stopped.
    if (s.banner != Banner::live) set_banner(Banner::live, s, shot.ready_ns);
    ++s.frames;
    s.last_seq = shot.seq;
    s.last_frame_ns = shot.ready_ns;
    s.handoff_ms = static_cast<double>(handoff) / 1e6;
    s.e2e_ms = static_cast<double>(e2e) / 1e6;
    s.handoff.add(handoff);
    s.e2e.add(e2e);
    if (set_spread_ns) {
      prepared_ = true;  // a set's member: shown when the whole set is (publish())
    } else {
      std::swap(back_, middle_);
      fresh_ = true;
    }
  });
  return true;
}

}  // namespace shmframe::viewer
