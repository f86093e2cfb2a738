// consumer/processors.hpp: what the consumer does with each frame. A Processor sees every
// frame event and life-cycle event of the stream; it runs on the consumer's one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <shmframe/reader.hpp>

namespace shmframe::consumer {

class Processor {
 public:
  virtual ~Processor() = default;
  // A frame, zero-copy. Return false if the frame turned out to be overwritten while being
  // processed (the result must then be discarded; it counts as a drop).
  virtual bool on_frame(const shmframe::Frame& frame, std::uint64_t now_ns, std::uint64_t dropped_total) = 0;
  virtual void on_attached(const shmframe::StreamInfo& info) = 0;
  virtual void on_producer_lost(const shmframe::StreamInfo& info, const std::string& why) = 0;
  virtual void on_closed(std::uint64_t generation) = 0;
  virtual void on_overrun(std::uint64_t seq, std::uint64_t generation) = 0;
  // Called about once a second and on idle timeouts.
  virtual void tick(std::uint64_t now_ns, const shmframe::Reader& reader) = 0;
};

std::unique_ptr<Processor> make_probe();
std::unique_ptr<Processor> make_stats(const std::string& stream);

}  // namespace shmframe::consumer
