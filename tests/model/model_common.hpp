// tests/model/model_common.hpp: running a Relacy model of the protocol, fixed and as it was.
//
// Each model is a small program of the same atomic steps, orders and fences as the library code
// it names (models cannot link the library: Relacy replaces std::atomic). A model is run twice:
// the current protocol must pass an exhaustive search of interleavings and weak-memory
// outcomes; the protocol before its fix must fail, which shows the model can see the bug.
#pragma once

#include <relacy/relacy.hpp>

#include <cstdio>

template <class Test>
bool rl_simulate() {
  rl::test_params p;
  p.search_type = rl::sched_full;
  p.output_history = false;
  return rl::simulate<Test>(p);
}

namespace model {
inline int expect(const char* name, bool fixed_passes, bool old_passes,
                  const char* old_name = "protocol before the fix") {
  std::printf("model %s: current protocol %s; %s %s\n", name, fixed_passes ? "passes" : "FAILS", old_name,
              old_passes ? "passes (the model cannot see the bug!)" : "fails, as it must");
  return fixed_passes && !old_passes ? 0 : 1;
}
}  // namespace model
