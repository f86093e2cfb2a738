// bench/stages.hpp: processing-stage benchmarks of shmframe-bench (stages.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace bench {

struct StagesResult {
  bool ok = false;
  std::string error;
  double builtin_call_ns = 0;    // on_frame() of a processor compiled in
  double plugin_call_ns = 0;     // the same processor through the plugin C ABI
  double single_hop_p50_ns = 0;  // producer -> probe, 1080p 30 fps zero-copy
  double chain_e2e_p50_ns = 0;   // producer -> pass-through stage -> probe, origin capture -> probe
  double stage_work_p50_ns = 0;  // the stage's own work (copy into its output slot)
  std::uint64_t frames = 0;
};

// `noop_plugin`: the path of shmframe-bench-noop.so.
StagesResult run_stages(bool quick, const std::string& noop_plugin);

}  // namespace bench
