// shmframe/log.hpp: how the library reports what is not an error.
//
// The library never prints. Writer and Reader take an optional callback that hears what a user
// may want in a log (a takeover, a reaped consumer, a degraded mode). It is called from the
// thread that drives the Writer/Reader, or from the Writer's heartbeat thread.
#pragma once

#include <functional>
#include <string>

namespace shmframe {

enum class LogLevel { debug, info, warn, error };
using LogCallback = std::function<void(LogLevel, const std::string&)>;

}  // namespace shmframe
