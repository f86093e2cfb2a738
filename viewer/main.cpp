// shmframe-viewer: shows shared-memory streams live in a window (several tiled in a grid),
// with an overlay of seq, fps and latencies and a banner when a producer is missing, lost or
// gone; or, headless, prints the same statistics once a second. Never slows a stream: each
// stream has a feed thread that copies and validates frames (feed.hpp), and the window shows
// the newest validated copies at display rate.
#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <shmframe/clock.hpp>

#include "app.hpp"
#include "feed.hpp"
#include "render.hpp"
#include "sync_feed.hpp"

namespace {

using namespace shmframe::viewer;
using shmframe::monotonic_ns;
using shmframe::app::g_stop;

constexpr int kUsageError = 2, kFailed = 1, kTimedOut = 3;
constexpr int kGuiTickMs = 10;  // cv::waitKey slice: the GUI event loop and the display rate cap (100 Hz)
// Headless: how often the display thread looks at g_stop. A signal handler cannot notify a
// condition variable; the feeds' own waits need no such check (Feed::stop() interrupts them).
constexpr std::chrono::milliseconds kStopCheck{100};
constexpr std::uint64_t kSecond = 1'000'000'000ull;

struct Options {
  std::vector<std::string> names{"cam0"};
  bool headless = false, exit_on_close = false, verbose = false, no_overlay = false;
  std::string snapshot, stats_json, save_dir = ".";
  std::uint64_t frames = 0, timeout_ms = 0;
  cv::Size max_size{1280, 720};
  shmframe::ReaderOptions reader;             // wait policy, spin limit, access
  Display display;                            // --depth-range
  std::optional<shmframe::SyncOptions> sync;  // --sync: the streams' synchronised sets, tiled together
};

// Lines on stdout are for people and scripts alike: one whole line at a time, flushed.
template <class... Args>
void say(fmt::format_string<Args...> f, Args&&... args) {
  std::fputs((fmt::format(f, std::forward<Args>(args)...) + "\n").c_str(), stdout);
  std::fflush(stdout);
}

double seconds(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

class Viewer {
 public:
  explicit Viewer(Options o) : opt_(std::move(o)), start_ns_(monotonic_ns()), start_cpu_ns_(process_cpu_ns()) {
    for (std::size_t i = 0; i < opt_.names.size(); ++i) {
      // --frames counts the first stream's frames: its feed keeps exactly that many (with --sync,
      // the SyncFeed counts sets instead).
      const std::uint64_t limit = i == 0 && !opt_.sync ? opt_.frames : 0;
      feeds_.push_back(std::make_unique<Feed>(opt_.names[i], limit, notifier_, opt_.reader, opt_.display));
      tick_.emplace_back();
    }
    if (opt_.sync) {
      std::vector<Feed*> members;
      for (auto& f : feeds_) members.push_back(f.get());
      shmframe::SyncOptions so = *opt_.sync;
      so.reader = opt_.reader;
      so.reader.log = shmframe::app::library_logger();
      sync_ = std::make_unique<SyncFeed>(opt_.names, so, members, notifier_, opt_.frames);  // names checked in main()
      sync_->start();
    } else {
      for (auto& f : feeds_) f->start();
    }
  }
  ~Viewer() { stop(); }
  std::string title() const {
    std::string t = "shmframe-viewer: ";
    for (std::size_t i = 0; i < opt_.names.size(); ++i) t += (i != 0 ? ", " : "") + opt_.names[i];
    return t;
  }
  int run_window(const std::string& title);
  int run_headless();
  // Stops the feeds and prints the summary (and writes --stats-json). Idempotent.
  void stop();

 private:
  std::optional<int> check(std::uint64_t now);
  std::vector<Tile> tiles() const;
  // Makes every stream's newest shot the front one (with --sync, one set's); true if any changed.
  bool take_latest();
  std::string sync_line() const;
  bool save_snapshot();
  void save_shown(const cv::Mat& canvas);
  void print_stats(std::uint64_t now);
  void summary();

  Options opt_;
  Notifier notifier_;
  std::vector<std::unique_ptr<Feed>> feeds_;
  std::unique_ptr<SyncFeed> sync_;         // --sync: drives the feeds (after them: destroyed first)
  std::vector<FeedStatus> tick_;           // each stream's status at the last statistics line
  std::uint64_t start_ns_, start_cpu_ns_;  // process start-up (loading OpenCV, Qt) is not the viewer's work
  std::uint64_t tick_ns_ = 0, tick_display_cpu_ns_ = 0;
  std::uint64_t display_cpu_ns_ = 0;  // display thread CPU: conversion, render, imshow, GUI events
  int saved_ = 0;
  bool stopped_ = false;
};

std::vector<Tile> Viewer::tiles() const {
  std::vector<Tile> out;
  for (const auto& f : feeds_) out.push_back(Tile{f->name(), &f->front(), f->status()});
  return out;
}

bool Viewer::take_latest() {
  std::unique_lock<std::mutex> set;
  if (sync_) set = std::unique_lock(sync_->group());
  bool changed = false;
  for (auto& f : feeds_) changed = f->take_latest() || changed;
  return changed;
}

std::string Viewer::sync_line() const {
  const shmframe::SyncStats s = sync_->stats();
  std::string unmatched;
  for (std::size_t i = 0; i < s.unmatched.size(); ++i) {
    unmatched += (i == 0 ? "" : ", ") + opt_.names[i] + " " + std::to_string(s.unmatched[i]);
  }
  return fmt::format(
      "sync: {} sets | unmatched {} | spread p50 {:.3f} p99 {:.3f} ms | set latency p50 {:.3f} p99 {:.3f} "
      "ms | wait {}",
      s.sets, unmatched, s.spread_p50_ms, s.spread_p99_ms, s.latency_p50_ms, s.latency_p99_ms, s.wait);
}

// What both modes do on every wake-up: announce state changes, then decide whether to end.
std::optional<int> Viewer::check(std::uint64_t now) {
  bool all_closed = true;
  std::uint64_t last_frame = start_ns_;
  for (std::size_t i = 0; i < feeds_.size(); ++i) {
    const FeedStatus s = feeds_[i]->status();
    if (!s.fatal.empty()) {
      spdlog::error("{}", s.fatal);
      return kFailed;
    }
    for (const auto& change : feeds_[i]->take_changes()) say("{}: {}", feeds_[i]->name(), change);
    all_closed = all_closed && s.banner == Banner::closed;
    last_frame = std::max(last_frame, s.last_frame_ns);
    const std::uint64_t shown = sync_ ? sync_->shown() : s.frames;  // --frames: sets with --sync
    if (i == 0 && opt_.frames != 0 && shown >= opt_.frames) {
      if (!opt_.snapshot.empty() && !save_snapshot()) return kFailed;
      return 0;
    }
  }
  if (g_stop.load(std::memory_order_relaxed)) return 0;
  if (opt_.exit_on_close && all_closed) return 0;
  // A feed may have taken a frame after `now` was read: no time has passed since then (the
  // unsigned difference would wrap, and the viewer quit at once saying no frame came for T ms).
  const std::uint64_t idle = now > last_frame ? now - last_frame : 0;
  if (opt_.timeout_ms != 0 && idle >= opt_.timeout_ms * 1'000'000ull) {
    spdlog::error("no frame for {} ms from {}: the stream does not exist, or its producer is lost or paused",
                  opt_.timeout_ms, opt_.names.size() == 1 ? "stream '" + opt_.names[0] + "'" : "any stream");
    return kTimedOut;
  }
  return std::nullopt;
}

// --snapshot: the frames as the streams carry them (full size, converted to BGR, no overlay).
bool Viewer::save_snapshot() {
  take_latest();
  const auto t = tiles();
  cv::Mat canvas;
  const std::uint64_t cpu0 = thread_cpu_ns();
  // Full size unless that canvas is absurd (a 32768x1 and a 1x32768 stream tile into 65536x32768,
  // 6 GiB): then scaled down, aspect kept, and said so.
  const cv::Size native = native_cell(t);
  const cv::Size cell = snapshot_cell(t, kMaxSnapshotPixels);
  if (cell != native) {
    const cv::Size grid = grid_for(t.size());
    say("snapshot scaled: the full-size canvas would be {}x{} pixels; scaled to {}x{} (at most {} Mpixels)",
        static_cast<std::uint64_t>(native.width) * grid.width, static_cast<std::uint64_t>(native.height) * grid.height,
        cell.width * grid.width, cell.height * grid.height, kMaxSnapshotPixels >> 20);
  }
  compose(t, cell, RenderOptions{false, false, false, monotonic_ns()}, canvas);
  bool ok = false;
  try {
    ok = cv::imwrite(opt_.snapshot, canvas);
  } catch (const cv::Exception& e) {
    spdlog::error("{}", e.what());
  }
  display_cpu_ns_ += thread_cpu_ns() - cpu0;
  if (!ok) {
    spdlog::error("cannot write the snapshot '{}': check that its directory is writable", opt_.snapshot);
    return false;
  }
  say("snapshot: {} ({}x{}, seq {} of '{}')", opt_.snapshot, canvas.cols, canvas.rows, t[0].shot->seq, t[0].name);
  return true;
}

// The `s` key: the window's picture as shown (scaled, overlay and banners included).
void Viewer::save_shown(const cv::Mat& canvas) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string names;
  for (const auto& n : opt_.names) names += (names.empty() ? "" : "+") + n;
  const auto path =
      (std::filesystem::path(opt_.save_dir) / fmt::format("shmframe-{}-{}-{}.png", names, stamp, ++saved_)).string();
  bool ok = false;
  try {
    ok = cv::imwrite(path, canvas);
  } catch (const cv::Exception& e) {
    spdlog::error("{}", e.what());
  }
  if (ok) {
    say("saved {}", path);
  } else {
    spdlog::error("cannot write '{}': check that --save-dir is writable", path);
  }
}

void Viewer::print_stats(std::uint64_t now) {
  const double window = seconds(now - (tick_ns_ != 0 ? tick_ns_ : start_ns_));
  const double display_ms = static_cast<double>(display_cpu_ns_ - tick_display_cpu_ns_) / 1e6 / window;
  for (std::size_t i = 0; i < feeds_.size(); ++i) {
    const FeedStatus s = feeds_[i]->status();
    const FeedStatus& t = tick_[i];
    const LatencyHistogram handoff = s.handoff.since(t.handoff), e2e = s.e2e.since(t.e2e);
    const std::string banner = banner_text(s, now);
    say("{} gen {} seq {} {} | {:.1f} fps | hand-off p50 {:.3f} p99 {:.3f} ms | e2e p50 {:.3f} p99 {:.3f} ms | drops "
        "{} overruns {} | "
        "cpu shmframe {:.2f} ms/s display {:.2f} ms/s{}",
        feeds_[i]->name(), s.generation, s.last_seq, s.format.width != 0 ? shmframe::to_string(s.format) : "-",
        static_cast<double>(s.frames - t.frames) / window, handoff.percentile_ms(50), handoff.percentile_ms(99),
        e2e.percentile_ms(50), e2e.percentile_ms(99), s.drops, s.overruns,
        static_cast<double>(s.shmframe_cpu_ns - t.shmframe_cpu_ns) / 1e6 / window, display_ms,
        banner.empty() ? "" : " | " + banner);
    tick_[i] = s;
  }
  if (sync_) say("{}", sync_line());
  tick_ns_ = now;
  tick_display_cpu_ns_ = display_cpu_ns_;
}

int Viewer::run_headless() {
  auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  std::uint64_t version = notifier_.version();
  for (;;) {
    const std::uint64_t cpu0 = thread_cpu_ns();
    if (auto rc = check(monotonic_ns())) return *rc;
    if (std::chrono::steady_clock::now() >= next_tick) {
      print_stats(monotonic_ns());
      next_tick += std::chrono::seconds(1);
    }
    display_cpu_ns_ += thread_cpu_ns() - cpu0;
    version = notifier_.wait_past(version, std::min(next_tick, std::chrono::steady_clock::now() + kStopCheck));
  }
}

int Viewer::run_window(const std::string& title) {
  bool overlay = !opt_.no_overlay, paused = false;
  cv::Mat canvas;
  cv::Size shown(0, 0);
  // The pointer, in canvas pixels: the overlay shows the gray16 value under it.
  cv::Point mouse(-1, -1);
  cv::setMouseCallback(
      title, [](int, int x, int y, int, void* p) { *static_cast<cv::Point*>(p) = cv::Point(x, y); }, &mouse);
  std::uint64_t last_render = 0, next_tick = monotonic_ns() + kSecond;
  for (;;) {
    const std::uint64_t cpu0 = thread_cpu_ns();
    bool changed = false;
    if (!paused) changed = take_latest();
    const std::uint64_t now = monotonic_ns();
    if (auto rc = check(now)) return *rc;
    if (opt_.verbose && now >= next_tick) {
      print_stats(now);
      next_tick += kSecond;
    }
    // New frames are drawn as they come (at most once per GUI tick); banners ("T s ago") and
    // the overlay's fps at least a few times a second.
    if (changed || now - last_render >= kSecond / 4) {
      const auto t = tiles();
      compose(t, fitted_cell(t, opt_.max_size), RenderOptions{overlay, true, paused, now, mouse}, canvas);
      if (canvas.size() != shown) {  // first frame or a new generation's size: the window follows
        cv::resizeWindow(title, canvas.cols, canvas.rows);
        shown = canvas.size();
      }
      cv::imshow(title, canvas);
      last_render = now;
    }
    const int key = cv::waitKey(kGuiTickMs);
    display_cpu_ns_ += thread_cpu_ns() - cpu0;
    switch (key & 0xff) {
      case 'q':
      case 27: return 0;
      case ' ':
        paused = !paused;
        last_render = 0;
        break;
      case 'o':
        overlay = !overlay;
        last_render = 0;
        break;
      case 's': save_shown(canvas); break;
      default: break;
    }
    // The user closed the window (GTK reports 0 once it is gone).
    if (key == -1 && cv::getWindowProperty(title, cv::WND_PROP_VISIBLE) == 0) return 0;
  }
}

void Viewer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (sync_) sync_->stop();
  for (auto& f : feeds_) f->stop();
  summary();
}

