// shmframe-consumer: attaches to a stream and runs a processor on every frame.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <shmframe/plugin_host.hpp>
#include <shmframe/shmframe.hpp>

#include "app.hpp"
#include "processors.hpp"
#include "sync.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include <unistd.h>

namespace {

using shmframe::app::g_stop;

// --status: each stream's state (an array); with --sync, an object of those and how a set of
// them would be read: the policy, and the wait this kernel gives (futex_waitv, or the first-word
// fallback).
int print_status(const std::vector<std::string>& names, const std::optional<shmframe::SyncOptions>& sync) {
  nlohmann::ordered_json streams = nlohmann::ordered_json::array();
  int rc = 0;
  for (const auto& n : names) {
    bool failed = false;
    streams.push_back(shmframe::app::stream_json(n, &failed));
    if (failed) rc = 1;
  }
  nlohmann::ordered_json out = streams;
  if (sync) {
    const shmframe::SyncReader reader(names, *sync);  // attaches nothing
    out = {{"streams", streams},
           {"sync",
            {{"policy", std::string(shmframe::to_string(sync->policy))},
             {"tolerance_ns", sync->tolerance ? sync->tolerance->count() : 0},
             {"wait", reader.stats().wait}}}};
  }
  std::printf("%s\n", out.dump(2).c_str());
  return rc;
}

// Directories searched for --plugin NAME after $SHMFRAME_PLUGIN_PATH: the plugin directory of
// the tree this binary is installed in (right after `cmake --install --prefix P` or
// `dpkg-deb -x`), then the configured one, then, only for the binary in its own build tree, the
// build tree's samples: a copy elsewhere (say in /tmp) must not look in a `../samples` next to it.
// The library skips those another user could write into.
std::vector<std::string> plugin_dirs() {
  std::vector<std::string> dirs;
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string bin;
  if (n > 0) {
    const std::string exe(self, static_cast<std::size_t>(n));
    bin = exe.substr(0, exe.rfind('/'));
  }
#ifdef SHMFRAME_PLUGIN_DIR_FROM_BINDIR
  if (!bin.empty()) dirs.push_back(bin + "/" SHMFRAME_PLUGIN_DIR_FROM_BINDIR);
#endif
#ifdef SHMFRAME_PLUGIN_DIR
  dirs.emplace_back(SHMFRAME_PLUGIN_DIR);
#endif
#if defined(SHMFRAME_BUILD_TREE_BINDIR) && defined(SHMFRAME_BUILD_TREE_SAMPLES)
  char built[PATH_MAX];
  if (!bin.empty() && realpath(SHMFRAME_BUILD_TREE_BINDIR, built) != nullptr && bin == built) {
    dirs.emplace_back(SHMFRAME_BUILD_TREE_SAMPLES);
  }
#endif
  return dirs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "shmframe-consumer: attach to a shared-memory video stream and process its frames without copying.\n"
      "Waits for the stream to appear, follows producer restarts and format changes.\n"
      "Examples: shmframe-consumer --name cam0 --processor probe --frames 100\n"
      "          shmframe-consumer --name cam0 --plugin edge --output cam0-edges\n"
      "          shmframe-consumer --name left --name right --sync approximate --tolerance-ms 5 --processor probe"};
  std::vector<std::string> names{"cam0"};
  std::string processor = "stats";
  std::string plugin, output;
  std::vector<std::string> plugin_args;
  std::uint64_t frames = 0;
  std::uint64_t timeout_ms = 0;
  bool every_frame = false, lossless = false, exit_on_close = false, verbose = false, status = false, list = false,
       verify = false;
  std::uint32_t ready_timeout_ms = 2000, output_slots = 2;
  std::string output_mode = "0600";
  cli.add_option("-n,--name", names, "Stream name; with --sync, give 2 to 8 (--name left --name right)")
      ->check(shmframe::app::StreamNameValidator())
      ->capture_default_str();
  shmframe::app::SyncArgs sync_args;
  shmframe::app::add_sync_options(cli, sync_args,
                                  "each set goes to --processor probe|stats or to a --plugin that takes sets "
                                  "(samples: stereo)");
  cli.add_option("-p,--processor", processor,
                 "probe: one JSON object per frame/event on stdout (seq, latency, origin, crc32 of the pixels...)\n"
                 "stats: a live line per second (fps, latency, drops)")
      ->check(CLI::IsMember({"probe", "stats"}))
      ->capture_default_str();
  auto* plugin_opt = cli.add_option("--plugin", plugin,
                                    "Run a processing plugin instead of --processor: a path to a .so, or a name NAME "
                                    "(NAME.so, shmframe-NAME.so) looked for in $SHMFRAME_PLUGIN_PATH and the installed "
                                    "plugin directory, skipping files and directories another user could have written");
  cli.add_option("--plugin-arg", plugin_args, "KEY=VALUE given to the plugin (repeatable)")->needs(plugin_opt);
  cli.add_option("--output", output,
                 "Publish the processor's output frames as this stream (a pipeline stage); frames carry their origin")
      ->check(shmframe::app::StreamNameValidator());
  cli.add_option("--output-slots", output_slots, "Slots of the output stream")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  cli.add_option("--output-mode", output_mode, "Permissions of the output stream (octal, e.g. 0600 or 0660)")
      ->capture_default_str();
  cli.add_option("--frames", frames, "Exit 0 after COUNT frames (--sync: sets; 0 = run until Ctrl-C)")
      ->capture_default_str();
  cli.add_option("--timeout-ms", timeout_ms,
                 "Give up (exit 3) when no frame (--sync: set) arrives for T ms (0 = wait forever)")
      ->capture_default_str();
  cli.add_option("--ready-timeout-ms", ready_timeout_ms,
                 "How long a stream may stay initializing before it is reported")
      ->capture_default_str();
  auto* every_opt = cli.add_flag("--every-frame", every_frame,
                                 "Take every frame still held by a slot instead of jumping to the newest (the producer "
                                 "never waits: a slow consumer still loses frames, counted as drops)");
  cli.add_flag("--lossless", lossless,
               "Take every frame, in order: the producer does not overwrite a frame this consumer has not taken, "
               "waiting at most its --max-block-ms, then demotes it to --every-frame until it catches up")
      ->excludes(every_opt);
  shmframe::WaitPolicy wait = shmframe::WaitPolicy::block;
  std::chrono::microseconds spin_limit{0};
  shmframe::app::add_wait_options(cli, wait, spin_limit);
  shmframe::Access access = shmframe::Access::automatic;
  shmframe::app::add_access_option(cli, access);
  std::optional<std::uint32_t> expect_owner;
  shmframe::app::add_expect_owner_option(cli, expect_owner);
  cli.add_flag("--verify", verify,
               "With --processor probe: check every frame against the test pattern of its seq (shmframe-producer's "
               "default source; shmframe/pattern.hpp): \"pattern_ok\" in each frame's JSON, exit 4 if any differed "
               "(an error that ended the run is reported too, and exits with its own code)");
  cli.add_flag("--exit-on-close", exit_on_close,
               "Exit 0 when the producer closes the stream instead of waiting for a new one (--sync: once every "
               "stream closed)");
  cli.add_flag("--status", status,
               "Print the stream's state, counters and consumers as JSON and exit (with --sync: an object of the "
               "streams and the set's policy and wait: futex_waitv, or first-word where the kernel lacks it)");
  cli.add_flag("--list", list, "Print the state of every stream on this host as JSON and exit");
  cli.add_flag("-v,--verbose", verbose, "Debug logging");
  std::vector<std::pair<std::string, std::string>> args;
  mode_t mode = 0600;
  std::optional<shmframe::SyncOptions> sync;
  try {
    cli.parse(argc, argv);
    sync = shmframe::app::sync_options(sync_args, names);
    if (names.size() > 1 && !sync) {
      throw CLI::ValidationError("--name", "several streams need --sync approximate|exact (synchronised sets)");
    }
    if (sync && !output.empty() && plugin.empty()) {
      throw CLI::ValidationError("--output", "with --sync, needs a --plugin that publishes (e.g. --plugin stereo)");
    }
    if (sync && (lossless || verify)) {
      throw CLI::ValidationError("--sync",
                                 "takes --processor probe or stats, or --plugin (not --lossless or --verify)");
    }
    for (const auto& a : plugin_args) {
      const auto eq = a.find('=');
      if (eq == std::string::npos || eq == 0)
        throw CLI::ValidationError("--plugin-arg", "'" + a + "' is not KEY=VALUE");
      args.emplace_back(a.substr(0, eq), a.substr(eq + 1));
    }
    mode = shmframe::app::parse_mode(output_mode);
    if (verify && (processor != "probe" || !plugin.empty())) {
      throw CLI::ValidationError("--verify", "needs --processor probe (and no --plugin)");
    }
    if (!output.empty() && std::find(names.begin(), names.end(), output) != names.end()) {
      throw CLI::ValidationError("--output", "must differ from every --name");
    }
    if (lossless && access == shmframe::Access::read_only) {
      throw CLI::ValidationError("--lossless",
                                 "needs write access to the stream (a consumer entry): not with --access read-only");
    }
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }
  const std::string name = names.front();
  shmframe::app::setup_logging("consumer", verbose);
  if (list) return print_status(shmframe::list_streams(), std::nullopt);
  if (status) return print_status(names, sync);
  shmframe::app::install_signal_handlers();

