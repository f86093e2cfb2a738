// consumer/processors.hpp: the consumer's built-in processors, on the library's processing
// interface (shmframe/processor.hpp), like any user's or plugin's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <shmframe/processor.hpp>

namespace shmframe::consumer {

// What --verify found: frames checked against the test pattern (shmframe/pattern.hpp), and how
// many differed. Written by the probe on the processing thread; read after run() returns.
struct ProbeCounts {
  std::uint64_t verified = 0;
  std::uint64_t mismatches = 0;
};
// One JSON object per line on stdout for every frame and event. With `verify`, every frame is
// also checked against the test pattern of its seq ("pattern_ok", "mismatch" in its object).
std::unique_ptr<shmframe::Processor> make_probe(std::shared_ptr<ProbeCounts> verify = nullptr);
// A live line per idle period: rate, latency percentiles, drops, producer health.
std::unique_ptr<shmframe::Processor> make_stats(const std::string& stream);

}  // namespace shmframe::consumer