void Viewer::summary() {
  const std::uint64_t now = monotonic_ns(), process_cpu = process_cpu_ns() - start_cpu_ns_;
  const double run = seconds(now - start_ns_);
  std::uint64_t shmframe_cpu = 0;
  nlohmann::ordered_json streams = nlohmann::ordered_json::array();
  for (const auto& f : feeds_) {
    const FeedStatus s = f->status();
    shmframe_cpu += s.shmframe_cpu_ns;
    const double fps = run > 0 ? static_cast<double>(s.frames) / run : 0;
    say("summary: {} frames {} in {:.1f} s ({:.1f} fps) | drops {} overruns {} undecodable {} | hand-off p50 {:.3f} "
        "p99 {:.3f} ms | e2e p50 {:.3f} p99 {:.3f} ms",
        f->name(), s.frames, run, fps, s.drops, s.overruns, s.undecodable, s.handoff.percentile_ms(50),
        s.handoff.percentile_ms(99), s.e2e.percentile_ms(50), s.e2e.percentile_ms(99));
    streams.push_back({{"name", f->name()},
                       {"frames", s.frames},
                       {"fps", fps},
                       {"drops", s.drops},
                       {"overruns", s.overruns},
                       {"undecodable", s.undecodable},
                       {"generation", s.generation},
                       {"last_seq", s.last_seq},
                       {"handoff_ms", {{"p50", s.handoff.percentile_ms(50)}, {"p99", s.handoff.percentile_ms(99)}}},
                       {"e2e_ms", {{"p50", s.e2e.percentile_ms(50)}, {"p99", s.e2e.percentile_ms(99)}}},
                       {"shmframe_cpu_s", seconds(s.shmframe_cpu_ns)}});
  }
  const double share = process_cpu != 0 ? static_cast<double>(shmframe_cpu) / static_cast<double>(process_cpu) : 0;
  say("summary: cpu {:.3f} s in {:.1f} s: shmframe (wait, copy, validate) {:.3f} s, display (convert, render, show) "
      "{:.3f} s, "
      "other (GUI toolkit, logging) {:.3f} s; shmframe share of viewer CPU {:.1f}%",
      seconds(process_cpu), run, seconds(shmframe_cpu), seconds(display_cpu_ns_),
      seconds(process_cpu - std::min(process_cpu, shmframe_cpu + display_cpu_ns_)), share * 100);
  if (sync_) say("summary: {}", sync_line());
  if (opt_.stats_json.empty()) return;
  nlohmann::ordered_json j = {{"duration_s", run},
                              {"streams", streams},
                              {"cpu",
                               {{"process_s", seconds(process_cpu)},
                                {"shmframe_s", seconds(shmframe_cpu)},
                                {"display_s", seconds(display_cpu_ns_)},
                                {"shmframe_share", share}}}};
  if (sync_) {
    const shmframe::SyncStats st = sync_->stats();
    nlohmann::ordered_json unmatched = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < st.unmatched.size(); ++i) unmatched[opt_.names[i]] = st.unmatched[i];
    j["sync"] = {{"sets", st.sets},
                 {"unmatched", unmatched},
                 {"spread_ms", {{"p50", st.spread_p50_ms}, {"p99", st.spread_p99_ms}}},
                 {"latency_ms", {{"p50", st.latency_p50_ms}, {"p99", st.latency_p99_ms}}},
                 {"wait", st.wait}};
  }
  std::ofstream out(opt_.stats_json);
  out << j.dump(2) << "\n";
  if (!out) spdlog::error("cannot write --stats-json '{}': check that its directory is writable", opt_.stats_json);
}