  shmframe::RunOptions opt;
  opt.max_frames = frames;
  opt.idle_timeout = std::chrono::milliseconds(timeout_ms);
  opt.exit_on_close = exit_on_close;
  opt.handle_signals = false;  // ours (app.hpp) set g_stop
  opt.stop = &g_stop;
  opt.output = output;
  opt.output_options.slots = output_slots;
  opt.output_options.mode = mode;
  opt.output_options.log = shmframe::app::library_logger();
  opt.log = shmframe::app::library_logger();

  if (sync) {
    shmframe::consumer::SyncRun run;
    run.names = names;
    run.options = *sync;
    run.options.reader.delivery = shmframe::Delivery::every_frame;  // a set needs each stream's frames in order
    run.options.reader.ready_timeout = std::chrono::milliseconds(ready_timeout_ms);
    run.options.reader.wait = wait;
    run.options.reader.spin_limit = spin_limit;
    run.options.reader.access = access;
    run.options.reader.expect_owner = expect_owner;
    run.options.reader.log = shmframe::app::library_logger();
    run.probe = processor == "probe";
    run.timeout_ms = timeout_ms;
    run.run = opt;
    if (!plugin.empty()) {
      try {
        shmframe::PluginInfo info;
        run.plugin = shmframe::load_set_plugin(plugin, names.size(), args, shmframe::plugin_search_path(plugin_dirs()),
                                               shmframe::app::library_logger(), &info);
        spdlog::info("plugin '{}' from {}: {}", info.name, info.path, info.description);
      } catch (const shmframe::Error& e) {
        spdlog::error("{}", e.what());
        return 2;
      }
    }
    return shmframe::consumer::run_sync(run);
  }
  std::unique_ptr<shmframe::Processor> proc;
  const auto counts = verify ? std::make_shared<shmframe::consumer::ProbeCounts>() : nullptr;
  if (!plugin.empty()) {
    try {
      shmframe::PluginInfo info;
      proc = shmframe::load_plugin(plugin, args, shmframe::plugin_search_path(plugin_dirs()),
                                   shmframe::app::library_logger(), &info);
      spdlog::info("plugin '{}' from {}: {}", info.name, info.path, info.description);
    } catch (const shmframe::Error& e) {
      spdlog::error("{}", e.what());
      return 2;
    }
  } else {
    proc = processor == "probe" ? shmframe::consumer::make_probe(counts) : shmframe::consumer::make_stats(name);
  }
  shmframe::ReaderOptions ro;
  ro.delivery = lossless      ? shmframe::Delivery::lossless
                : every_frame ? shmframe::Delivery::every_frame
                              : shmframe::Delivery::latest;
  ro.ready_timeout = std::chrono::milliseconds(ready_timeout_ms);
  ro.wait = wait;
  ro.spin_limit = spin_limit;
  ro.access = access;
  ro.expect_owner = expect_owner;
  ro.log = shmframe::app::library_logger();
  try {
    shmframe::Reader reader(name, ro);
    if (!reader.attached()) spdlog::debug("waiting for stream '{}'", name);
    const shmframe::RunResult r = shmframe::run(reader, *proc, opt);
    const auto& st = r.status;
    if (st.errors != 0 || st.discarded != 0) {
      spdlog::info("processed {} frames, {} discarded (overwritten while in use), {} processor errors", st.processed,
                   st.discarded, st.errors);
    }
    // Both are reported: a mismatch, and an error that ended the run; the error's exit code wins
    // (the run did not finish), 4 is for a run that finished with mismatches.
    const bool mismatched = counts && counts->mismatches != 0;
    if (mismatched) {
      spdlog::error(
          "{} of {} frames differed from the test pattern of their seq (see \"mismatch\" in the probe's "
          "output): the stream is not shmframe-producer's test pattern, or frames were corrupted",
          counts->mismatches, counts->verified);
    }
    switch (r.end) {
      case shmframe::RunEnd::error: spdlog::error("{}", r.message); return 1;
      case shmframe::RunEnd::timed_out:
        spdlog::error("no frame from stream '{}' for {} ms: {}", name, timeout_ms, r.message);
        return 3;
      default: return mismatched ? 4 : 0;
    }
  } catch (const shmframe::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
