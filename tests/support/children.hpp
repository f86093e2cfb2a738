// tests/support/children.hpp: producer and consumer bodies for fork()ed children (multiprocess
// and stress tests). A producer child commits frames whose pixels encode their seq
// (testkit::fill_pattern); a consumer child reports what it sees to the parent as Records:
//
//   kind=ready gen=G                      producer: the stream exists
//   kind=log text=...                     producer: a library log line
//   kind=done                             producer: committed every frame it was asked for
//   kind=attached gen=G width=W           consumer events, one Record each
//   kind=frame seq=S gen=G ok=0|1 valid=0|1 drops=D
//   kind=lost gen=G | kind=closed gen=G | kind=error message=...
//   kind=corrupt message=... count=N     consumer: it saw (and recovered from) a hostile write
//
// OpenCV-free. Threads: none (children fork from a single-threaded parent).
#pragma once

#include <grp.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <shmframe/shmframe.hpp>

#include "testkit.hpp"

namespace children {

inline std::atomic<bool> g_term{false};
inline void on_term(int) { g_term.store(true); }
// SIGTERM ends a child's loop so it closes its stream cleanly.
inline void install_term() {
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
}

// Drops root for uid and gid 65534 (nobody), no supplementary groups: 0, or 50 if that failed
// (a child's exit code). `keep_group`: keep the current gid (a member of the producer's group).
inline int become_nobody(bool keep_group = false) {
  const gid_t gid = keep_group ? getegid() : 65534;
  return setgroups(0, nullptr) == 0 && setgid(gid) == 0 && setuid(65534) == 0 ? 0 : 50;
}

// Pacing for a producer loop (the frame period, not synchronization).
inline void sleep_until_ns(std::uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000ull), static_cast<long>(t % 1'000'000'000ull)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

// The multi-process tests' stream: small frames, room for many consumers, a 50 ms heartbeat
// so that loss and reaping (3 silent beats) show within a fraction of a second.
inline constexpr std::chrono::milliseconds kHeartbeat{50};
inline shmframe::WriterOptions options(std::uint32_t slots = 2) {
  return testkit::small_options({.slots = slots, .max_consumers = 32, .heartbeat = kHeartbeat});
}

// Commits one pattern frame for the slot's seq; returns the seq (0 if nothing committed).
inline std::uint64_t put_pattern(shmframe::Writer& w) {
  shmframe::WriteSlot s = w.acquire();
  if (!s) return 0;
  testkit::fill_pattern(s.data(), w.format().frame_bytes(), s.seq());
  return w.commit(s, shmframe::monotonic_ns()).seq;
}

// Producer child body: `frames` frames (0 = until SIGTERM), one every `period_us` (0 = flat
// out). Sends ready/log/done Records on `events` if given.
inline int produce(const std::string& name, shmframe::WriterOptions o, std::uint64_t frames, std::uint64_t period_us,
                   const testkit::LinePipe* events = nullptr,
                   const std::function<void(shmframe::Writer&, std::uint64_t)>& each = {}) {
  install_term();
  if (events != nullptr) {
    o.log = [events](shmframe::LogLevel, const std::string& m) { events->send(testkit::Record("log").set("text", m)); };
  }
  shmframe::Writer w(name, o);
  if (events != nullptr) events->send(testkit::Record("ready").set("gen", w.generation()));
  std::uint64_t next = shmframe::monotonic_ns();
  for (std::uint64_t n = 0; !g_term.load() && (frames == 0 || n < frames); ++n) {
    if (period_us != 0) {
      sleep_until_ns(next);
      next += period_us * 1000;
    }
    if (put_pattern(w) == 0) return 3;
    if (each) each(w, n + 1);
  }
  if (events != nullptr) events->send(testkit::Record("done"));
  return 0;
}

// A producer child that runs as nobody: another local user's producer.
inline int produce_as_nobody(const std::string& name, const shmframe::WriterOptions& o,
                             const testkit::LinePipe* events) {
  if (become_nobody() != 0) return 50;
  return produce(name, o, 0, 5000, events);
}

// What a consumer saw of one frame: pattern intact (ok) and still valid after checking it.
inline testkit::Record frame_record(const shmframe::Event& e, const shmframe::Reader& r) {
  const bool ok = testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq());
  const bool valid = e.frame.still_valid();
  return testkit::Record("frame")
      .set("seq", e.frame.seq())
      .set("gen", e.generation)
      .set("ok", ok)
      .set("valid", valid)
      .set("drops", r.stats().drops);
}

// Consumer child body: reports every event as a Record until `stop(event)` says so (exit 0) or
// `budget` runs out (exit 2).
inline int report_events(const std::string& name, const testkit::LinePipe& out,
                         const std::function<bool(const shmframe::Event&)>& stop, std::chrono::milliseconds budget,
                         shmframe::ReaderOptions ro = {}) {
  shmframe::Reader r(name, ro);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < deadline) {
    shmframe::Event e = r.wait(std::chrono::milliseconds(100));
    switch (e.kind) {
      case shmframe::EventKind::attached:
        out.send(testkit::Record("attached").set("gen", e.generation).set("width", r.info().format.width));
        break;
      case shmframe::EventKind::frame: out.send(frame_record(e, r)); break;
      case shmframe::EventKind::producer_lost: out.send(testkit::Record("lost").set("gen", e.generation)); break;
      case shmframe::EventKind::closed: out.send(testkit::Record("closed").set("gen", e.generation)); break;
      case shmframe::EventKind::error: out.send(testkit::Record("error").set("message", e.message)); break;
      case shmframe::EventKind::corrupt:
        out.send(testkit::Record("corrupt").set("message", e.message).set("count", r.stats().corrupt));
        break;
      default: break;
    }
    if (stop && stop(e)) return 0;
  }
  return 2;
}

}  // namespace children
