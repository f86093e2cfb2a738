// common/app.hpp: what every shmframe app shares: logging set-up, Ctrl-C handling, the option
// validators, and statistics as JSON. Apps only: the library never logs, and handles signals only
// inside run() when asked (RunOptions::handle_signals).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <shmframe/info.hpp>
#include <shmframe/reader.hpp>
#include <shmframe/sync_reader.hpp>
#include <shmframe/writer.hpp>

namespace shmframe::app {

// Set by SIGINT/SIGTERM. Handlers are installed without SA_RESTART so blocking waits in the
// library return at once with "interrupted".
extern std::atomic<bool> g_stop;
extern std::atomic<int> g_signal;
// An eventfd the signal handler writes to (after setting g_stop): a thread can poll() it to end a
// wait that a signal cannot interrupt (a GStreamer pull). -1 before install_signal_handlers().
extern int g_stop_fd;
void install_signal_handlers();

// spdlog to stderr, "[time] [level] message"; `verbose` enables debug.
void setup_logging(const std::string& app, bool verbose);
// A LogCallback forwarding library messages to spdlog.
shmframe::LogCallback library_logger();

// CLI11 validator for stream names.
struct StreamNameValidator : CLI::Validator {
  StreamNameValidator();
};
// CLI11 validator for pixel format names (shmframe::parse_pixel_format); the error lists them all.
struct PixelFormatValidator : CLI::Validator {
  PixelFormatValidator();
};
// Parses an octal mode such as "0600" or "660"; throws CLI::ValidationError.
mode_t parse_mode(const std::string& text);

// --wait block|predictive|spin and --spin-limit-us, into `policy` / `spin_limit` (the consumer's
// and the viewer's ReaderOptions::wait / spin_limit).
void add_wait_options(CLI::App& cli, shmframe::WaitPolicy& policy, std::chrono::microseconds& spin_limit);
// --access auto|read-write|read-only into `access` (ReaderOptions::access).
void add_access_option(CLI::App& cli, shmframe::Access& access);
// --expect-owner UID|USER into `uid` (ReaderOptions::expect_owner).
void add_expect_owner_option(CLI::App& cli, std::optional<std::uint32_t>& uid);

// --sync approximate|exact and --tolerance-ms: several --name streams as synchronised sets (the
// consumer's and the viewer's). `what`: what the front end does with the sets, for --sync's help.
struct SyncArgs {
  std::string policy;  // "" without --sync
  double tolerance_ms = -1;
};
void add_sync_options(CLI::App& cli, SyncArgs& args, const std::string& what);
// The options as the library takes them (nullopt without --sync), checked by the library itself
// (2 to 8 names, each once, a tolerance > 0): throws CLI::ValidationError with its reason.
std::optional<shmframe::SyncOptions> sync_options(const SyncArgs& args, const std::vector<std::string>& names);

// The library's statistics fields (shmframe::fields()) as a JSON object, in their order.
nlohmann::ordered_json to_json(const shmframe::Fields& fields);
// One stream's state as `shmframe-consumer --list` prints it: the stream's fields and a
// "consumers" array of each consumer's; {"name", "error"} when it cannot be inspected (then
// `*failed` is set, if given).
nlohmann::ordered_json stream_json(const std::string& name, bool* failed = nullptr);

}  // namespace shmframe::app
