// consumer/processors.hpp: the consumer's built-in processors, on the library's processing
// interface (shmframe/processor.hpp), like any user's or plugin's.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>
#include <shmframe/processor.hpp>

namespace shmframe::consumer {

// What --verify found: frames checked against the test pattern (shmframe/pattern.hpp), and how
// many differed. Written by the probe on the processing thread; read after run() returns.
struct ProbeCounts {
  std::uint64_t verified = 0;
  std::uint64_t mismatches = 0;
};
// The checksum of a frame (docs/ABI.md): CRC-32 over each plane's rows in plane order, row_bytes
// of each (jpeg: its payload, one "row"); and its spelling in the probe's output (8 hex digits).
std::uint32_t frame_crc32(std::span<const PlaneView> planes);
std::string crc32_hex(std::uint32_t crc);
// One JSON object as one line on stdout, flushed (the probe's output, a set's).
void emit(const nlohmann::ordered_json& j);
// One JSON object per line on stdout for every frame and event. With `verify`, every frame is
// also checked against the test pattern of its seq ("pattern_ok", "mismatch" in its object).
std::unique_ptr<shmframe::Processor> make_probe(std::shared_ptr<ProbeCounts> verify = nullptr);
// A live line per idle period: rate, latency percentiles, drops, producer health.
std::unique_ptr<shmframe::Processor> make_stats(const std::string& stream);

}  // namespace shmframe::consumer
