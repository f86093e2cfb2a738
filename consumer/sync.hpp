// consumer/sync.hpp: shmframe-consumer --sync: synchronised sets across 2 to 8 streams
// (shmframe::SyncReader) through shmframe::run(): printed as JSON (--processor probe), as a live
// line (stats), or given to a plugin that takes sets (--plugin, --output).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <shmframe/processor.hpp>
#include <shmframe/sync_reader.hpp>

namespace shmframe::consumer {

struct SyncRun {
  std::vector<std::string> names;
  SyncOptions options;
  bool probe = false;                    // a JSON object per set and event; else a live line per second
  std::unique_ptr<SetProcessor> plugin;  // instead of the probe or the stats line
  std::uint64_t timeout_ms = 0;          // exit 3 when no set comes for this long (0: never)
  RunOptions run;                        // sets (max_frames), exit_on_close, output...
};

// Runs until Ctrl-C, --frames sets, --timeout-ms or a fatal error; returns the exit code.
int run_sync(SyncRun& run);

}  // namespace shmframe::consumer
