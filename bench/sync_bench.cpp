// shmframe-sync-bench: synchronised sets against single readers, in one run (issue 21).
//
//   shmframe-sync-bench [--frames K] [--fps F] [--rounds R] [--wait block|spin|predictive]
//                       [--cpu-latency-us US]   (--help for all)
//   prints one JSON object per stream count
//
// For N = 2 and 4 phase-locked producers (child processes, 640x480 gray8 at F fps, stamped with
// their tick), one after the other in this process:
// - one Reader on stream 0 (every frame): hand-off = take - commit, p50 and p99, and its CPU
//   per frame (CLOCK_THREAD_CPUTIME_ID);
// - N Readers on N threads at once: the CPU of all of them per N frames;
// - a SyncReader over the N streams: set latency = delivery - the last member's commit, and its
//   CPU per set; the commit gap (the last member's commit - the first's) says how far apart the
//   producers publish one tick.
// The single reader and the SyncReader take turns, in --rounds rounds (the order alternating), so
// that both see the same machine: a shared VM's noise moves both. Ratios: set latency p50 / single
// hand-off p50 over all the rounds' samples, and the median of the rounds' own ratios (target <=
// 1.2); SyncReader CPU per set / the N readers' CPU per N frames (target <= 1.0).
// SHMFRAME_FUTEX_WAITV=0 measures the fallback wait. SHMFRAME_BENCH_MARKERS=1 writes each turn's
// start to the kernel's trace_marker (bench/sync_sched.py reads them beside the scheduler's
// events). --wait: every reader's wait policy (block by default; spin polls with a 2 ms limit per
// wait).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <shmframe/detail/commit_wait.hpp>
#include <shmframe/shmframe.hpp>
#include <string>

#include <thread>
#include <vector>
#include "enum_option.hpp"

