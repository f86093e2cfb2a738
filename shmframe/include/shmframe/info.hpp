// shmframe/info.hpp: what a stream and its consumers look like from outside (statistics).
// Values only; filled by Reader::info(), Writer::stats() and inspect().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "shmframe/format.hpp"

namespace shmframe {

struct StreamInfo {
  std::uint64_t generation = 0;
  FrameFormat format;  // stride is the real row pitch
  pid_t writer_pid = 0;
  uid_t writer_uid = 0;  // as the producer wrote it in the header
  uid_t owner_uid = 0;   // who owns the segment object (fstat): the one to trust
  std::uint32_t slots = 0;
  std::uint32_t max_consumers = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t heartbeat_age_ns = 0;
  std::uint64_t heartbeat_interval_ns = 0;
};

struct ConsumerInfo {
  std::uint32_t entry = 0;  // index in the consumer table
  pid_t pid = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t lag = 0;  // frames behind the last committed one
  std::uint64_t frames = 0;
  std::uint64_t drops = 0;
  std::uint64_t overruns = 0;
  std::uint64_t heartbeat_age_ns = 0;
  std::uint32_t held_slots = 0;  // slots it holds frames in right now
  // "lossy" (latest or every frame), "lossless", or "demoted" (lossless that blocked the
  // producer for longer than its max block; lossless again once it catches up).
  const char* delivery = "lossy";
  std::uint32_t demotions = 0;          // times the producer demoted it
  const char* wait_policy = "unknown";  // "block", "predictive", "spin" (ReaderOptions::wait)
  std::uint32_t wake_latency_ns = 0;    // its last commit -> frame taken time (0 = none yet)
};

}  // namespace shmframe
