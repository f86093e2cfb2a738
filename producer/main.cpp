// shmframe-producer: publishes frames from a source into a shared-memory stream.
#include <spdlog/spdlog.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

#include "app.hpp"
#include "sources.hpp"

namespace {

using shmframe::app::g_stop;

// --phase-lock: the first instant at or after `now` that is `offset` past a multiple of `period`
// on CLOCK_MONOTONIC. Producers on one host with the same period and offset tick together.
std::uint64_t next_tick(std::uint64_t now, std::uint64_t period, std::uint64_t offset) {
  const std::uint64_t base = now > offset ? now - offset : 0;
  return (base + period - 1) / period * period + offset;
}

// Sleeps until an absolute CLOCK_MONOTONIC time; returns early on a signal.
void sleep_until(std::uint64_t t_ns) {
  timespec ts{static_cast<time_t>(t_ns / 1'000'000'000ull), static_cast<long>(t_ns % 1'000'000'000ull)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "shmframe-producer: publish video frames into a shared-memory stream that consumers read without copying.\n"
      "Example: shmframe-producer --name cam0 --source test --width 1280 --height 720 --fps 30"};
  std::string name = "cam0";
  shmframe::producer::SourceOptions src;
  std::string format_name = "bgr8";
  std::uint64_t max_payload = 0;
  std::string mode_text = "0600";
  double fps = -1;
  std::uint64_t frames = 0;
  std::uint32_t slots = 2, max_consumers = 32, heartbeat_ms = 100, stride_align = 1, max_block_ms = 100;
  std::uint32_t demotion_window_ms = 1000;
  bool verbose = false;
  bool phase_lock = false;
  double phase_offset_ms = 0;
  cli.add_option("-n,--name", name, "Stream name ([A-Za-z0-9_.-], 1-64 chars); lives in /dev/shm/shmframe.NAME")
      ->check(shmframe::app::StreamNameValidator())
      ->capture_default_str();
  cli.add_option("-s,--source", src.spec, "test (moving test pattern) | file:PATH | camera:N | gst:PIPELINE")
      ->capture_default_str();
  cli.add_option("--width", src.width, "Frame width (test pattern: default 640; others: resize to it)")
      ->check(CLI::Range(1u, shmframe::kMaxDimension));
  cli.add_option("--height", src.height, "Frame height (test pattern: default 480; others: resize to it)")
      ->check(CLI::Range(1u, shmframe::kMaxDimension));
  cli.add_option("--fps", fps,
                 "Frames per second; 0 = as fast as possible (default: 30 for test, the file's own rate otherwise)")
      ->check(CLI::Range(0.0, 100000.0));
  cli.add_option("--format", format_name,
                 "Pixel format: " + shmframe::pixel_format_names() +
                     " (the test pattern draws every one; jpeg encodes it; file:/camera: sources take bgr8, rgb8, "
                     "bgra8, rgba8 or gray8)")
      ->check(shmframe::app::PixelFormatValidator())
      ->capture_default_str();
  cli.add_option("--max-payload", max_payload,
                 "jpeg: the most bytes a frame may take (each slot's size; a larger JPEG is not published, with a "
                 "warning). Default: width * height * 2")
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 31));
  cli.add_option("--slots", slots,
                 "Frame slots in the segment (2 = double buffering; more let slow zero-copy readers keep frames)")
      ->check(CLI::Range(1u, shmframe::kMaxSlots))
      ->capture_default_str();
  cli.add_option("--stride-align", stride_align,
                 "Pad every row to a multiple of N bytes (a power of two; 1 = tight rows, 64 = cache-line rows)")
      ->check(CLI::IsMember({1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u}))
      ->capture_default_str();
  cli.add_option("--frames", frames, "Stop after COUNT frames and exit 0 (0 = run until Ctrl-C or end of file)")
      ->capture_default_str();
  cli.add_option("--mode", mode_text,
                 "Permissions of the segment (octal, must include 0600; 0660 shares with the group)")
      ->capture_default_str();
  cli.add_option("--max-consumers", max_consumers, "Consumer table size")
      ->check(CLI::Range(1u, shmframe::kMaxConsumers))
      ->capture_default_str();
  cli.add_option("--heartbeat-ms", heartbeat_ms,
                 "Heartbeat period; consumers declare the producer lost after ~3 missed beats")
      ->check(CLI::Range(static_cast<std::uint32_t>(shmframe::kMinHeartbeat.count()),
                         static_cast<std::uint32_t>(shmframe::kMaxHeartbeat.count())))
      ->capture_default_str();
  cli.add_option("--max-block-ms", max_block_ms,
                 "Wait at most this long for a --lossless consumer to take a frame before overwriting it; then it is "
                 "demoted to lossy until it catches up (0 = never wait)")
      ->check(CLI::Range(0u, static_cast<std::uint32_t>(shmframe::kMaxMaxBlock.count())))
      ->capture_default_str();
  cli.add_option("--demotion-window-ms", demotion_window_ms,
                 "After demoting a lossless consumer, wait for it again only once it has caught up and this long has "
                 "passed: a slow or hostile one costs at most one --max-block-ms per window (0 = once caught up)")
      ->check(CLI::Range(0u, static_cast<std::uint32_t>(shmframe::kMaxDemotionWindow.count())))
      ->capture_default_str();
  std::string camera_format;
  cli.add_option("--camera-format", camera_format,
                 "camera:N only: ask the camera for its own format and publish its bytes as they come, no conversion "
                 "(through GStreamer's v4l2src): mjpeg, yuyv, nv12, gray8, gray16, a Bayer order, ...; --format is "
                 "then ignored")
      ->check([](const std::string& v) -> std::string {
        if (v == "mjpeg" || shmframe::parse_pixel_format(v)) return {};
        return "unknown camera format '" + v + "': use mjpeg or one of " + shmframe::pixel_format_names();
      });
  cli.add_flag("--phase-lock", phase_lock,
               "Start each frame on a multiple of the frame period on CLOCK_MONOTONIC, as a hardware trigger does, and "
               "stamp it with that instant: producers on this host with the same --fps then capture together (for "
               "synchronised sets, shmframe-consumer --sync)");
  cli.add_option("--phase-offset-ms", phase_offset_ms,
                 "With --phase-lock: tick this many ms after each multiple of the period (0 <= MS < period): one "
                 "camera out of step with another, to try a sync tolerance")
      ->check(CLI::Range(0.0, 100000.0))
      ->needs("--phase-lock");
  cli.add_flag("--loop", src.loop, "Restart a file source at its end instead of stopping");
  cli.add_flag("-v,--verbose", verbose, "Debug logging");
  mode_t mode = shmframe::kDefaultMode;
  try {
    cli.parse(argc, argv);
    mode = shmframe::app::parse_mode(mode_text);
    if ((src.width == 0) != (src.height == 0)) throw CLI::ValidationError("--width/--height", "give both or neither");
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }
  src.pixel_format = *shmframe::parse_pixel_format(format_name);
  src.max_payload = max_payload;
  if (!camera_format.empty()) {
    src.camera_format = camera_format == "mjpeg" ? shmframe::PixelFormat::jpeg
                                                 : *shmframe::parse_pixel_format(camera_format);
    if (src.spec.rfind("camera:", 0) != 0) {
      std::fprintf(stderr, "shmframe-producer: --camera-format is for --source camera:N\n");
      return 2;
    }
  }

  shmframe::app::setup_logging("producer", verbose);
  shmframe::app::install_signal_handlers();

  try {
    auto source = shmframe::producer::make_source(src);
    if (fps < 0) fps = source->paced() ? 0.0 : source->natural_fps() > 0 ? source->natural_fps() : 30.0;
    if (phase_lock && (fps <= 0 || source->paced())) {
      spdlog::error(
          "--phase-lock needs a frame rate to lock to: give --fps > 0 (with a source that does not pace "
          "itself: test or file:)");
      return 2;
    }
    if (phase_lock && phase_offset_ms * 1e6 >= 1e9 / fps) {
      spdlog::error("--phase-offset-ms {:g} is not shorter than the frame period ({:g} ms at {:g} fps)",
                    phase_offset_ms, 1e3 / fps, fps);
      return 2;
    }
    shmframe::WriterOptions wo;
    // The source's format, with the jpeg capacity asked for.
    const auto stream_format = [&](shmframe::FrameFormat f) {
      if (f.compressed()) f.max_payload = max_payload;
      return f;
    };
    wo.format = stream_format(source->format());
    if (max_payload != 0 && !wo.format.compressed()) {
      throw std::runtime_error("--max-payload is for jpeg streams (raw frames take their planes' size)");
    }
    wo.slots = slots;
    wo.stride_align = stride_align;
    wo.max_consumers = max_consumers;
    wo.mode = mode;
    wo.heartbeat = std::chrono::milliseconds(heartbeat_ms);
    wo.max_block = std::chrono::milliseconds(max_block_ms);
    wo.demotion_window = std::chrono::milliseconds(demotion_window_ms);
    wo.log = shmframe::app::library_logger();
    shmframe::Writer writer(name, wo);
    spdlog::info("stream '{}' generation {}: {} ({}) at {} fps, {} slots, /dev/shm/shmframe.{} mode {:04o}", name,
                 writer.generation(), source->describe(), shmframe::to_string(writer.format()),
                 fps > 0 ? fmt::format("{:g}", fps) : std::string("max"), slots, name, mode);

    const std::uint64_t period = fps > 0 ? static_cast<std::uint64_t>(std::llround(1e9 / fps)) : 0;
    const auto offset = static_cast<std::uint64_t>(std::llround(phase_offset_ms * 1e6));
    std::uint64_t next = shmframe::monotonic_ns();
    if (phase_lock) {
      next = next_tick(next, period, offset);
      spdlog::info("phase-locked: ticks at {} ms past each multiple of {:.3f} ms on CLOCK_MONOTONIC", phase_offset_ms,
                   static_cast<double>(period) / 1e6);
    }
    std::uint64_t stat_t0 = next, stat_n0 = 0, count = 0, refused = 0, last_refusal_log = 0;
    while (!g_stop.load(std::memory_order_relaxed) && (frames == 0 || count < frames)) {
      std::uint64_t tick = 0;
      if (period != 0) {
        sleep_until(next);
        if (g_stop.load(std::memory_order_relaxed)) break;
        tick = next;
        next += period;
        const std::uint64_t now = shmframe::monotonic_ns();
        // Fell behind (stopped, slow source): don't burst to catch up; a locked one keeps its phase.
        if (now > next + 4 * period) next = phase_lock ? next_tick(now, period, offset) : now;
      }
      // Phase-locked: the trigger instant, as a triggered camera stamps its frames.
      const std::uint64_t t_capture = phase_lock ? tick : shmframe::monotonic_ns();
      if (!source->grab(count + 1)) {
        spdlog::info("end of {}", source->describe());
        break;
      }
      if (source->format().width != writer.format().width || source->format().height != writer.format().height ||
          source->format().pixel_format != writer.format().pixel_format) {
        spdlog::info("format changed to {}: new generation", shmframe::to_string(source->format()));
        writer.reconfigure(stream_format(source->format()));
      }
      shmframe::WriteSlot slot = writer.acquire();
      if (!slot) throw std::runtime_error("no slot available: " + std::string(shmframe::to_string(slot.status())));
      source->set_seq(slot.seq());  // the test pattern draws the frame's own seq
      source->render(slot);         // in place: the slot's planes, or a JPEG's bytes
      if (const auto c = writer.commit(slot, t_capture); !c) {
        // A JPEG over the capacity is one frame lost, not the stream: say why, at most once a second.
        if (c.status != shmframe::CommitStatus::payload_too_large &&
            c.status != shmframe::CommitStatus::payload_missing)
          throw std::runtime_error("commit failed: " + std::string(shmframe::explain(c.status)));
        ++refused;
        if (shmframe::monotonic_ns() - last_refusal_log >= 1'000'000'000ull) {
          spdlog::warn("frame {} not published ({} so far): {}", count + 1, refused, shmframe::explain(c.status));
          last_refusal_log = shmframe::monotonic_ns();
        }
        continue;
      }
      ++count;
      const std::uint64_t now = shmframe::monotonic_ns();
      if (now - stat_t0 >= 1'000'000'000ull) {
        const auto st = writer.stats();
        std::uint64_t max_lag = 0, drops = 0;
        for (const auto& c : st.consumers) {
          max_lag = std::max(max_lag, c.lag);
          drops += c.drops;
        }
        spdlog::info(
            "seq {} | {:.1f} fps | {} consumer(s), max lag {}, drops {} | forced overwrites {} | lossless: "
            "waited {:.1f} ms in {} waits, demotions {}",
            st.last_seq, static_cast<double>(count - stat_n0) * 1e9 / static_cast<double>(now - stat_t0),
            st.consumers.size(), max_lag, drops, st.forced_overwrites,
            static_cast<double>(st.lossless_blocked_ns) / 1e6, st.lossless_waits, st.lossless_demotions);
        stat_t0 = now;
        stat_n0 = count;
      }
    }
    writer.close();
    if (g_stop.load())
      spdlog::info("signal {}: closed stream '{}' after {} frames", shmframe::app::g_signal.load(), name, count);
    else spdlog::info("closed stream '{}' after {} frames", name, count);
    return 0;
  } catch (const shmframe::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
