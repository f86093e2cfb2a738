// consumer/processors.hpp: the consumer's built-in processors, on the library's processing
// interface (shmframe/processor.hpp), like any user's or plugin's.
#pragma once

#include <memory>
#include <string>

#include <shmframe/processor.hpp>

namespace shmframe::consumer {

// One JSON object per line on stdout for every frame and event.
std::unique_ptr<shmframe::Processor> make_probe();
// A live line per idle period: rate, latency percentiles, drops, producer health.
std::unique_ptr<shmframe::Processor> make_stats(const std::string& stream);

}  // namespace shmframe::consumer