// Debian's highgui is Qt's, and Qt aborts the process when it cannot connect to the display.
// So ask the X server first, the way Qt's xcb platform plugin will (xcb_connect: the same
// display parsing and authorization). libxcb is loaded already (Qt needs it): dlopen only
// finds it, and the viewer needs no X development package to build.
std::string x_display_problem() {
  void* xcb = dlopen("libxcb.so.1", RTLD_NOW | RTLD_LOCAL);
  if (xcb == nullptr) return "libxcb.so.1 is missing";
  using Connect = void* (*)(const char*, int*);
  using HasError = int (*)(void*);
  using Disconnect = void (*)(void*);
  const auto connect = reinterpret_cast<Connect>(dlsym(xcb, "xcb_connect"));
  const auto has_error = reinterpret_cast<HasError>(dlsym(xcb, "xcb_connection_has_error"));
  const auto disconnect = reinterpret_cast<Disconnect>(dlsym(xcb, "xcb_disconnect"));
  std::string problem;
  if (connect == nullptr || has_error == nullptr || disconnect == nullptr) {
    problem = "libxcb.so.1 lacks xcb_connect";
  } else {
    void* c = connect(nullptr, nullptr);
    if (has_error(c) != 0)
      problem = "cannot connect to the X server (not running, or not authorized: check $DISPLAY and $XAUTHORITY)";
    disconnect(c);
  }
  dlclose(xcb);
  return problem;
}

