// consumer/sync.hpp: shmframe-consumer --sync: synchronised sets across 2 to 8 streams
// (shmframe::SyncReader), printed as JSON (--processor probe) or as a live line (stats).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <shmframe/sync_reader.hpp>

namespace shmframe::consumer {

struct SyncRun {
  std::vector<std::string> names;
  SyncOptions options;
  bool probe = false;            // a JSON object per set and event; else a live line per second
  std::uint64_t sets = 0;        // exit 0 after this many sets (0: until Ctrl-C)
  std::uint64_t timeout_ms = 0;  // exit 3 when no set comes for this long (0: never)
  bool exit_on_close = false;    // exit 0 once every member's producer closed
};

// Runs until Ctrl-C, --frames sets, --timeout-ms or a fatal error; returns the exit code.
int run_sync(const SyncRun& run);

}  // namespace shmframe::consumer
