// tests/stress/stress_common.hpp: what the stress tests share: how long they run and the
// producer child that drives them.
//
// Scale (environment):
//   SHMFRAME_STRESS_SECONDS     every stress test runs at least this long (default: 0.5 s for
//                               small torn reads, 1 s for 1080p torn reads and for held frames)
//   SHMFRAME_STRESS_FRAMES      frames of the small-frame tests (at least; default per test)
//   SHMFRAME_STRESS_HD_FRAMES   frames of the 1080p test (at least; default 1000)
// Both limits apply: a run ends once it has done its frames *and* its seconds. CI runs the
// defaults (about 4-5 s in all); hours by hand, e.g.
//   SHMFRAME_STRESS_SECONDS=3600 build/dev/tests/shmframe_stress_tests
#pragma once

#include <cstdint>
#include <shmframe/shmframe.hpp>
#include <string>

#include "children.hpp"
#include "testkit.hpp"

namespace stress {

struct Budget {
  std::uint64_t min_frames = 0;
  double min_seconds = 0;
  // How long the parent waits for the run to end: the run itself plus generous slack.
  std::chrono::milliseconds deadline() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(min_seconds * 1000)) + std::chrono::minutes(4);
  }
};

// `default_seconds` applies when SHMFRAME_STRESS_SECONDS is not set.
inline Budget budget(const char* frames_env, std::uint64_t default_frames, double default_seconds = 0) {
  return {testkit::env_u64(frames_env, default_frames),
          testkit::env_seconds("SHMFRAME_STRESS_SECONDS", default_seconds)};
}

// Producer child: creates the stream, says `ready`, waits for `go` (every consumer attached),
// commits pattern frames flat out until the budget is spent, then reports and closes (the
// consumers see `closed`). While running it samples how many slots the consumers hold in all.
//   kind=producer frames=N forced_overwrites=F ms=T max_held=H
inline int produce_flat_out(const std::string& name, const shmframe::WriterOptions& o, Budget b,
                            const testkit::LinePipe& events, testkit::LinePipe& go) {
  children::install_term();
  shmframe::Writer w(name, o);
  events.send(testkit::Record("ready"));
  if (!go.recv(std::chrono::seconds(30))) return 40;
  const std::uint64_t t0 = shmframe::monotonic_ns();
  const auto min_ns = static_cast<std::uint64_t>(b.min_seconds * 1e9);
  std::uint64_t n = 0;
  std::uint32_t max_held = 0;
  while (!children::g_term.load() && (n < b.min_frames || shmframe::monotonic_ns() - t0 < min_ns)) {
    if (children::put_pattern(w) == 0) return 41;
    if (++n % 256 == 0) {
      std::uint32_t held = 0;
      for (const auto& c : w.stats().consumers) held += c.held_slots;
      max_held = std::max(max_held, held);
    }
  }
  const auto st = w.stats();
  events.send(testkit::Record("producer")
                  .set("frames", n)
                  .set("forced_overwrites", st.forced_overwrites)
                  .set("ms", (shmframe::monotonic_ns() - t0) / 1'000'000)
                  .set("max_held", max_held));
  return 0;  // ~Writer closes the stream
}

}  // namespace stress
