#include "app.hpp"
#include "enum_option.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <shmframe/format.hpp>
#include <shmframe/inspect.hpp>
#include <shmframe/names.hpp>
#include <vector>

namespace shmframe::app {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
int g_stop_fd = -1;

namespace {
void on_signal(int sig) {
  g_signal.store(sig, std::memory_order_relaxed);
  g_stop.store(true, std::memory_order_relaxed);
  if (g_stop_fd >= 0) {
    const std::uint64_t one = 1;
    (void)!::write(g_stop_fd, &one, sizeof one);  // async-signal-safe; a full counter is still readable
  }
}
}  // namespace

void install_signal_handlers() {
  if (g_stop_fd < 0) g_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: waits must return EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void setup_logging(const std::string& app, bool verbose) {
  auto logger = spdlog::stderr_color_mt(app);
  logger->set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

shmframe::LogCallback library_logger() {
  return [](shmframe::LogLevel level, const std::string& msg) {
    switch (level) {
      case shmframe::LogLevel::debug: spdlog::debug("{}", msg); break;
      case shmframe::LogLevel::info: spdlog::info("{}", msg); break;
      case shmframe::LogLevel::warn: spdlog::warn("{}", msg); break;
      case shmframe::LogLevel::error: spdlog::error("{}", msg); break;
    }
  };
}

PixelFormatValidator::PixelFormatValidator() {
  name_ = "FORMAT";
  func_ = [](const std::string& s) -> std::string {
    if (shmframe::parse_pixel_format(s)) return {};
    return "unknown pixel format '" + s + "': use one of " + shmframe::pixel_format_names();
  };
}

StreamNameValidator::StreamNameValidator() {
  name_ = "STREAM";
  func_ = [](const std::string& s) -> std::string {
    // `--name= --status` hands "--status" to --name: a valid name, but surely not the one meant.
    if (!s.empty() && s[0] == '-') {
      return "'" + s + "' looks like an option, not a stream name: give the option a name (e.g. --name cam0)";
    }
    auto why = shmframe::check_stream_name(s);
    return why ? *why : std::string();
  };
}

void add_wait_options(CLI::App& cli, shmframe::WaitPolicy& policy, std::chrono::microseconds& spin_limit) {
  add_enum_option(cli, "--wait", policy,
                  "How to wait for frames (predictive: near-polling latency for ~1-3% of a core; irregular "
                  "streams block)");
  cli.add_option_function<std::int64_t>(
         "--spin-limit-us", [&spin_limit](const std::int64_t& us) { spin_limit = std::chrono::microseconds(us); },
         "Longest poll: spin polls this long before it blocks (default: the whole wait); predictive's widest window "
         "(default 1000)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10'000'000}));
}

void add_access_option(CLI::App& cli, shmframe::Access& access) {
  add_enum_option(cli, "--access", access, "How to open the stream");
}

void add_expect_owner_option(CLI::App& cli, std::optional<std::uint32_t>& uid) {
  cli.add_option_function<std::string>(
      "--expect-owner",
      [&uid](const std::string& v) {
        uid = shmframe::parse_owner(v);  // the library's rule
        if (!uid) throw CLI::ValidationError("--expect-owner", "'" + v + "' is neither a uid nor a user of this host");
      },
      "Attach only to a stream whose segment this user (a uid or a user name) owns: another user's segment at "
      "the name is refused instead of read (ownership is the file's, which nobody can forge)");
}

void add_sync_options(CLI::App& cli, SyncArgs& args, const std::string& what) {
  auto* sync = cli.add_option("--sync", args.policy,
                              "Synchronised sets across the --name streams (2 to 8): approximate (capture times "
                              "within --tolerance-ms) or exact (equal capture times, e.g. producers with "
                              "--phase-lock); " +
                                  what)
                   ->check(CLI::IsMember({"approximate", "exact"}));
  cli.add_option("--tolerance-ms", args.tolerance_ms,
                 "--sync approximate: the widest spread of capture times in a set (default: half the slowest "
                 "stream's period)")
      ->needs(sync);
}

std::optional<shmframe::SyncOptions> sync_options(const SyncArgs& args, const std::vector<std::string>& names) {
  if (args.policy.empty()) return std::nullopt;
  shmframe::SyncOptions o;
  o.policy = *shmframe::parse_sync_policy(args.policy);
  if (args.tolerance_ms >= 0)
    o.tolerance = std::chrono::nanoseconds(static_cast<std::int64_t>(args.tolerance_ms * 1e6));
  try {
    const shmframe::SyncReader check(names, o);  // the library's own checks; attaches nothing
  } catch (const shmframe::Error& e) {
    throw CLI::ValidationError("--sync", e.what());
  }
  return o;
}

nlohmann::ordered_json to_json(const shmframe::Fields& fields) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [key, value] : fields) {
    std::visit([&j, k = std::string(key)](const auto& v) { j[k] = v; }, value);
  }
  return j;
}

nlohmann::ordered_json stream_json(const std::string& name, bool* failed) {
  try {
    const auto s = shmframe::inspect(name);
    nlohmann::ordered_json consumers = nlohmann::ordered_json::array();
    for (const auto& c : s.consumers) consumers.push_back(to_json(shmframe::fields(c)));
    nlohmann::ordered_json stream = to_json(shmframe::fields(s));
    stream["consumers"] = consumers;
    return stream;
  } catch (const shmframe::Error& e) {
    if (failed != nullptr) *failed = true;
    return {{"name", name}, {"error", e.what()}};
  }
}

mode_t parse_mode(const std::string& text) {
  std::size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(text, &used, 8);
  } catch (...) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v > 07777) {
    throw CLI::ValidationError("--mode", "'" + text + "' is not an octal permission set, e.g. 0600 or 0660");
  }
  shmframe::WriterOptions o;  // the library's rule for the value (check_options())
  o.mode = static_cast<mode_t>(v);
  if (auto problem = shmframe::check_options(o)) throw CLI::ValidationError("--mode", *problem);
  return static_cast<mode_t>(v);
}

}  // namespace shmframe::app
