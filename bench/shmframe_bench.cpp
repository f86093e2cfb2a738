// shmframe-bench: shmframe against the physical limits of this machine and the transports
// users would pick instead, in one run, so that ratios hold on a noisy shared machine.
//   shmframe-bench [--quick] [--json PATH]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "bench_common.hpp"
#include "stages.hpp"
#include "transports.hpp"

using json = nlohmann::ordered_json;

namespace bench {
namespace {

struct Pct {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  bool empty = true;
};

Pct percentiles(std::vector<std::uint64_t> v) {
  Pct p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))]);
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(v.back());
  p.empty = false;
  return p;
}

json pct_json(const Pct& p) { return {{"p50", p.p50}, {"p99", p.p99}, {"p999", p.p999}, {"max", p.max}}; }

struct Result {
  Case c;
  bool ok = false;
  std::string error;
  Pct handoff, wake;
  double worst_consumer_p50 = 0;
  double fps = 0;
  std::uint64_t frames = 0, received = 0, drops = 0;
  double cpu_producer = 0, cpu_consumer = 0;  // ns per frame
  int rounds = 0;
  // Raw material, pooled over rounds; finish() turns it into the figures above.
  std::vector<std::uint64_t> handoff_samples, wake_samples;
  std::vector<std::vector<std::uint64_t>> per_consumer;
  std::uint64_t producer_cpu = 0, consumer_cpu = 0, busy_ns = 0;

  void merge(Result&& r) {
    ++rounds;
    if (!r.error.empty() && error.empty()) error = r.error;
    handoff_samples.insert(handoff_samples.end(), r.handoff_samples.begin(), r.handoff_samples.end());
    wake_samples.insert(wake_samples.end(), r.wake_samples.begin(), r.wake_samples.end());
    per_consumer.resize(std::max(per_consumer.size(), r.per_consumer.size()));
    for (std::size_t i = 0; i < r.per_consumer.size(); ++i) {
      per_consumer[i].insert(per_consumer[i].end(), r.per_consumer[i].begin(), r.per_consumer[i].end());
    }
    frames += r.frames;
    received += r.received;
    drops += r.drops;
    producer_cpu += r.producer_cpu;
    consumer_cpu += r.consumer_cpu;
    busy_ns += r.busy_ns;
  }
  void finish() {
    handoff = percentiles(handoff_samples);
    wake = percentiles(wake_samples);
    worst_consumer_p50 = 0;
    for (const auto& v : per_consumer) worst_consumer_p50 = std::max(worst_consumer_p50, percentiles(v).p50);
    fps = busy_ns ? static_cast<double>(frames) * 1e9 / static_cast<double>(busy_ns) : 0;
    cpu_producer = frames ? static_cast<double>(producer_cpu) / static_cast<double>(frames) : 0;
    cpu_consumer = received ? static_cast<double>(consumer_cpu) / static_cast<double>(received) : 0;
    ok = error.empty() && received > 0;
    if (error.empty() && received == 0) error = "no frame received";
  }
};

// Waits (bounded) for a child; SIGKILLs it on timeout. Returns its exit status or -1.
int reap(pid_t pid, int timeout_ms) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  pollfd p{fd, POLLIN, 0};
  int ok = fd >= 0 ? poll(&p, 1, timeout_ms) : 1;
  if (ok <= 0) kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  if (fd >= 0) close(fd);
  if (ok <= 0) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

