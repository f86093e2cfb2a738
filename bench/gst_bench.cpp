// bench/gst_bench.cpp: shmframe-gst-bench, shmframesink -> shmframesrc against GStreamer's own
// shmsink -> shmsrc, in separate processes, at 1080p (docs/PERFORMANCE.md, "GStreamer elements").
//
// Method. For each case the bench starts two copies of itself: a sender
//   videotestsrc is-live=true pattern=black ! video/x-raw,format=BGRx,1920x1080,30/1 ! <sink>
// and a receiver
//   <src> ! fakesink sync=false
// A pad probe on the sender's sink pad writes CLOCK_MONOTONIC into the first 8 bytes of each
// buffer (the last thing before the transport); a pad probe on the receiver's fakesink reads it
// back: hand-off latency = receive time - that stamp (one host, one clock). Both sides measure
// their own CPU time (getrusage, all threads) over the same window of frames, after a warm-up,
// so start-up (plugin loading, registry) is not counted. Cases:
//   shmframe       shmframesink (upstream draws into its slot pool) -> shmframesrc (zero copy)
//   shmframe-copy  shmframesink offer-pool=false (one copy into the slot) -> shmframesrc
//   gst-shm        shmsink (wait-for-connection) -> shmsrc is-live=true
//   pipe-fdsrc     fdsrc (a pipe this process writes 8-byte stamps into at 30 Hz) ! fakesink: what
//                  any GStreamer receiver pays per frame here (a wake-up, a buffer, a push)
//   source-only    videotestsrc ! fakesink: what drawing the frames costs the sender alone
// plus memcpy of one 1080p BGRx frame (8 MB) in this process, to compare a receiver's CPU per
// frame with the cost of one copy. Sinks run with sync=false: nothing waits on purpose.
//
// Usage: shmframe-gst-bench [--frames N] [--warmup N] [--json FILE]   (--help)
// Thread contract: single-threaded apart from GStreamer's streaming threads; the probes touch
// only atomics and the sample vector (guarded by its own mutex).
#include <fcntl.h>
#include <gst/gst.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <shmframe/clock.hpp>