// A window if there is a display and highgui can open one on it; else headless, saying why.
bool open_window(const std::string& title) {
  const char* display = std::getenv("DISPLAY");
  if (display == nullptr || *display == '\0') {
    std::fprintf(stderr, "shmframe-viewer: no display ($DISPLAY is not set): running headless\n");
    return false;
  }
  if (const std::string problem = x_display_problem(); !problem.empty()) {
    std::fprintf(stderr, "shmframe-viewer: no window on display '%s': %s; running headless\n", display,
                 problem.c_str());
    return false;
  }
  try {
    cv::namedWindow(title, cv::WINDOW_NORMAL | cv::WINDOW_KEEPRATIO | cv::WINDOW_GUI_NORMAL);
    return true;
  } catch (const cv::Exception& e) {
    std::fprintf(stderr, "shmframe-viewer: cannot open a window on display '%s' (%s): running headless\n", display,
                 e.what());
    return false;
  }
}

cv::Size parse_size(const std::string& text) {
  unsigned w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%u%c%u%c", &w, &x, &h, &extra) != 3 || x != 'x' || w < 16 || h < 16 || w > 16384 ||
      h > 16384) {
    throw CLI::ValidationError("--max-size",
                               "'" + text + "' is not WIDTHxHEIGHT with both in 16..16384, e.g. 1280x720");
  }
  return {static_cast<int>(w), static_cast<int>(h)};
}

