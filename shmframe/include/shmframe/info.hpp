// shmframe/info.hpp: what a stream and its consumers look like from outside (statistics), and
// fields(): the same as named values, the one spelling of every key (shmframe-consumer --list /
// --status and its probe, Python's Reader.info / status() / Writer.stats, GStreamer messages).
// Values only; filled by Reader::info(), Writer::stats() and inspect().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shmframe/format.hpp"
#include "shmframe/modes.hpp"

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
  std::uint32_t held_slots = 0;    // slots it holds frames in right now
  std::uint32_t pinned_slots = 0;  // of those, slots it pinned (never overwritten)
  ConsumerDelivery delivery = ConsumerDelivery::lossy;
  std::uint32_t demotions = 0;            // times the producer demoted it
  std::optional<WaitPolicy> wait_policy;  // ReaderOptions::wait; nullopt: not told (yet)
  std::uint32_t wake_latency_ns = 0;      // its last commit -> frame taken time (0 = none yet)
};

// A statistic as a value: a count, a signed id (pid), a flag or a name.
using FieldValue = std::variant<std::uint64_t, std::int64_t, bool, std::string>;
using Fields = std::vector<std::pair<std::string_view, FieldValue>>;
// generation, width, height, format, stride, slots, max_consumers, producer_pid, owner_uid,
// last_seq, heartbeat_age_ns, heartbeat_interval_ns.
Fields fields(const StreamInfo& info);
// entry, pid, last_seq, lag, frames, drops, overruns, heartbeat_age_ns, held_slots, pinned_slots, delivery,
// demotions, wait ("unknown" when not told), wake_latency_ns.
Fields fields(const ConsumerInfo& c);

}  // namespace shmframe