namespace {

constexpr int kWidth = 1920;
constexpr int kHeight = 1080;
constexpr std::size_t kFrameBytes = std::size_t{kWidth} * kHeight * 4;
const char* const kCaps = "video/x-raw,format=BGRx,width=1920,height=1080,framerate=30/1";

std::uint64_t cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto ns = [](const timeval& t) {
    return std::uint64_t(t.tv_sec) * 1'000'000'000 + std::uint64_t(t.tv_usec) * 1000;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

// ---- roles (child processes) ---------------------------------------------------------------

struct Window {
  int warmup = 0;
  int frames = 0;
  std::atomic<int> seen{0};
  std::uint64_t cpu_begin = 0;
  std::uint64_t cpu_end = 0;
  std::mutex mu;
  std::vector<std::uint64_t> latencies;  // ns
  std::atomic<bool> done{false};
  GstElement* pipeline = nullptr;  // told when the window is complete (an application message)
};

// Wakes the driving thread, which otherwise sleeps on the bus: polling it would add its own
// wake-ups to the CPU being measured.
void finish(Window* w) {
  w->cpu_end = cpu_ns();
  w->done = true;
  gst_element_post_message(w->pipeline,
                           gst_message_new_application(GST_OBJECT(w->pipeline), gst_structure_new_empty("done")));
}

GstPadProbeReturn stamp(GstPad*, GstPadProbeInfo* info, gpointer user) {
  auto* w = static_cast<Window*>(user);
  GstBuffer* buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  const std::uint64_t now = shmframe::monotonic_ns();
  gst_buffer_fill(buf, 0, &now, sizeof now);
  const int n = ++w->seen;
  if (n == w->warmup) w->cpu_begin = cpu_ns();
  if (n == w->warmup + w->frames) finish(w);
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn receive(GstPad*, GstPadProbeInfo* info, gpointer user) {
  auto* w = static_cast<Window*>(user);
  const std::uint64_t now = shmframe::monotonic_ns();
  std::uint64_t sent = 0;
  if (gst_buffer_extract(GST_PAD_PROBE_INFO_BUFFER(info), 0, &sent, sizeof sent) != sizeof sent)
    return GST_PAD_PROBE_OK;
  const int n = ++w->seen;
  if (n == w->warmup) w->cpu_begin = cpu_ns();
  if (n > w->warmup && n <= w->warmup + w->frames) {
    const std::lock_guard lock(w->mu);
    w->latencies.push_back(now > sent ? now - sent : 0);
  }
  if (n == w->warmup + w->frames) finish(w);
  return GST_PAD_PROBE_OK;
}

void print_window(Window& w) {
  std::printf("cpu_ns %llu frames %d\n", static_cast<unsigned long long>(w.cpu_end - w.cpu_begin), w.frames);
  const std::lock_guard lock(w.mu);
  for (auto l : w.latencies) std::printf("lat %llu\n", static_cast<unsigned long long>(l));
  std::fflush(stdout);
}

// Runs `pipeline` with a probe on the sink pad of the element named "probe" until its window
// of frames is complete (or an error, or 120 s), and prints "cpu_ns C frames N" and, for a
// receiver, one "lat NS" line per frame. role: "receive"; "send" (stops after its window);
// "send-linger" (goes on sending after its window until the driver stops it: its receiver may
// have attached late and still need frames).
int run_role(const std::string& role, const std::string& pipeline, int warmup, int frames) {
  const bool receiver = role == "receive";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(pipeline.c_str(), &err);
  if (p == nullptr || err != nullptr) {
    std::fprintf(stderr, "gst_parse_launch(%s): %s\n", pipeline.c_str(), err != nullptr ? err->message : "?");
    return 1;
  }
  Window w;
  w.warmup = warmup;
  w.frames = frames;
  w.pipeline = p;
  GstElement* target = gst_bin_get_by_name(GST_BIN(p), "probe");
  GstPad* pad = gst_element_get_static_pad(target, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, receiver ? receive : stamp, &w, nullptr);
  gst_object_unref(pad);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int rc = 0;
  bool printed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (w.done && !printed) {
      print_window(w);
      printed = true;
      if (role != "send-linger") break;
    }
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_APPLICATION));
    if (m == nullptr) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_APPLICATION) {
      gst_message_unref(m);
      continue;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      std::fprintf(stderr, "%s: %s\n", pipeline.c_str(), e->message);
      g_error_free(e);
      rc = 1;
    }
    gst_message_unref(m);
    break;
  }
  if (!printed && rc == 0) {
    std::fprintf(stderr, "%s: %d of %d frames before the end\n", pipeline.c_str(), w.seen.load(), warmup + frames);
    rc = 1;
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(target);
  gst_object_unref(p);
  return rc;
}

// ---- the driver (parent) ---------------------------------------------------------------------

struct Child {
  pid_t pid = -1;
  std::string out;  // file with its stdout
};

Child spawn(const std::string& self, const std::string& role, const std::string& pipeline, int warmup, int frames,
            const std::string& out) {
  Child c;
  c.out = out;
  c.pid = fork();
  if (c.pid == 0) {
    std::FILE* f = std::freopen(out.c_str(), "w", stdout);
    if (f == nullptr) _exit(127);
    const std::string w = std::to_string(warmup);
    const std::string n = std::to_string(frames);
    execl(self.c_str(), self.c_str(), "--role", role.c_str(), pipeline.c_str(), w.c_str(), n.c_str(), nullptr);
    _exit(127);
  }
  return c;
}

int reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Side {
  double cpu_us_per_frame = 0;
  std::vector<std::uint64_t> latencies;
};

std::optional<Side> parse(const std::string& path) {
  std::ifstream in(path);
  Side s;
  std::string key;
  bool have = false;
  while (in >> key) {
    if (key == "cpu_ns") {
      unsigned long long cpu = 0;
      int frames = 0;
      std::string word;
      in >> cpu >> word >> frames;
      s.cpu_us_per_frame = double(cpu) / 1000.0 / std::max(1, frames);
      have = true;
    } else if (key == "lat") {
      unsigned long long l = 0;
      in >> l;
      s.latencies.push_back(l);
    }
  }
  if (!have) return std::nullopt;
  return s;
}

double percentile(std::vector<std::uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = std::min(v.size() - 1, static_cast<std::size_t>(p * double(v.size() - 1) + 0.5));
  return double(v[i]) / 1000.0;
}

struct Result {
  std::string name;
  double p50_us = 0, p99_us = 0, max_us = 0;
  double send_cpu_us = 0, recv_cpu_us = 0;
  bool ok = false;
};