Display parse_depth_range(const std::string& text) {
  unsigned lo = 0, hi = 0;
  char colon = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%u%c%u%c", &lo, &colon, &hi, &extra) != 3 || colon != ':' || lo >= hi || hi > 65535) {
    throw CLI::ValidationError("--depth-range",
                               "'" + text +
                                   "' is not MIN:MAX with 0 <= MIN < MAX <= 65535, e.g. 300:4000 (millimetres "
                                   "of a Z16 depth camera)");
  }
  return {static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "shmframe-viewer: show shared-memory video streams live, several tiled in one window, with an overlay of\n"
      "seq, fps, hand-off and end-to-end latency and drops, and a banner when a producer is missing, lost or closed.\n"
      "Keys: q/Esc quit, space pause, s save the shown picture as PNG, o overlay on/off.\n"
      "Without a display (or with --headless) it prints the statistics once a second instead.\n"
      "Examples: shmframe-viewer --name cam0 --name cam1\n"
      "          shmframe-viewer --name left --name right --sync exact   (one set's frames, with their spread)\n"
      "          shmframe-viewer --name cam0 --snapshot frame.png --frames 10"};
  Options opt;
  std::string max_size = "1280x720";
  // CLI11 alone would read "-1" into an unsigned as 2^64-1 (wait forever).
  const CLI::Validator count(
      [](const std::string& v) -> std::string {
        return !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos
                   ? ""
                   : "'" + v + "' is not a whole number >= 0";
      },
      "COUNT");
  cli.add_option("-n,--name", opt.names, "Stream name; repeat for several streams tiled in one window (default cam0)")
      ->check(shmframe::app::StreamNameValidator())
      ->type_size(1)
      ->expected(1, 64);
  shmframe::app::SyncArgs sync_args;
  shmframe::app::add_sync_options(cli, sync_args,
                                  "the window tiles the members of one set, with the set's spread in the overlay");
  cli.add_flag("--headless", opt.headless,
               "No window: print statistics once a second per stream and every state change");
  cli.add_option("--snapshot", opt.snapshot,
                 "Save the --frames N-th frame of the first stream (all streams tiled if several; full size, no "
                 "overlay) as a PNG and exit 0")
      ->check([](const std::string& p) -> std::string {
        const std::filesystem::path path(p);
        if (path.extension() != ".png") return "'" + p + "' must end in .png (snapshots are PNG files)";
        const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
        if (!std::filesystem::is_directory(dir))
          return "directory '" + dir.string() + "' does not exist: create it first";
        return {};
      });
  cli.add_option("--frames", opt.frames, "Exit 0 after the first stream's N-th frame (with --snapshot: default 1)")
      ->check(count);
  cli.add_option("--timeout-ms", opt.timeout_ms, "Exit 3 when no frame arrives for T ms (0 = wait forever)")
      ->check(count)
      ->capture_default_str();
  cli.add_flag("--exit-on-close", opt.exit_on_close, "Exit 0 when every stream is closed by its producer");
  cli.add_option("--stats-json", opt.stats_json,
                 "At exit, write frames, fps, drops, latency p50/p99 and the CPU split as JSON to PATH");
  cli.add_option("--save-dir", opt.save_dir, "Where the s key saves pictures")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  cli.add_option("--max-size", max_size,
                 "Largest window picture WIDTHxHEIGHT; frames are scaled down to fit, aspect kept")
      ->capture_default_str();
  shmframe::app::add_wait_options(cli, opt.reader.wait, opt.reader.spin_limit);
  shmframe::app::add_access_option(cli, opt.reader.access);
  shmframe::app::add_expect_owner_option(cli, opt.reader.expect_owner);
  std::string depth_range;
  cli.add_option("--depth-range", depth_range,
                 "gray16 streams (depth): the values the colormap spans, MIN:MAX (default: each frame's own min and "
                 "max); the overlay shows the value under the mouse");
  cli.add_flag("--no-overlay", opt.no_overlay, "Start with the overlay off (o toggles it)");
  cli.add_flag("-v,--verbose", opt.verbose, "Debug logging; statistics lines in window mode too");
  try {
    cli.parse(argc, argv);
    opt.max_size = parse_size(max_size);
    if (!depth_range.empty()) opt.display = parse_depth_range(depth_range);
    for (std::size_t i = 0; i < opt.names.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (opt.names[i] == opt.names[j])
          throw CLI::ValidationError("--name", "stream '" + opt.names[i] + "' is given twice; name each stream once");
      }
    }
    if (!opt.snapshot.empty() && opt.frames == 0) opt.frames = 1;
    opt.sync = shmframe::app::sync_options(sync_args, opt.names);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return kUsageError;
  }
  shmframe::app::setup_logging("viewer", opt.verbose);
  shmframe::app::install_signal_handlers();

  Viewer viewer(opt);
  const std::string title = viewer.title();
  const bool window = !opt.headless && open_window(title);
  int rc = kFailed;
  try {
    rc = window ? viewer.run_window(title) : viewer.run_headless();
  } catch (const std::exception& e) {  // OpenCV (highgui, imgproc) reports trouble by throwing
    spdlog::error("{}", e.what());
  }
  viewer.stop();
  if (window) cv::destroyAllWindows();
  return rc;
}
