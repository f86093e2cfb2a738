// bench/noop_processor.hpp: the processor of the plugin-dispatch benchmark, compiled both into
// shmframe-bench and into the plugin shmframe-bench-noop.so, so that the two differ only in how
// they are called. Its work is small on purpose (a checksum of the first 64 bytes and the
// seqlock check): what is measured is the call, not the work.
#pragma once

#include <cstdint>
#include <shmframe/plugin.hpp>

namespace bench {

class NoopProcessor final : public shmframe::Processor {
 public:
  NoopProcessor() = default;
  explicit NoopProcessor(shmframe::PluginArgs&) {}
  bool on_frame(const shmframe::Input& in, shmframe::Output&) override {
    std::uint32_t sum = 0;
    for (int i = 0; i < 64; ++i) sum += static_cast<std::uint8_t>(in.data()[i]);
    sink_ += sum + static_cast<std::uint32_t>(in.origin().hops);
    return in.still_valid();
  }
  std::uint32_t sink() const { return sink_; }

 private:
  std::uint32_t sink_ = 0;
};

}  // namespace bench