// Waits (bounded) for a file to appear: shmsrc fails at once when shmsink's socket is not there
// yet, unlike shmframesrc, which waits for its stream.
bool wait_for_path(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The sender is stopped by a signal, so a shmframe stream it published stays behind: remove it.
void remove_stream(const std::string& stream) {
  if (stream.empty()) return;
  std::error_code ec;
  std::filesystem::remove("/dev/shm/shmframe." + stream, ec);
  std::filesystem::remove("/dev/shm/shmframe-lock." + stream, ec);
}

// ... and so does GStreamer's shmsink area: /dev/shm/shmpipe.<pid>.<n>, the numbers padded
// with spaces to 5 characters (64 MiB each here). Remove the sender's.
void remove_shmpipe(pid_t sender) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("shmpipe.", 0) != 0) continue;
    const std::size_t dot = n.find('.', 8);
    if (dot == std::string::npos) continue;
    const std::string pid = n.substr(8, dot - 8);
    const std::size_t digits = pid.find_first_not_of(' ');
    if (digits != std::string::npos && pid.substr(digits) == std::to_string(sender))
      std::filesystem::remove(e.path(), ec);
  }
}

// A case's result from what its receiver measured.
Result received(Result r, const Side& recv) {
  r.recv_cpu_us = recv.cpu_us_per_frame;
  r.p50_us = percentile(recv.latencies, 0.5);
  r.p99_us = percentile(recv.latencies, 0.99);
  r.max_us = percentile(recv.latencies, 1.0);
  r.ok = true;
  return r;
}

Result run_case(const std::string& self, const std::string& name, const std::string& sink, const std::string& src,
                const std::string& socket, int warmup, int frames, const std::string& dir,
                const std::string& stream = "", const std::string& caps = kCaps) {
  Result r;
  r.name = name;
  // The sender draws more frames than the receiver needs: it is stopped once the receiver is done.
  const std::string send = std::string("videotestsrc is-live=true pattern=black ! ") + caps + " ! " + sink;
  Child s = spawn(self, src.empty() ? "send" : "send-linger", send, warmup, frames, dir + "/" + name + ".send");
  Child rc;
  if (!src.empty()) {
    if (!socket.empty() && !wait_for_path(socket)) {
      std::fprintf(stderr, "%s: %s never appeared\n", name.c_str(), socket.c_str());
      kill(s.pid, SIGTERM);
      reap(s.pid);
      return r;
    }
    rc = spawn(self, "receive", src + " ! fakesink name=probe sync=false", warmup, frames, dir + "/" + name + ".recv");
    const int status = reap(rc.pid);
    if (status != 0) std::fprintf(stderr, "%s: receiver exited with %d\n", name.c_str(), status);
  }
  if (!src.empty()) kill(s.pid, SIGTERM);  // it lingers (see run_role); its window is printed
  reap(s.pid);
  remove_stream(stream);
  remove_shmpipe(s.pid);
  const auto sp = parse(s.out);
  const auto rp = src.empty() ? std::optional<Side>(Side{}) : parse(rc.out);
  if (!sp || !rp) return r;
  r.send_cpu_us = sp->cpu_us_per_frame;
  return received(r, *rp);
}

// The least a stock GStreamer live receiver does: `fdsrc ! fakesink`, woken by 8-byte stamps this
// process writes into a pipe at 30 Hz. The same receiver role, probe and window as the other
// cases, with no transport and no video: one wake-up (poll, read), one 8-byte buffer, one push
// per frame, and no GStreamer element on the sending side. A source's CPU per frame minus this is
// what it costs beyond the simplest source; latency minus this, what the transport and the
// sending pipeline add to a pipe's wake-up and GStreamer's push.
Result run_pipe_fdsrc(const std::string& self, int warmup, int frames, const std::string& dir) {
  Result r;
  r.name = "pipe-fdsrc";
  int fds[2];
  // The receiver inherits the read end only: no O_CLOEXEC on it, FD_CLOEXEC on the write end.
  if (pipe(fds) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) return r;
  const std::string pipeline = "fdsrc fd=" + std::to_string(fds[0]) + " blocksize=8 ! fakesink name=probe sync=false";
  Child rc = spawn(self, "receive", pipeline, warmup, frames, dir + "/" + r.name + ".recv");
  close(fds[0]);
  // Until the receiver is done (it exits after its window); bounded like run_role's deadline.
  int status = -1;
  for (int i = 0; i < 120 * 30; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(33333));
    const std::uint64_t now = shmframe::monotonic_ns();
    if (write(fds[1], &now, sizeof now) != sizeof now) break;  // EPIPE: it exited (SIGPIPE ignored)
    int st = 0;
    if (waitpid(rc.pid, &st, WNOHANG) == rc.pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
  }
  close(fds[1]);
  if (status == -1) status = reap(rc.pid);
  if (status != 0) std::fprintf(stderr, "%s: receiver exited with %d\n", r.name.c_str(), status);
  const auto rp = parse(rc.out);
  return rp ? received(r, *rp) : r;
}