Result run_case(const Transport& t, const Case& c) {
  Result r;
  r.c = c;
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    r.error = "mmap";
    return r;
  }
  auto* s = new (mem) Shared{};
  if (t.setup && !t.setup(c)) {
    r.error = "setup failed";
    munmap(mem, sizeof(Shared));
    return r;
  }
  std::fflush(nullptr);
  std::vector<pid_t> kids;
  for (int i = 0; i < c.consumers; ++i) {
    pid_t pid = fork();
    if (pid == 0) _exit(t.consumer(c, *s, i));
    kids.push_back(pid);
  }
  pid_t prod = fork();
  if (prod == 0) _exit(t.producer(c, *s));
  if (t.teardown) t.teardown();
  const int budget_ms = static_cast<int>(30'000.0 + static_cast<double>(c.duration_ns) / 1e6 +
                                         (c.rate > 0 ? static_cast<double>(c.frames) * 1000.0 / c.rate : 0));
  int rc = reap(prod, budget_ms);
  if (rc != 0) {
    signal_done(*s);
    r.error = "producer exit " + std::to_string(rc);
  }
  for (pid_t k : kids) {
    int crc = reap(k, 15'000);
    if (crc != 0 && r.error.empty()) r.error = "consumer exit " + std::to_string(crc);
  }
  for (int i = 0; i < c.consumers; ++i) {
    const auto& cr = s->consumers[i];
    const std::size_t n = std::min<std::uint64_t>(cr.frames, kMaxSamples);
    r.handoff_samples.insert(r.handoff_samples.end(), cr.handoff, cr.handoff + n);
    r.wake_samples.insert(r.wake_samples.end(), cr.wake, cr.wake + n);
    r.per_consumer.emplace_back(cr.handoff, cr.handoff + n);
    r.received += cr.frames;
    r.drops += cr.drops;
    r.consumer_cpu += cr.cpu_ns;
  }
  r.frames = s->producer_frames;
  r.producer_cpu = s->producer_cpu_ns;
  r.busy_ns = s->t_end > s->t_start ? s->t_end - s->t_start : 0;
  munmap(mem, sizeof(Shared));
  return r;
}

// -- limits ------------------------------------------------------------------------------

// Warm memcpy of one frame. rotating = 1: the same destination every time (source and
// destination can stay cache resident: the figure the issue calls "warm memcpy"); 2: the
// destination alternates between two buffers, as it must for any double-buffered transport.
double memcpy_ns(std::size_t bytes, int reps, int rotating) {
  auto a = make_source_frame(bytes);
  std::vector<std::vector<std::uint8_t>> dst(static_cast<std::size_t>(rotating), std::vector<std::uint8_t>(bytes, 1));
  std::vector<std::uint64_t> t;
  for (int i = 0; i < reps + 4; ++i) {
    auto& b = dst[static_cast<std::size_t>(i % rotating)];
    const std::uint64_t t0 = now_ns();
    std::memcpy(b.data(), a.data(), bytes);
    t.push_back(now_ns() - t0);
    a[static_cast<std::size_t>(i) % bytes] ^= b[bytes / 2];  // keep the copies observable
  }
  t.erase(t.begin(), t.begin() + 4);  // warm-up
  return percentiles(t).p50;
}

struct Wake {
  Pct one_way;              // stamped: waker writes its clock, wakee subtracts (what "wake" measures for transports)
  Pct pingpong;             // round trip / 2
  double wakee_cpu_ns = 0;  // CPU time the woken process spends per wake-up (blocking + waking)
};

