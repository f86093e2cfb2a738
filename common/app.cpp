#include "app.hpp"

#include <pwd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <map>
#include <shmframe/format.hpp>

namespace shmframe::app {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

namespace {
void on_signal(int sig) {
  g_signal.store(sig, std::memory_order_relaxed);
  g_stop.store(true, std::memory_order_relaxed);
}
}  // namespace

void install_signal_handlers() {
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
  const std::map<std::string, shmframe::WaitPolicy> names{{"block", shmframe::WaitPolicy::block},
                                                          {"predictive", shmframe::WaitPolicy::predictive},
                                                          {"spin", shmframe::WaitPolicy::spin}};
  cli.add_option_function<std::string>(
         "--wait", [&policy, names](const std::string& v) { policy = names.at(v); },  // checked below
         "How to wait for frames: block (sleep until woken: no CPU, one kernel wake-up per frame), predictive "
         "(learn the stream's period, sleep until a frame is due, poll briefly around it: near-polling latency "
         "for ~1-3% of a core; irregular streams block), spin (poll a dedicated core, block after --spin-limit-us)")
      ->check(CLI::IsMember({"block", "predictive", "spin"}))
      ->default_str("block");
  cli.add_option_function<std::int64_t>(
         "--spin-limit-us", [&spin_limit](const std::int64_t& us) { spin_limit = std::chrono::microseconds(us); },
         "Longest poll: spin polls this long before it blocks (default: the whole wait); predictive's widest window "
         "(default 1000)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10'000'000}));
}

void add_access_option(CLI::App& cli, shmframe::Access& access) {
  const std::map<std::string, shmframe::Access> names{{"auto", shmframe::Access::automatic},
                                                      {"read-write", shmframe::Access::read_write},
                                                      {"read-only", shmframe::Access::read_only}};
  cli.add_option_function<std::string>(
         "--access", [&access, names](const std::string& v) { access = names.at(v); },  // checked below
         "How to open the stream: read-write (a consumer entry: held frames, lossless, listed by --status), "
         "read-only (cannot disturb the producer or other consumers; frames are not held, no lossless, not listed), "
         "auto (read-write if allowed, else read-only)")
      ->check(CLI::IsMember({"auto", "read-write", "read-only"}))
      ->default_str("auto");
}

void add_expect_owner_option(CLI::App& cli, std::optional<std::uint32_t>& uid) {
  cli.add_option_function<std::string>(
      "--expect-owner",
      [&uid](const std::string& v) {
        char* end = nullptr;
        const unsigned long n = std::strtoul(v.c_str(), &end, 10);
        if (!v.empty() && *end == '\0' && n <= 0xFFFFFFFEul) {
          uid = static_cast<std::uint32_t>(n);
          return;
        }
        const passwd* pw = getpwnam(v.c_str());  // startup, one thread
        if (pw == nullptr)
          throw CLI::ValidationError("--expect-owner", "'" + v + "' is neither a uid nor a user of this host");
        uid = static_cast<std::uint32_t>(pw->pw_uid);
      },
      "Attach only to a stream whose segment this user (a uid or a user name) owns: another user's segment at "
      "the name is refused instead of read (ownership is the file's, which nobody can forge)");
}

mode_t parse_mode(const std::string& text) {
  std::size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(text, &used, 8);
  } catch (...) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v > 0777 || (v & 0600) != 0600) {
    throw CLI::ValidationError(
        "--mode", "'" + text + "' is not an octal permission set with owner read+write, e.g. 0600 or 0660");
  }
  return static_cast<mode_t>(v);
}

}  // namespace shmframe::app