// Median time of one 1080p BGRx memcpy between two pre-faulted buffers.
double memcpy_us() {
  std::vector<std::uint8_t> a(kFrameBytes, 1), b(kFrameBytes, 2);
  std::vector<double> t;
  for (int i = 0; i < 41; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), kFrameBytes);
    const auto t1 = std::chrono::steady_clock::now();
    a[static_cast<std::size_t>(i)] = b[kFrameBytes - 1 - static_cast<std::size_t>(i)];  // keep the copy observable
    t.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// CPU time a sleeping process spends per wake-up at 30 Hz (a pipe read, nothing else): the floor
// under any receiver that sleeps between frames. In a VM this is tens of microseconds.
double idle_wake_us(int wakes) {
  int to_child[2];
  int from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return 0;
  const pid_t pid = fork();
  if (pid == 0) {
    char c = 0;
    std::uint64_t begin = 0;
    for (int i = 0; i <= wakes; ++i) {
      if (read(to_child[0], &c, 1) != 1) _exit(1);
      if (i == 0) begin = cpu_ns();
    }
    const std::uint64_t used = cpu_ns() - begin;
    _exit(write(from_child[1], &used, sizeof used) == sizeof used ? 0 : 1);
  }
  for (int i = 0; i <= wakes; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(33333));
    if (write(to_child[1], "x", 1) != 1) break;
  }
  std::uint64_t used = 0;
  const bool ok = read(from_child[0], &used, sizeof used) == sizeof used;
  reap(pid);
  for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) close(fd);
  return ok ? double(used) / 1000.0 / wakes : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--role") {
    gst_init(nullptr, nullptr);
    return run_role(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  }
  CLI::App cli{
      "shmframe-gst-bench: shmframesink -> shmframesrc against GStreamer's shmsink -> shmsrc at 1080p, in one run "
      "(docs/PERFORMANCE.md, \"GStreamer elements\")."};
  int frames = 300;
  int warmup = 30;
  std::string json;
  cli.add_option("--frames", frames, "Frames measured a case")->check(CLI::Range(1, 1'000'000))->capture_default_str();
  cli.add_option("--warmup", warmup, "Frames before measuring")->check(CLI::Range(0, 1'000'000))->capture_default_str();
  cli.add_option("--json", json, "Also write the results as JSON to PATH");
  CLI11_PARSE(cli, argc, argv);
#ifdef SHMFRAME_GST_PLUGIN_DIR
  // This build's plugin, unless the caller chose a plugin path.
  setenv("GST_PLUGIN_PATH", SHMFRAME_GST_PLUGIN_DIR, 0);
