// tests/multiprocess/mp_common.hpp: producer and consumer bodies for fork()ed children.
// A producer child commits frames whose pixels encode their seq (testkit::fill_pattern);
// a consumer child reports what it sees as text lines to the parent.
#pragma once

#include <signal.h>
#include <time.h>

#include <atomic>
#include <functional>
#include <shmframe/detail/os.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

#include "testkit.hpp"

namespace mp {

inline std::atomic<bool> g_term{false};
inline void on_term(int) { g_term.store(true); }
// SIGTERM ends a child's loop so it closes its stream cleanly.
inline void install_term() {
  struct sigaction sa{};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
}

inline void sleep_until_ns(std::uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000ull), static_cast<long>(t % 1'000'000'000ull)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

inline shmframe::WriterOptions small_format(std::uint32_t slots = 2) {
  shmframe::WriterOptions o;
  o.format = shmframe::FrameFormat{64, 32, shmframe::PixelFormat::gray8, 0};
  o.slots = slots;
  o.max_consumers = 32;
  o.heartbeat = std::chrono::milliseconds(50);
  return o;
}

// Commits one pattern frame for the slot's seq.
inline std::uint64_t put_pattern(shmframe::Writer& w) {
  shmframe::WriteSlot s = w.acquire();
  if (!s) return 0;
  testkit::fill_pattern(s.data(), w.format().frame_bytes(), s.seq());
  return w.commit(s, shmframe::monotonic_ns()).seq;
}

// Producer child body: `frames` frames (0 = until SIGTERM), one every `period_us` (0 = flat
// out). Sends "ready GEN" once the stream exists, and library log lines as "log ...".
inline int produce(const std::string& name, shmframe::WriterOptions o, std::uint64_t frames, std::uint64_t period_us,
                   const testkit::LinePipe* events = nullptr, const std::function<void(shmframe::Writer&, std::uint64_t)>& each = {}) {
  install_term();
  if (events != nullptr) o.log = [events](shmframe::LogLevel, const std::string& m) { events->send("log " + m); };
  shmframe::Writer w(name, o);
  if (events != nullptr) events->send("ready " + std::to_string(w.generation()));
  std::uint64_t next = shmframe::detail::monotonic_ns();
  for (std::uint64_t n = 0; !g_term.load() && (frames == 0 || n < frames); ++n) {
    if (period_us != 0) {
      sleep_until_ns(next);
      next += period_us * 1000;
    }
    if (put_pattern(w) == 0) return 3;
    if (each) each(w, n + 1);
  }
  if (events != nullptr) events->send("done");
  return 0;
}

// Consumer child body: reports every event as a line until `stop(event)` says so or
// `budget` runs out (then exit 2).
//   attached GEN WIDTH | frame SEQ GEN PATTERN_OK STILL_VALID DROPS_TOTAL | lost GEN | closed GEN | error MSG
inline int report_events(const std::string& name, const testkit::LinePipe& out, const std::function<bool(const shmframe::Event&)>& stop,
                         std::chrono::milliseconds budget, shmframe::ReaderOptions ro = {}) {
  shmframe::Reader r(name, ro);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < deadline) {
    shmframe::Event e = r.wait(std::chrono::milliseconds(100));
    switch (e.kind) {
      case shmframe::EventKind::attached:
        out.send("attached " + std::to_string(e.generation) + " " + std::to_string(r.info().format.width));
        break;
      case shmframe::EventKind::frame: {
        const bool ok = testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq());
        const bool valid = e.frame.still_valid();
        out.send("frame " + std::to_string(e.frame.seq()) + " " + std::to_string(e.generation) + " " + (ok ? "1" : "0") + " " +
                 (valid ? "1" : "0") + " " + std::to_string(r.stats().drops));
        break;
      }
      case shmframe::EventKind::producer_lost: out.send("lost " + std::to_string(e.generation)); break;
      case shmframe::EventKind::closed: out.send("closed " + std::to_string(e.generation)); break;
      case shmframe::EventKind::error: out.send("error " + e.message); break;
      default: break;
    }
    if (stop && stop(e)) return 0;
  }
  return 2;
}

}  // namespace mp
