// shmframe/origin.hpp: where a frame came from, through any number of processing stages.
//
// A stage's output frame carries an origin record (docs/ABI.md, "Origin record") in front of its
// metadata, flagged in the slot header: the camera frame behind it and that frame's capture time.
// Writer::commit() and the publish functions write it when given an Origin; Frame::origin() reads
// it back. These two functions are the record's encoding, for code that handles raw metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace shmframe {

// Where a frame came from: the first stream of the chain (a camera), its seq, generation and
// capture time. For a frame of a producer, the frame itself (hops 0).
struct Origin {
  std::string stream;
  std::uint64_t seq = 0;
  std::uint64_t generation = 0;
  std::uint64_t capture_ns = 0;  // CLOCK_MONOTONIC
  std::uint32_t hops = 0;        // processing stages between the origin and this frame
};

// Bytes of an origin record (at the start of a flagged frame's metadata).
inline constexpr std::size_t kOriginRecordSize = 104;
// Writes the record for a frame whose origin is `o` into `out` (kOriginRecordSize bytes). False
// if the stream name is not valid or `out` is too short.
bool write_origin_record(const Origin& o, std::span<std::byte> out) noexcept;
// Reads a record written by write_origin_record(); nullopt when `in` is not one (too short, wrong
// magic or size, not a stream name). `in` may be in shared memory: it is copied before checking.
std::optional<Origin> read_origin_record(std::span<const std::byte> in);

}  // namespace shmframe