#endif
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  char tmpl[] = "/tmp/shmframe-gst-bench.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string tag = std::to_string(getpid());
  const std::string stream = "gst-bench-" + tag;
  const std::string socket = dir + "/shm.sock";

  const double copy_us = memcpy_us();
  const double wake_us = idle_wake_us(100);
  std::vector<Result> results;
  results.push_back(run_case(self, "shmframe", "shmframesink name=probe stream=" + stream + "a slots=3 sync=false",
                             "shmframesrc stream=" + stream + "a", "", warmup, frames, dir, stream + "a"));
  results.push_back(run_case(self, "shmframe-copy",
                             "shmframesink name=probe stream=" + stream + "b slots=3 offer-pool=false sync=false",
                             "shmframesrc stream=" + stream + "b", "", warmup, frames, dir, stream + "b"));
  results.push_back(
      run_case(self, "gst-shm",
               "shmsink name=probe socket-path=" + socket + " shm-size=67108864 wait-for-connection=true sync=false",
               "shmsrc socket-path=" + socket + " is-live=true", socket, warmup, frames, dir));
  std::signal(SIGPIPE, SIG_IGN);  // run_pipe_fdsrc's writes after its receiver exited
  results.push_back(run_pipe_fdsrc(self, warmup, frames, dir));
  results.push_back(run_case(self, "source-only", "fakesink name=probe sync=false", "", "", warmup, frames, dir));
  // Issue 19: a camera-like NV12 pipeline carried as NV12, against the same pipeline with the
  // videoconvert to BGR that a BGR-only transport needed before the sink.
  const std::string nv12 = "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1";
  results.push_back(run_case(self, "nv12-native", "shmframesink name=probe stream=" + stream + "c slots=3 sync=false",
                             "shmframesrc stream=" + stream + "c", "", warmup, frames, dir, stream + "c", nv12));
  results.push_back(run_case(
      self, "nv12-convert",
      "videoconvert ! video/x-raw,format=BGR ! shmframesink name=probe stream=" + stream + "d slots=3 sync=false",
      "shmframesrc stream=" + stream + "d", "", warmup, frames, dir, stream + "d", nv12));
  std::filesystem::remove_all(dir);

  std::printf("shmframe-gst-bench: 1920x1080 BGRx at 30 fps, %d frames per case after %d of warm-up\n", frames, warmup);
  std::printf("memcpy of one frame (8.3 MB): %.0f us; CPU of an idle process per wake-up at 30 Hz: %.1f us\n\n",
              copy_us, wake_us);
  double pipe_us = 0;
  for (const auto& r : results) {
    if (r.name == "pipe-fdsrc" && r.ok) pipe_us = r.recv_cpu_us;
  }
  std::printf("%-14s %10s %10s %10s %14s %14s %12s %18s %19s\n", "case", "p50 us", "p99 us", "max us", "sender CPU/f",
              "receiver CPU/f", "recv/memcpy", "(recv-wake)/memcpy", "(recv-pipe)/memcpy");
  bool all = true;
  for (const auto& r : results) {
    if (!r.ok) {
      std::printf("%-14s failed\n", r.name.c_str());
      all = false;
      continue;
    }
    const auto share = [&](double us) { return 100.0 * us / copy_us; };  // signed: below the pipe is below
    if (r.name == "source-only") {
      std::printf("%-14s %10s %10s %10s %11.0f us %14s %12s %18s %19s\n", r.name.c_str(), "-", "-", "-", r.send_cpu_us,
                  "-", "-", "-", "-");
    } else if (r.name == "pipe-fdsrc") {
      std::printf("%-14s %10.1f %10.1f %10.1f %14s %11.1f us %11.2f%% %17.2f%% %19s\n", r.name.c_str(), r.p50_us,
                  r.p99_us, r.max_us, "-", r.recv_cpu_us, share(r.recv_cpu_us), share(r.recv_cpu_us - wake_us), "-");
    } else {
      std::printf("%-14s %10.1f %10.1f %10.1f %11.0f us %11.1f us %11.2f%% %17.2f%% %18.2f%%\n", r.name.c_str(),
                  r.p50_us, r.p99_us, r.max_us, r.send_cpu_us, r.recv_cpu_us, share(r.recv_cpu_us),
                  share(r.recv_cpu_us - wake_us), share(r.recv_cpu_us - pipe_us));
    }
  }
  double native = 0;
  double converted = 0;
  for (const auto& r : results) {
    if (r.name == "nv12-native" && r.ok) native = r.send_cpu_us + r.recv_cpu_us;
    if (r.name == "nv12-convert" && r.ok) converted = r.send_cpu_us + r.recv_cpu_us;
  }
  if (native > 0 && converted > 0) {
    std::printf(
        "\nNV12 1080p pipeline pair, CPU per frame (sender + receiver): carried as NV12 %.0f us, with "
        "videoconvert to BGR before the sink %.0f us: %.1fx\n",
        native, converted, converted / native);
  }
  if (!json.empty()) {
    std::ofstream out(json);
    out << "{\"width\": 1920, \"height\": 1080, \"format\": \"BGRx\", \"fps\": 30, \"frames\": " << frames
        << ", \"memcpy_us\": " << copy_us << ", \"idle_wake_us\": " << wake_us << ", \"cases\": [";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      out << (i ? ", " : "") << "{\"name\": \"" << r.name << "\", \"ok\": " << (r.ok ? "true" : "false")
          << ", \"p50_us\": " << r.p50_us << ", \"p99_us\": " << r.p99_us << ", \"max_us\": " << r.max_us
          << ", \"sender_cpu_us_per_frame\": " << r.send_cpu_us << ", \"receiver_cpu_us_per_frame\": " << r.recv_cpu_us
          << "}";
    }
    out << "]}\n";
  }
  return all ? 0 : 1;
}