// Two processes ping-pong through futex words in shared memory. gap_ns > 0 paces the pings
// (1/30 s: as between frames at camera rate, both CPUs idle); 0 = back to back.
Wake wake_latency(int samples, std::uint64_t gap_ns) {
  void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* w = static_cast<std::uint32_t*>(mem);  // ping, pong and the stamp on separate cache lines
  std::uint32_t* ping = &w[0];
  std::uint32_t* pong = &w[16];
  auto* stamp = reinterpret_cast<std::uint64_t*>(&w[32]);
  auto* one_way = reinterpret_cast<std::uint64_t*>(&w[64]);  // samples, written by the child
  const int n = std::min(samples, (4096 - 256) / 8);
  auto* child_cpu = reinterpret_cast<std::uint64_t*>(&w[48]);
  std::fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    const std::uint64_t c0 = cpu_ns();
    for (int i = 0; i < n; ++i) {
      while (flag(*ping).load() == static_cast<std::uint32_t>(i))
        futex_wait(ping, static_cast<std::uint32_t>(i), 1'000'000'000);
      one_way[i] = now_ns() - std::atomic_ref<std::uint64_t>(*stamp).load();
      flag(*pong).store(static_cast<std::uint32_t>(i + 1));
      futex_wake(pong);
    }
    *child_cpu = cpu_ns() - c0;
    _exit(0);
  }
  std::vector<std::uint64_t> rtt;
  for (int i = 0; i < n; ++i) {
    if (gap_ns) sleep_until(now_ns() + gap_ns);
    const std::uint64_t t0 = now_ns();
    std::atomic_ref<std::uint64_t>(*stamp).store(t0);
    flag(*ping).store(static_cast<std::uint32_t>(i + 1));
    futex_wake(ping);
    while (flag(*pong).load() == static_cast<std::uint32_t>(i))
      futex_wait(pong, static_cast<std::uint32_t>(i), 1'000'000'000);
    rtt.push_back((now_ns() - t0) / 2);
  }
  reap(child, 5000);
  Wake r;
  r.pingpong = percentiles(std::move(rtt));
  r.one_way = percentiles(std::vector<std::uint64_t>(one_way, one_way + n));
  r.wakee_cpu_ns = static_cast<double>(*child_cpu) / n;
  munmap(mem, 4096);
  return r;
}

// -- iceoryx daemon ---------------------------------------------------------------------

struct RouDi {
  pid_t pid = -1;
  std::string config;
  ~RouDi() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      if (reap(pid, 10'000) != 0) std::fprintf(stderr, "iox-roudi did not stop cleanly\n");
    }
    if (!config.empty()) unlink(config.c_str());
  }
  bool start(const std::vector<Case>& cases) {
    std::map<std::size_t, int> pools;  // chunk size -> count
    for (const auto& c : cases) {
      if (c.transport != "iceoryx") continue;
      std::size_t sz = (c.bytes() + 4096 + 63) / 64 * 64;
      pools[sz] = 24;
    }
    if (pools.empty()) return true;
    config = "/tmp/shmframe-bench-roudi-" + std::to_string(getpid()) + ".toml";
    std::ofstream f(config);
    f << "[general]\nversion = 1\n\n[[segment]]\n\n";
    for (auto [size, count] : std::map<std::size_t, int>{{128, 10000}, {1024, 5000}, {16384, 1000}, {131072, 200}}) {
      f << "[[segment.mempool]]\nsize = " << size << "\ncount = " << count << "\n\n";
    }
    for (auto [size, count] : pools) f << "[[segment.mempool]]\nsize = " << size << "\ncount = " << count << "\n\n";
    f.close();
    std::fflush(nullptr);
    pid = fork();
    if (pid == 0) {
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execlp("iox-roudi", "iox-roudi", "-c", config.c_str(), "-l", "error", "-m", "off", static_cast<char*>(nullptr));
      _exit(127);
    }
    // RouDi is up once its management segment exists (bounded; bench setup only).
    for (int i = 0; i < 1000; ++i) {
      struct stat st {};
      if (stat("/dev/shm/iceoryx_mgmt", &st) == 0) return true;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      sleep_until(now_ns() + 10'000'000);
    }
    return false;
  }
};

// -- output ------------------------------------------------------------------------------

std::string fmt_us(double ns) {
  char b[32];
  if (ns >= 1e6) std::snprintf(b, sizeof b, "%.2f ms", ns / 1e6);
  else std::snprintf(b, sizeof b, "%.1f us", ns / 1e3);
  return b;
}

std::string rate_str(double r) { return r > 0 ? std::to_string(static_cast<int>(r)) : "max"; }

json result_json(const Result& r) {
  json j = {{"transport", r.c.transport},
            {"mode", r.c.mode},
            {"width", r.c.width},
            {"height", r.c.height},
            {"consumers", r.c.consumers}};
  if (r.c.rate > 0) j["rate"] = r.c.rate;
  else j["rate"] = "max";
  j["ok"] = r.ok;
  if (!r.error.empty()) j["error"] = r.error;
  j["latency_ns"] = pct_json(r.handoff);
  j["wake_ns"] = pct_json(r.wake);
  j["worst_consumer_p50_ns"] = r.worst_consumer_p50;
  j["rounds"] = r.rounds;
  j["fps"] = r.fps;
  j["frames"] = r.frames;
  j["received"] = r.received;
  j["drops"] = r.drops;
  j["cpu_ns_per_frame"] = {{"producer", r.cpu_producer}, {"consumer", r.cpu_consumer}};
  return j;
}

void print_row(const Result& r) {
  std::printf(
      "%-12s %-8s %9s %2d %5s | %10s %10s %10s %10s | %10s %10s | %8.1f %6llu | %9s %9s %s\n", r.c.transport.c_str(),
      r.c.mode.c_str(), (std::to_string(r.c.width) + "x" + std::to_string(r.c.height)).c_str(), r.c.consumers,
      rate_str(r.c.rate).c_str(), fmt_us(r.handoff.p50).c_str(), fmt_us(r.handoff.p99).c_str(),
      fmt_us(r.handoff.p999).c_str(), fmt_us(r.handoff.max).c_str(), fmt_us(r.wake.p50).c_str(),
      fmt_us(r.wake.p99).c_str(), r.fps, static_cast<unsigned long long>(r.drops), fmt_us(r.cpu_producer).c_str(),
      fmt_us(r.cpu_consumer).c_str(), r.ok ? "" : ("FAILED: " + r.error).c_str());
  std::fflush(stdout);
}

const Result* find(const std::vector<Result>& rs, const std::string& t, const std::string& mode, int w, int consumers,
                   double rate) {
  for (const auto& r : rs) {
    if (r.ok && r.c.transport == t && r.c.mode == mode && r.c.width == w && r.c.consumers == consumers &&
        ((rate > 0) == (r.c.rate > 0))) {
      return &r;
    }
  }
  return nullptr;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  CLI::App cli{
      "shmframe-bench: shmframe vs the machine's limits (memcpy, futex wake-up) and vs a UNIX socket, ZeroMQ\n"
      "and iceoryx moving the same frames between processes, in one run. Prints a table; --json writes it."};
  bool quick = false;
  std::string json_path;
  std::vector<std::string> only;
  cli.add_flag("--quick", quick,
               "Short run (under a minute on 2 cores): fewer frames per case, baselines at 1080p only");
  cli.add_option("--json", json_path, "Also write the results as JSON to PATH");
  cli.add_option("--only", only,
                 "Run only these transports (shmframe, unix_socket, zeromq, iceoryx) and parts (stages)");
  std::vector<std::string> modes;
  cli.add_option("--mode", modes, "Run only cases of these modes (copy, zerocopy, zerocopy/predictive, zerocopy/spin)");
  std::string noop_plugin = SHMFRAME_BENCH_NOOP_PLUGIN;
  cli.add_option("--noop-plugin", noop_plugin, "The plugin of the dispatch benchmark (shmframe-bench-noop.so)")
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  signal(SIGPIPE, SIG_IGN);

  const std::uint64_t run_start = now_ns();
  int failed_parts = 0;
  const std::uint64_t frames30 = quick ? 20 : 150;
  const std::uint64_t flat_ns = quick ? 300'000'000ull : 2'000'000'000ull;
  const std::vector<std::pair<int, int>> sizes = {{640, 480}, {1920, 1080}, {3840, 2160}};
  auto wanted = [&](const std::string& t) {
    return only.empty() || std::find(only.begin(), only.end(), t) != only.end();
  };

  std::vector<Case> cases;
  auto add = [&](const std::string& t, const std::string& mode, std::pair<int, int> sz, int consumers, double rate) {
    if (!modes.empty() && std::find(modes.begin(), modes.end(), mode) == modes.end()) return;
    Case c;
    c.transport = t;
    c.mode = mode;
    c.width = sz.first;
    c.height = sz.second;
    c.consumers = consumers;
    c.rate = rate;
    c.frames = frames30;
    c.duration_ns = flat_ns;
    cases.push_back(c);
  };
  std::vector<std::string> available;
  for (const auto& t : transports()) available.push_back(t.name);
  auto has = [&](const std::string& t) {
    return wanted(t) && std::find(available.begin(), available.end(), t) != available.end();
  };
  for (auto sz : sizes) {
    if (quick && sz.first != 1920) continue;
    for (double rate : {30.0, 0.0}) {
      if (has("unix_socket")) add("unix_socket", "copy", sz, 1, rate);
      if (has("zeromq")) add("zeromq", "copy", sz, 1, rate);
      if (has("iceoryx")) {
        add("iceoryx", "copy", sz, 1, rate);
        add("iceoryx", "zerocopy", sz, 1, rate);
      }
    }
  }
  if (has("shmframe")) {
    for (auto sz : sizes)
      for (const char* mode : {"copy", "zerocopy"})
        for (int n : {1, 2, 4, 8})
          for (double rate : {30.0, 0.0}) add("shmframe", mode, sz, n, rate);
    // Wait policies (issue #11), camera rate only: polling flat out is just spinning.
    for (int n : {1, 8}) add("shmframe", "zerocopy/predictive", {1920, 1080}, n, 30.0);
    add("shmframe", "zerocopy/spin", {1920, 1080}, 1, 30.0);
  }

  // Limits of this machine, measured first, in this same run.
  std::printf("limits of this machine (%ld CPUs):\n", sysconf(_SC_NPROCESSORS_ONLN));
  json limits;
  for (auto sz : sizes) {
    const std::size_t bytes = static_cast<std::size_t>(sz.first) * static_cast<std::size_t>(sz.second) * 3u;
    const std::string key = std::to_string(sz.first) + "x" + std::to_string(sz.second);
    const double t1 = memcpy_ns(bytes, quick ? 10 : 40, 1), t2 = memcpy_ns(bytes, quick ? 10 : 40, 2);
    limits["memcpy_ns"][key] = t1;
    limits["memcpy_rotating_ns"][key] = t2;
    std::printf(
        "  memcpy %s BGR (%zu bytes, warm): one destination %s (%.0f frames/s), two alternating destinations %s (%.0f "
        "frames/s)\n",
        key.c_str(), bytes, fmt_us(t1).c_str(), 1e9 / t1, fmt_us(t2).c_str(), 1e9 / t2);
  }
  const Wake idle = wake_latency(quick ? 20 : 150, 1'000'000'000ull / 30);
  const Wake hot = wake_latency(quick ? 400 : 400, 0);
  limits["wake_ns"] = {{"p50", idle.one_way.p50}, {"p99", idle.one_way.p99}, {"p999", idle.one_way.p999}};
  limits["wake_pingpong_ns"] = {{"p50", idle.pingpong.p50}, {"p99", idle.pingpong.p99}, {"p999", idle.pingpong.p999}};
  limits["wake_hot_pingpong_ns"] = {{"p50", hot.pingpong.p50}, {"p99", hot.pingpong.p99}, {"p999", hot.pingpong.p999}};
  limits["wake_cpu_ns"] = idle.wakee_cpu_ns;
  std::printf(
      "  futex wake-up at 30 Hz (CPUs idle between wakes), one way (stamped): p50 %s p99 %s; ping-pong RTT/2: p50 %s "
      "p99 %s\n",
      fmt_us(idle.one_way.p50).c_str(), fmt_us(idle.one_way.p99).c_str(), fmt_us(idle.pingpong.p50).c_str(),
      fmt_us(idle.pingpong.p99).c_str());
  std::printf("  futex wake-up back to back (busy CPUs), ping-pong RTT/2: p50 %s p99 %s\n",
              fmt_us(hot.pingpong.p50).c_str(), fmt_us(hot.pingpong.p99).c_str());
  std::printf("  CPU time of the woken process per idle wake-up (block + wake, no work): %s\n\n",
              fmt_us(idle.wakee_cpu_ns).c_str());

  RouDi roudi;
  bool iox_ok = true;
  if (has("iceoryx") && !roudi.start(cases)) {
    std::fprintf(stderr, "iox-roudi could not be started: iceoryx cases skipped\n");
    iox_ok = false;
  }

  // The 1920x1080 cases carry the headline comparisons: in the full run they go in interleaved
  // rounds with samples pooled, so a slow spell of this shared machine hits every transport
  // alike instead of whichever case happened to run then.
  const int rounds = quick ? 1 : 3;
  std::vector<std::size_t> plan, group;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    (cases[i].width == 1920 ? group : plan).push_back(i);
  }
  for (int r = 0; r < rounds; ++r) plan.insert(plan.end(), group.begin(), group.end());
  std::vector<Result> results(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) results[i].c = cases[i];
  std::size_t step = 0;
  for (std::size_t idx : plan) {
    const Case& c = cases[idx];
    ++step;
    if (c.transport == "iceoryx" && !iox_ok) {
      results[idx].error = "iox-roudi unavailable";
      continue;
    }
    std::fprintf(stderr, "[%zu/%zu] %s %s %dx%d, %d consumer(s), %s fps\n", step, plan.size(), c.transport.c_str(),
                 c.mode.c_str(), c.width, c.height, c.consumers, rate_str(c.rate).c_str());
    for (const auto& t : transports()) {
      if (t.name == c.transport) results[idx].merge(run_case(t, c));
    }
  }
  std::printf("%-12s %-8s %9s %2s %5s | %10s %10s %10s %10s | %10s %10s | %8s %6s | %9s %9s\n", "transport", "mode",
              "size", "n", "rate", "hand p50", "p99", "p99.9", "max", "wake p50", "wake p99", "fps", "drops",
              "cpu prod", "cpu cons");
  for (auto& r : results) {
    r.finish();
    print_row(r);
  }
  results.erase(std::remove_if(results.begin(), results.end(),
                               [](const Result& r) { return r.rounds == 0 && r.error == "iox-roudi unavailable"; }),
                results.end());

  // Targets (issue #3), as ratios within this run, 1920x1080 unless named.
  json targets = json::array();
  auto target = [&](const std::string& what, double value, double limit, bool lower_is_better) {
    const bool pass = lower_is_better ? value <= limit : value >= limit;
    targets.push_back(
        {{"target", what}, {"value", value}, {"limit", limit}, {"lower_is_better", lower_is_better}, {"pass", pass}});
    std::printf("  %-4s %-90s %8.3f (limit %s %.3f)\n", pass ? "ok" : "MISS", what.c_str(), value,
                lower_is_better ? "<=" : ">=", limit);
  };
  std::printf("\ntargets (ratios within this run):\n");
  const Result* s_copy30 = find(results, "shmframe", "copy", 1920, 1, 30);
  const Result* s_zc30 = find(results, "shmframe", "zerocopy", 1920, 1, 30);
  const Result* s_zc30_4k = find(results, "shmframe", "zerocopy", 3840, 1, 30);
  const Result* i_copy30 = find(results, "iceoryx", "copy", 1920, 1, 30);
  const Result* i_zc30 = find(results, "iceoryx", "zerocopy", 1920, 1, 30);
  const Result* sock30 = find(results, "unix_socket", "copy", 1920, 1, 30);
  const Result* zmq30 = find(results, "zeromq", "copy", 1920, 1, 30);
  const Result* s_copymax = find(results, "shmframe", "copy", 1920, 1, 0);
  if (s_copy30 && i_copy30) {
    target("copy 30fps hand-off p50: shmframe / iceoryx loan+copy", s_copy30->handoff.p50 / i_copy30->handoff.p50, 1.0,
           true);
    target("copy 30fps hand-off p99: shmframe / iceoryx loan+copy", s_copy30->handoff.p99 / i_copy30->handoff.p99, 1.0,
           true);
  }
  const Result* s_zcmax = find(results, "shmframe", "zerocopy", 1920, 1, 0);
  if (s_copy30 && sock30)
    target("copy 30fps hand-off p50: unix socket / shmframe", sock30->handoff.p50 / s_copy30->handoff.p50, 20.0, false);
  if (s_copy30 && zmq30)
    target("copy 30fps hand-off p50: zeromq / shmframe", zmq30->handoff.p50 / s_copy30->handoff.p50, 20.0, false);
  if (s_zc30 && sock30)
    target("  (zero-copy) 30fps hand-off p50: unix socket / shmframe zero-copy",
           sock30->handoff.p50 / s_zc30->handoff.p50, 20.0, false);
  if (s_zc30 && zmq30)
    target("  (zero-copy) 30fps hand-off p50: zeromq / shmframe zero-copy", zmq30->handoff.p50 / s_zc30->handoff.p50,
           20.0, false);
  if (s_zc30) {
    target("zero-copy 30fps wake p50 / raw futex wake-up p50 (one way, stamped, 30 Hz)",
           s_zc30->wake.p50 / idle.one_way.p50, 1.5, true);
    target("  (as specified) zero-copy 30fps wake p50 / raw ping-pong RTT/2 p50 (30 Hz)",
           s_zc30->wake.p50 / idle.pingpong.p50, 1.5, true);
  }
  if (s_zc30 && i_zc30)
    target("zero-copy 30fps hand-off p50: shmframe / iceoryx zero-copy", s_zc30->handoff.p50 / i_zc30->handoff.p50, 1.0,
           true);
  if (s_zc30 && s_zc30_4k)
    target("zero-copy 30fps hand-off p50: 3840x2160 / 1920x1080", s_zc30_4k->handoff.p50 / s_zc30->handoff.p50, 1.2,
           true);
  if (s_copymax) {
    const double one = 1e9 / limits["memcpy_ns"]["1920x1080"].get<double>();
    const double two = 1e9 / limits["memcpy_rotating_ns"]["1920x1080"].get<double>();
    target("copy flat out: fps / (1 / memcpy, two alternating destinations)", s_copymax->fps / two, 0.95, false);
    target("  (as specified) copy flat out: fps / (1 / memcpy, one cache-resident destination)", s_copymax->fps / one,
           0.95, false);
  }
  const Result* i_copymax = find(results, "iceoryx", "copy", 1920, 1, 0);
  if (s_copymax && i_copymax)
    target("copy flat out fps: shmframe / iceoryx loan+copy", s_copymax->fps / i_copymax->fps, 1.0, false);
  for (const char* mode : {"copy", "zerocopy"}) {
    const Result* one = find(results, "shmframe", mode, 1920, 1, 30);
    const Result* eight = find(results, "shmframe", mode, 1920, 8, 30);
    if (one && eight) {
      target(std::string(mode) + " 30fps producer CPU/frame: 8 consumers / 1 consumer",
             eight->cpu_producer / one->cpu_producer, 1.10, true);
      target(std::string(mode) + " 30fps worst consumer p50: 8 consumers / 1 consumer",
             eight->worst_consumer_p50 / one->handoff.p50, 2.0, true);
    }
  }
  // Wait policies (issue #11): 1080p, 30 fps, zero-copy.
  const Result* pred1 = find(results, "shmframe", "zerocopy/predictive", 1920, 1, 30);
  const Result* pred8 = find(results, "shmframe", "zerocopy/predictive", 1920, 8, 30);
  const Result* spin1 = find(results, "shmframe", "zerocopy/spin", 1920, 1, 30);
  if (pred1 && s_zc30) {
    target("wait predictive: hand-off p50 / block p50", pred1->handoff.p50 / s_zc30->handoff.p50, 0.1, true);
    target("wait predictive: hand-off p99 / block p99", pred1->handoff.p99 / s_zc30->handoff.p99, 0.3, true);
    target("wait predictive: consumer CPU, share of one core at 30 fps", pred1->cpu_consumer * 30 / 1e9, 0.03, true);
  }
  if (pred1 && spin1) {
    target("wait predictive: hand-off p50 / busy-poll (spin) p50", pred1->handoff.p50 / spin1->handoff.p50, 2.0, true);
    target("  (for reference) wait spin: consumer CPU, share of one core", spin1->cpu_consumer * 30 / 1e9, 1.0, true);
  }
  if (pred1 && pred8) {
    target("wait predictive, 8 consumers: producer CPU/frame / with 1", pred8->cpu_producer / pred1->cpu_producer, 1.10,
           true);
    target("wait predictive, 8 consumers: worst consumer p50 / 1-consumer p50",
           pred8->worst_consumer_p50 / pred1->handoff.p50, 2.0, true);
  }
  if (pred1 && i_zc30)
    target("wait predictive: hand-off p50 / iceoryx zero-copy p50", pred1->handoff.p50 / i_zc30->handoff.p50, 1.0,
           true);

  // Processing stages (issue #7): plugin dispatch, and a three-stage chain against one hop.
  json stages;
  if (wanted("stages")) {
    std::fprintf(stderr, "stages: plugin dispatch, 3-stage chain vs single hop (1080p, 30 fps)\n");
    const StagesResult st = run_stages(quick, noop_plugin);
    stages = {{"ok", st.ok},
              {"error", st.error},
              {"builtin_call_ns", st.builtin_call_ns},
              {"plugin_call_ns", st.plugin_call_ns},
              {"single_hop_p50_ns", st.single_hop_p50_ns},
              {"chain_e2e_p50_ns", st.chain_e2e_p50_ns},
              {"stage_work_p50_ns", st.stage_work_p50_ns}};
    if (!st.ok) {
      std::fprintf(stderr, "stages failed: %s\n", st.error.c_str());
      failed_parts = 1;
    } else {
      std::printf(
          "\nstages (1920x1080 bgr8, 30 fps, zero-copy): on_frame() compiled in %.1f ns, as a plugin %.1f ns; single "
          "hop "
          "p50 %s; producer -> pass-through stage -> probe p50 %s end to end, of which the stage's own work (a "
          "frame copy into its output) %s\n",
          st.builtin_call_ns, st.plugin_call_ns, fmt_us(st.single_hop_p50_ns).c_str(),
          fmt_us(st.chain_e2e_p50_ns).c_str(), fmt_us(st.stage_work_p50_ns).c_str());
      target("plugin dispatch: on_frame() through the plugin ABI minus compiled in (ns per frame)",
             st.plugin_call_ns - st.builtin_call_ns, 1000.0, true);
      target("3-stage chain e2e p50 minus the stage's work / single-hop p50",
             (st.chain_e2e_p50_ns - st.stage_work_p50_ns) / st.single_hop_p50_ns, 2.2, true);
      target("  (the stage's work included) 3-stage chain e2e p50 / single-hop p50",
             st.chain_e2e_p50_ns / st.single_hop_p50_ns, 2.2, true);
    }
  }

  const double mc = limits["memcpy_ns"]["1920x1080"].get<double>();
  if (s_zcmax)
    target("zero-copy read CPU/frame (flat out: no sleeping) / one 1080p memcpy", s_zcmax->cpu_consumer / mc, 0.02,
           true);
  if (s_zc30) {
    target("  zero-copy 30fps consumer CPU/frame / one 1080p memcpy", s_zc30->cpu_consumer / mc, 0.02, true);
    target("  zero-copy 30fps consumer CPU/frame minus a raw idle wake-up / one 1080p memcpy",
           std::max(0.0, s_zc30->cpu_consumer - idle.wakee_cpu_ns) / mc, 0.02, true);
  }

  if (!json_path.empty()) {
    json out;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::string model = "unknown CPU", kernel = "?";
    {
      std::ifstream cpuinfo("/proc/cpuinfo");
      for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
          model = line.substr(line.find(':') + 2);
          break;
        }
      }
      std::ifstream("/proc/sys/kernel/osrelease") >> kernel;
    }
    const double mem_gib = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE)) /
                           (1ull << 30);
    out["machine"] = {{"cpus", sysconf(_SC_NPROCESSORS_ONLN)},
                      {"cpu_model", model},
                      {"kernel", kernel},
                      {"memory_gib", std::round(mem_gib)},
                      {"host", host}};
    out["seconds"] = static_cast<double>(now_ns() - run_start) / 1e9;
    out["quick"] = quick;
    out["limits"] = limits;
    out["cases"] = json::array();
    for (const auto& r : results) out["cases"].push_back(result_json(r));
    out["targets"] = targets;
    out["stages"] = stages;
    std::ofstream(json_path) << out.dump(2) << "\n";
    std::printf("\nwrote %s\n", json_path.c_str());
  }
  int failed = failed_parts;
  for (const auto& r : results) failed += r.ok ? 0 : 1;
  if (failed) std::fprintf(stderr, "%d case(s) failed\n", failed);
  return failed ? 1 : 0;
}