namespace {

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

void sleep_until_ns(std::uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000ull), static_cast<long>(t % 1'000'000'000ull)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

int g_qos_fd = -1;                 // --cpu-latency-us: the PM QoS request, held open for the run
volatile sig_atomic_t g_stop = 0;  // NOLINT: set by the child's SIGTERM handler, read by its loop

// A phase-locked producer in a child process until SIGTERM.
pid_t spawn_camera(const std::string& name, std::uint64_t period) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Not the bench's PM QoS request: it ends when the bench does, whatever becomes of us.
  if (g_qos_fd >= 0) close(g_qos_fd);
  signal(SIGTERM, [](int) { g_stop = 1; });
  // Stop with the bench, also when it is killed (or was, before this line).
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(0);
  try {
    shmframe::WriterOptions o;
    o.format = shmframe::FrameFormat{640, 480, shmframe::PixelFormat::gray8, 0};
    o.slots = 3;
    shmframe::Writer w(name, o);
    std::uint64_t tick = (shmframe::monotonic_ns() / period + 1) * period;
    while (g_stop == 0) {
      sleep_until_ns(tick);
      shmframe::WriteSlot s = w.acquire();
      if (s) {
        std::memset(s.data(), static_cast<int>(s.seq() & 0xff), 64);
        (void)w.commit(s, tick);
      }
      tick += period;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "camera %s: %s\n", name.c_str(), e.what());
    _exit(1);
  }
  _exit(0);
}

struct Percentiles {
  double p50 = 0, p99 = 0;
};
Percentiles percentiles(std::vector<std::uint64_t> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {static_cast<double>(v[v.size() / 2]), static_cast<double>(v[std::min(v.size() - 1, v.size() * 99 / 100)])};
}

struct Single {
  Percentiles handoff;
  double cpu_per_frame = 0;
  std::vector<std::uint64_t> samples;
};

shmframe::WaitPolicy g_wait = shmframe::WaitPolicy::block;  // --wait, for every reader
constexpr std::chrono::milliseconds kSpinLimit{2};

// One Reader on `name`, `frames` frames after 10 of warm-up.
Single single_reader(const std::string& name, int frames) {
  shmframe::ReaderOptions ro;
  ro.delivery = shmframe::Delivery::every_frame;
  ro.wait = g_wait;
  ro.spin_limit = kSpinLimit;
  shmframe::Reader r(name, ro);
  std::vector<std::uint64_t> lat;
  int seen = 0;
  std::uint64_t cpu0 = 0;
  while (static_cast<int>(lat.size()) < frames) {
    shmframe::Event e = r.wait(std::chrono::seconds(5));
    if (e.kind == shmframe::EventKind::timeout) break;
    if (e.kind != shmframe::EventKind::frame) continue;
    const std::uint64_t now = shmframe::monotonic_ns();
    if (++seen == 10) cpu0 = thread_cpu_ns();
    if (seen > 10) lat.push_back(now - e.frame.commit_ns());
  }
  const double cpu = lat.empty() ? 0 : static_cast<double>(thread_cpu_ns() - cpu0) / static_cast<double>(lat.size());
  return {percentiles(lat), cpu, std::move(lat)};
}

struct Sync {
  Percentiles latency, spread;
  double cpu_per_set = 0;
  std::string wait;
  std::uint64_t unmatched = 0;
  std::vector<std::uint64_t> samples, spreads, gaps;
};

Sync sync_reader(const std::vector<std::string>& names, int sets) {
  shmframe::SyncOptions so;
  so.reader.wait = g_wait;
  so.reader.spin_limit = kSpinLimit;
  shmframe::SyncReader r(names, so);
  std::vector<std::uint64_t> lat, spread, gaps;
  int seen = 0;
  std::uint64_t cpu0 = 0;
  while (static_cast<int>(lat.size()) < sets) {
    shmframe::SyncEvent e = r.wait(std::chrono::seconds(5));
    if (e.kind == shmframe::SyncEventKind::timeout) break;
    if (e.kind != shmframe::SyncEventKind::set) continue;
    const std::uint64_t now = shmframe::monotonic_ns();
    if (++seen == 10) cpu0 = thread_cpu_ns();
    if (seen > 10) {
      lat.push_back(now - e.set.complete_ns);
      spread.push_back(e.set.spread_ns);
      std::uint64_t first = UINT64_MAX;
      for (const shmframe::Frame& f : e.set.frames) first = std::min(first, f.commit_ns());
      gaps.push_back(e.set.complete_ns - first);
    }
  }
  Sync s{percentiles(lat),
         percentiles(spread),
         lat.empty() ? 0 : static_cast<double>(thread_cpu_ns() - cpu0) / static_cast<double>(lat.size()),
         r.stats().wait,
         0,
         std::move(lat),
         std::move(spread),
         std::move(gaps)};
  for (std::uint64_t u : r.stats().unmatched) s.unmatched += u;
  return s;
}

// "<what> <reader pid> <camera pids...>" into the ftrace buffer, when SHMFRAME_BENCH_MARKERS=1
// (bench/sync_sched.py).
void mark(const char* what, const std::vector<pid_t>& cams) {
  static FILE* f = [] {
    const char* env = std::getenv("SHMFRAME_BENCH_MARKERS");
    return env != nullptr && std::strcmp(env, "1") == 0 ? std::fopen("/sys/kernel/tracing/trace_marker", "w") : nullptr;
  }();
  if (f == nullptr) return;
  std::fprintf(f, "shmframe-sync-bench %s %d", what, static_cast<int>(getpid()));
  for (const pid_t p : cams) std::fprintf(f, " %d", static_cast<int>(p));
  std::fprintf(f, "\n");
  std::fflush(f);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "shmframe-sync-bench: SyncReader's set latency and CPU against single readers, for 2 and 4 phase-locked "
      "producers, in one run. Prints one JSON line per stream count (docs/PERFORMANCE.md, \"Synchronised sets\")."};
  int frames = 300;
  int rounds = 5;
  double fps = 100;
  std::optional<std::int32_t> cpu_latency_us;
  cli.add_option("--frames", frames, "Frames (sets) per reader over all the rounds; at least 20 a round")
      ->check(CLI::Range(20, 10'000'000))
      ->capture_default_str();
  cli.add_option("--fps", fps, "The producers' rate")->check(CLI::Range(0.2, 1000.0))->capture_default_str();
  cli.add_option("--rounds", rounds, "Turns of each reader kind, the order alternating")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  shmframe::app::add_enum_option(cli, "--wait", g_wait, "Every reader's wait policy");
  cli.add_option("--cpu-latency-us", cpu_latency_us,
                 "Hold a PM QoS request on /dev/cpu_dma_latency for the run (root): idle CPUs may take no longer than "
                 "this to wake; 0 keeps them polling instead of halting")
      ->check(CLI::Range(0, 100'000'000));
  CLI11_PARSE(cli, argc, argv);
  if (frames / rounds < 20) {
    std::fprintf(stderr, "shmframe-sync-bench: --frames %d over --rounds %d is under 20 a round: give more frames\n",
                 frames, rounds);
    return 2;
  }
  // The kernel keeps the request while the file stays open (closed at exit).
  if (cpu_latency_us) {
    g_qos_fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
    if (g_qos_fd < 0 || write(g_qos_fd, &*cpu_latency_us, sizeof *cpu_latency_us) != sizeof *cpu_latency_us) {
      std::fprintf(stderr, "shmframe-sync-bench: --cpu-latency-us: /dev/cpu_dma_latency: %s (run as root)\n",
                   std::strerror(errno));
      return 2;
    }
  }
  const auto period = static_cast<std::uint64_t>(1e9 / fps);
  const int per_round = frames / rounds;
  for (const int n : {2, 4}) {
    std::vector<std::string> names;
    std::vector<pid_t> cams;
    for (int i = 0; i < n; ++i) {
      names.push_back("sync-bench-" + std::to_string(getpid()) + "-" + std::to_string(i));
      cams.push_back(spawn_camera(names.back(), period));
    }
    // The single reader and the SyncReader take turns (the order alternating each round).
    std::vector<std::uint64_t> single_all, set_all, spread_all, gap_all;
    std::vector<double> round_ratios;
    double single_cpu = 0, sync_cpu = 0;
    Sync last;
    for (int r = 0; r < rounds; ++r) {
      Single one;
      Sync s;
      const auto single_turn = [&] {
        mark("single", cams);
        one = single_reader(names[0], per_round);
      };
      const auto sync_turn = [&] {
        mark("sync", cams);
        s = sync_reader(names, per_round);
      };
      if (r % 2 == 0) {
        single_turn();
        sync_turn();
      } else {
        sync_turn();
        single_turn();
      }
      if (one.handoff.p50 > 0) round_ratios.push_back(s.latency.p50 / one.handoff.p50);
      single_all.insert(single_all.end(), one.samples.begin(), one.samples.end());
      set_all.insert(set_all.end(), s.samples.begin(), s.samples.end());
      spread_all.insert(spread_all.end(), s.spreads.begin(), s.spreads.end());
      gap_all.insert(gap_all.end(), s.gaps.begin(), s.gaps.end());
      single_cpu += one.cpu_per_frame / rounds;
      sync_cpu += s.cpu_per_set / rounds;
      last.unmatched += s.unmatched;
      last.wait = s.wait;
    }
    // N readers at once, one thread each: their CPU per N frames.
    mark("readers", cams);
    std::vector<double> cpu(static_cast<std::size_t>(n));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        cpu[static_cast<std::size_t>(i)] = single_reader(names[static_cast<std::size_t>(i)], frames).cpu_per_frame;
      });
    }
    for (auto& t : threads) t.join();
    double n_readers_cpu = 0;
    for (double c : cpu) n_readers_cpu += c;
    for (pid_t p : cams) kill(p, SIGTERM);
    for (pid_t p : cams) waitpid(p, nullptr, 0);
    const Percentiles single = percentiles(single_all), set = percentiles(set_all), spread = percentiles(spread_all),
                      gap = percentiles(gap_all);
    std::printf(
        "{\"streams\":%d,\"fps\":%g,\"frames\":%d,\"rounds\":%d,\"single_handoff_p50_ns\":%.0f,"
        "\"single_handoff_p99_ns\":%.0f,\"set_latency_p50_ns\":%.0f,\"set_latency_p99_ns\":%.0f,"
        "\"latency_ratio_p50\":%.3f,\"latency_ratio_round_median\":%.3f,\"single_cpu_ns_per_frame\":%.0f,"
        "\"n_readers_cpu_ns_per_n_frames\":%.0f,\"sync_cpu_ns_per_set\":%.0f,\"cpu_ratio\":%.3f,"
        "\"spread_p99_ns\":%.0f,\"commit_gap_p50_ns\":%.0f,\"unmatched\":%llu,\"wait\":\"%s\",\"policy\":\"%s\","
        "\"cpus\":%u,\"cpu_latency_us\":%s}\n",
        n, fps, frames, rounds, single.p50, single.p99, set.p50, set.p99, single.p50 > 0 ? set.p50 / single.p50 : 0.0,
        median(round_ratios), single_cpu, n_readers_cpu, sync_cpu, n_readers_cpu > 0 ? sync_cpu / n_readers_cpu : 0.0,
        spread.p99, gap.p50, static_cast<unsigned long long>(last.unmatched), last.wait.c_str(),
        // The CPUs it may run on, as the wait policies count them: 1 under taskset -c 0.
        std::string(shmframe::to_string(g_wait)).c_str(), shmframe::detail::usable_cpus(),
        // The PM QoS request held (--cpu-latency-us), null for none.
        cpu_latency_us ? std::to_string(*cpu_latency_us).c_str() : "null");
    std::fflush(stdout);
  }
  return 0;
}
