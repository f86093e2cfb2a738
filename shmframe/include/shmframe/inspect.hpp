// shmframe/inspect.hpp: read-only views of streams for tools and tests.
//
// inspect() maps a stream read-only and snapshots its header, counters and consumer table
// without joining it as a consumer. list_streams() names the streams present on this host.
// Thread-safe; each call is independent.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shmframe/info.hpp"

namespace shmframe {

struct StreamStatus {
  std::string name;
  std::string state;  // "initializing", "ready", "closed", "superseded"
  StreamInfo info;
  bool producer_alive = false;
  std::uint64_t forced_overwrites = 0;
  std::uint64_t consumers_reaped = 0;
  std::uint64_t commits_aborted = 0;
  std::vector<ConsumerInfo> consumers;
};

// Throws Error like Reader::attach (not_found, permission_denied, abi_mismatch, corrupt...).
StreamStatus inspect(std::string_view name);
// name, state, the stream's fields (info.hpp), producer_alive, forced_overwrites,
// consumers_reaped, commits_aborted; the consumers are the caller's to add (fields() of each).
Fields fields(const StreamStatus& s);
// Names of the shmframe streams in /dev/shm, sorted.
std::vector<std::string> list_streams();

}  // namespace shmframe
