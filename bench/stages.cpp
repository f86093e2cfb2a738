// Processing stages in shmframe-bench: plugin dispatch against the same processor compiled in,
// and a three-stage chain (producer -> pass-through stage -> probe) against a single hop, in
// one run (issue #7's targets).
#include "stages.hpp"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <shmframe/plugin_host.hpp>
#include <shmframe/shmframe.hpp>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "noop_processor.hpp"

namespace bench {
namespace {

struct NullOutput final : shmframe::Output {
  bool enabled() const noexcept override { return false; }
  shmframe::OutputBuffer acquire(const shmframe::FrameFormat&) noexcept override { return {}; }
  bool commit(std::span<const std::byte>) noexcept override { return false; }
};

// ns per on_frame() call, over `n` calls with the same 1080p input.
double per_call_ns(shmframe::Processor& p, int n) {
  static std::vector<std::byte> pixels(1920u * 1080u * 3u, std::byte{7});
  const shmframe::Origin origin{"bench", 1, 1, 1, 0};
  NullOutput out;
  const shmframe::Input in(shmframe::Input::Parts{
      .data = pixels.data(),
      .format = shmframe::FrameFormat{1920, 1080, shmframe::PixelFormat::bgr8, 0},
      .seq = 1,
      .generation = 1,
      .capture_ns = 1,
      .commit_ns = 1,
      .metadata = {},
      .origin = &origin,
      .now_ns = 1,
      .dropped = 0,
      .valid = [](const void*) noexcept { return true; },
      .valid_ctx = nullptr,
  });
  shmframe::Processor* proc = &p;
  const std::uint64_t t0 = now_ns();
  for (int i = 0; i < n; ++i) {
    // Hide the dynamic type from the optimizer: a virtual call each time, as in run(), instead
    // of a devirtualized loop it could hoist away.
    asm volatile("" : "+r"(proc) : : "memory");
    (void)proc->on_frame(in, out);
  }
  return static_cast<double>(now_ns() - t0) / n;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

constexpr std::size_t kMaxFrames = 4096;
struct ChainShared {
  std::uint32_t work_count;
  std::uint64_t work_ns[kMaxFrames];  // time inside the stage's on_frame()
};

// The pass-through stage: copies its input into an output slot (the stage's own work).
class PassThrough final : public shmframe::Processor {
 public:
  explicit PassThrough(ChainShared& s) : s_(s) {}
  bool on_frame(const shmframe::Input& in, shmframe::Output& out) override {
    const std::uint64_t t0 = now_ns();
    const shmframe::OutputBuffer b = out.acquire(in.format());
    if (!b) return false;
    std::memcpy(b.data, in.data(), in.format().frame_bytes());
    const bool ok = in.still_valid() && out.commit();
    const std::uint32_t i = std::atomic_ref<std::uint32_t>(s_.work_count).fetch_add(1);
    if (i < kMaxFrames) s_.work_ns[i] = now_ns() - t0;
    return ok;
  }

 private:
  ChainShared& s_;
};

int reap_child(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

// One run: a 1080p bgr8 producer at 30 fps (zero-copy: it commits straight from the slot), each
// process on its own, and a probe (this process) at the end of `stages` pass-through stages
// (0 = a single hop). Returns the probe's latencies: capture of the origin frame -> the probe
// holds the frame. The first kWarmup frames let the stage create its output and the probe attach.
constexpr std::uint64_t kWarmup = 15;

std::vector<double> chain_run(int stages, std::uint64_t frames, std::vector<double>* work) {
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(stages);
  const std::string s0 = "bench-chain0-" + tag, s1 = "bench-chain1-" + tag;
  void* mem = mmap(nullptr, sizeof(ChainShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return {};
  auto* sh = new (mem) ChainShared{};
  std::vector<double> lat;
  std::fflush(nullptr);
  pid_t stage = -1;
  if (stages == 1) {
    stage = fork();
    if (stage == 0) {
      try {
        shmframe::Reader in(s0);
        PassThrough p(*sh);
        shmframe::RunOptions o;
        o.exit_on_close = true;
        o.idle_timeout = std::chrono::seconds(30);
        o.output = s1;
        o.output_options.slots = 2;
        const auto r = shmframe::run(in, p, o);
        _exit(r.end == shmframe::RunEnd::closed ? 0 : 1);
      } catch (...) {
        _exit(2);
      }
    }
  }
  const pid_t producer = fork();
  if (producer == 0) {
    try {
      shmframe::WriterOptions wo;
      wo.format = shmframe::FrameFormat{1920, 1080, shmframe::PixelFormat::bgr8, 0};
      shmframe::Writer w(s0, wo);
      std::uint64_t next = now_ns();
      for (std::uint64_t i = 0; i < kWarmup + frames; ++i) {
        sleep_until(next);
        next += 1'000'000'000ull / 30;
        auto slot = w.acquire();
        if (!slot) _exit(1);
        slot.data()[0] = static_cast<std::byte>(i);
        (void)w.commit(slot, shmframe::monotonic_ns());
      }
      w.close();
      _exit(0);
    } catch (...) {
      _exit(2);
    }
  }
  try {
    shmframe::Reader probe(stages == 0 ? s0 : s1);
    const std::uint64_t give_up = now_ns() + 30'000'000'000ull + frames * 40'000'000ull;
    while (now_ns() < give_up) {
      shmframe::Event e = probe.wait(std::chrono::seconds(1));
      if (e.kind == shmframe::EventKind::closed) break;
      if (e.kind != shmframe::EventKind::frame) continue;
      const std::uint64_t now = shmframe::monotonic_ns();
      const std::optional<shmframe::Origin> o = e.frame.origin();
      const std::uint64_t origin_seq = o ? o->seq : e.frame.seq();
      const std::uint64_t origin = o ? o->capture_ns : e.frame.capture_ns();
      if (origin_seq > kWarmup) lat.push_back(static_cast<double>(now - origin));
    }
  } catch (const shmframe::Error&) {
    lat.clear();
  }
  if (reap_child(producer) != 0) lat.clear();
  if (stage > 0 && reap_child(stage) != 0) lat.clear();
  if (work != nullptr) {
    const std::uint32_t n = std::min<std::uint32_t>(sh->work_count, kMaxFrames);
    for (std::uint32_t i = 0; i < n; ++i) work->push_back(static_cast<double>(sh->work_ns[i]));
  }
  munmap(mem, sizeof(ChainShared));
  return lat;
}

}  // namespace

StagesResult run_stages(bool quick, const std::string& noop_plugin) {
  StagesResult r;
  // Plugin dispatch: rounds of the compiled-in processor and the plugin, alternating.
  try {
    NoopProcessor builtin;
    auto plugin = shmframe::load_plugin(noop_plugin, {}, {}, {});
    const int calls = quick ? 20'000 : 200'000;
    std::vector<double> b, p;
    for (int round = 0; round < (quick ? 3 : 9); ++round) {
      b.push_back(per_call_ns(builtin, calls));
      p.push_back(per_call_ns(*plugin, calls));
    }
    r.builtin_call_ns = median(b);
    r.plugin_call_ns = median(p);
  } catch (const shmframe::Error& e) {
    r.error = e.what();
    return r;
  }
  // Chain vs single hop, alternating runs, samples pooled.
  const std::uint64_t frames = quick ? 30 : 150;
  std::vector<double> single, chain, work;
  for (int round = 0; round < (quick ? 1 : 2); ++round) {
    auto a = chain_run(0, frames, nullptr);
    auto c = chain_run(1, frames, &work);
    if (a.empty() || c.empty()) {
      r.error = "chain run failed";
      return r;
    }
    single.insert(single.end(), a.begin(), a.end());
    chain.insert(chain.end(), c.begin(), c.end());
  }
  r.single_hop_p50_ns = median(single);
  r.chain_e2e_p50_ns = median(chain);
  r.stage_work_p50_ns = median(work);
  r.frames = single.size() + chain.size();
  r.ok = true;
  return r;
}

}  // namespace bench
