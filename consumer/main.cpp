// shmframe-consumer: attaches to a stream and runs a processor on every frame.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <shmframe/shmframe.hpp>

#include "app.hpp"
#include "processors.hpp"

namespace {

using shmframe::app::g_stop;
using shmframe::monotonic_ns;

int print_status(const std::vector<std::string>& names) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int rc = 0;
  for (const auto& n : names) {
    try {
      const auto s = shmframe::inspect(n);
      nlohmann::ordered_json consumers = nlohmann::ordered_json::array();
      for (const auto& c : s.consumers) {
        consumers.push_back({{"entry", c.entry}, {"pid", c.pid}, {"last_seq", c.last_seq}, {"lag", c.lag}, {"frames", c.frames}, {"drops", c.drops},
                             {"overruns", c.overruns}, {"heartbeat_age_ns", c.heartbeat_age_ns}, {"held_slots", c.held_slots}});
      }
      out.push_back({{"name", s.name}, {"state", s.state}, {"generation", s.info.generation},
                     {"width", s.info.format.width}, {"height", s.info.format.height},
                     {"format", std::string(shmframe::to_string(s.info.format.pixel_format))},
                     {"stride", s.info.format.effective_stride()}, {"slots", s.info.slots},
                     {"producer_pid", s.info.writer_pid}, {"owner_uid", s.info.owner_uid}, {"producer_alive", s.producer_alive}, {"last_seq", s.info.last_seq},
                     {"heartbeat_age_ns", s.info.heartbeat_age_ns}, {"forced_overwrites", s.forced_overwrites},
                     {"consumers_reaped", s.consumers_reaped}, {"consumers", consumers}});
    } catch (const shmframe::Error& e) {
      out.push_back({{"name", n}, {"error", e.what()}});
      rc = 1;
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"shmframe-consumer: attach to a shared-memory video stream and process its frames without copying.\n"
               "Waits for the stream to appear, follows producer restarts and format changes.\n"
               "Example: shmframe-consumer --name cam0 --processor probe --frames 100"};
  std::string name = "cam0";
  std::string processor = "stats";
  std::uint64_t frames = 0;
  std::uint64_t timeout_ms = 0;
  bool every_frame = false, exit_on_close = false, verbose = false, status = false, list = false;
  std::uint32_t ready_timeout_ms = 2000;
  cli.add_option("-n,--name", name, "Stream name")->check(shmframe::app::StreamNameValidator())->capture_default_str();
  cli.add_option("-p,--processor", processor,
                 "probe: one JSON object per frame/event on stdout (seq, latency, crc32 of the pixels...)\n"
                 "stats: a live line per second (fps, latency, drops)")
      ->check(CLI::IsMember({"probe", "stats"}))
      ->capture_default_str();
  cli.add_option("--frames", frames, "Exit 0 after COUNT frames (0 = run until Ctrl-C)")->capture_default_str();
  cli.add_option("--timeout-ms", timeout_ms, "Give up (exit 3) when no frame arrives for T ms (0 = wait forever)")->capture_default_str();
  cli.add_option("--ready-timeout-ms", ready_timeout_ms, "How long a stream may stay initializing before it is reported")
      ->capture_default_str();
  cli.add_flag("--every-frame", every_frame, "Take every frame still held by a slot instead of jumping to the newest");
  cli.add_flag("--exit-on-close", exit_on_close, "Exit 0 when the producer closes the stream instead of waiting for a new one");
  cli.add_flag("--status", status, "Print the stream's state, counters and consumers as JSON and exit");
  cli.add_flag("--list", list, "Print the state of every stream on this host as JSON and exit");
  cli.add_flag("-v,--verbose", verbose, "Debug logging");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }
  shmframe::app::setup_logging("consumer", verbose);
  if (list) return print_status(shmframe::list_streams());
  if (status) return print_status({name});
  shmframe::app::install_signal_handlers();

  auto proc = processor == "probe" ? shmframe::consumer::make_probe() : shmframe::consumer::make_stats(name);
  shmframe::ReaderOptions ro;
  ro.every_frame = every_frame;
  ro.ready_timeout = std::chrono::milliseconds(ready_timeout_ms);
  ro.log = shmframe::app::library_logger();
  try {
    shmframe::Reader reader(name, ro);
    std::uint64_t taken = 0, dropped = 0;
    std::uint64_t last_activity = monotonic_ns();
    std::uint64_t next_tick = last_activity + 1'000'000'000ull;
    bool announced_wait = false;
    while (!g_stop.load(std::memory_order_relaxed)) {
      std::uint64_t now = monotonic_ns();
      std::uint64_t wait_until = next_tick;
      if (timeout_ms != 0) wait_until = std::min<std::uint64_t>(wait_until, last_activity + timeout_ms * 1'000'000ull);
      shmframe::Event ev = reader.wait(std::chrono::nanoseconds(wait_until > now ? wait_until - now : 0));
      now = monotonic_ns();
      switch (ev.kind) {
        case shmframe::EventKind::frame:
          dropped += ev.dropped;
          if (proc->on_frame(ev.frame, now, dropped)) {
            ++taken;
          } else {
            ++dropped;
            proc->on_overrun(ev.frame.seq(), ev.generation);
          }
          last_activity = now;
          break;
        case shmframe::EventKind::attached:
          proc->on_attached(reader.info());
          break;
        case shmframe::EventKind::producer_lost:
          spdlog::warn("{}", ev.message);
          proc->on_producer_lost(reader.info(), ev.message);
          break;
        case shmframe::EventKind::closed:
          proc->on_closed(ev.generation);
          if (exit_on_close) return 0;
          break;
        case shmframe::EventKind::error:
          if (ev.error == shmframe::errc::init_timeout || ev.error == shmframe::errc::creator_died) {
            spdlog::warn("{}", ev.message);  // a new producer will replace it: keep waiting
            break;
          }
          spdlog::error("{}", ev.message);
          return 1;
        case shmframe::EventKind::timeout:
        case shmframe::EventKind::interrupted:
          if (!announced_wait && !reader.attached() && now - last_activity > 1'000'000'000ull) {
            spdlog::info("waiting for stream '{}' (start a producer with --name {})", name, name);
            announced_wait = true;
          }
          break;
      }
      ev.frame.release();
      if (frames != 0 && taken >= frames) break;
      if (now >= next_tick) {
        proc->tick(now, reader);
        next_tick = now + 1'000'000'000ull;
      }
      if (timeout_ms != 0 && now - last_activity >= timeout_ms * 1'000'000ull) {
        std::string why = !reader.attached() ? "the stream does not exist or is not ready"
                                             : "the producer is attached but sent nothing (lost or paused)";
        spdlog::error("no frame from stream '{}' for {} ms: {}", name, timeout_ms, why);
        return 3;
      }
    }
    return 0;
  } catch (const shmframe::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
