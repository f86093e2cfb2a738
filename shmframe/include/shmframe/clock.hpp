// shmframe/clock.hpp: the one clock of a stream.
//
// Every timestamp in a segment (capture, commit, heartbeat) is CLOCK_MONOTONIC nanoseconds,
// comparable across the processes of one host. Producers pass capture times from this clock
// to Writer::commit(); consumers subtract from it to get latencies. Thread-safe.
#pragma once

#include <cstdint>

namespace shmframe {

// CLOCK_MONOTONIC, in nanoseconds.
std::uint64_t monotonic_ns() noexcept;

}  // namespace shmframe
