#include "processors.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace shmframe::consumer {
namespace {

void emit(const nlohmann::ordered_json& j) {
  const std::string line = j.dump();
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

nlohmann::ordered_json stream_json(const char* event, const shmframe::StreamInfo& i) {
  return {{"event", event},
          {"generation", i.generation},
          {"width", i.format.width},
          {"height", i.format.height},
          {"format", std::string(shmframe::to_string(i.format.pixel_format))},
          {"stride", i.format.effective_stride()},
          {"slots", i.slots},
          {"producer_pid", i.writer_pid}};
}

// One JSON object per line for every frame and event: the machine-readable view of a stream.
class Probe final : public Processor {
 public:
  bool on_frame(const shmframe::Frame& f, std::uint64_t now, std::uint64_t dropped) override {
    const auto& fmt = f.format();
    const std::size_t row = fmt.row_bytes();
    uLong crc = crc32(0L, Z_NULL, 0);
    for (std::uint32_t y = 0; y < fmt.height; ++y) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(f.data() + static_cast<std::size_t>(y) * fmt.effective_stride()),
                  static_cast<uInt>(row));
    }
    if (!f.still_valid()) return false;  // overwritten while hashing: never report a torn frame
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
    emit({{"event", "frame"},
          {"seq", f.seq()},
          {"generation", f.generation()},
          {"width", fmt.width},
          {"height", fmt.height},
          {"format", std::string(shmframe::to_string(fmt.pixel_format))},
          {"capture_ns", f.capture_ns()},
          {"commit_ns", f.commit_ns()},
          {"latency_ns", now > f.capture_ns() ? now - f.capture_ns() : 0},
          {"crc32", hex},
          {"dropped", dropped}});
    return true;
  }
  void on_attached(const shmframe::StreamInfo& i) override { emit(stream_json("generation", i)); }
  void on_producer_lost(const shmframe::StreamInfo& i, const std::string& why) override {
    emit({{"event", "producer_lost"},
          {"generation", i.generation},
          {"producer_pid", i.writer_pid},
          {"heartbeat_age_ns", i.heartbeat_age_ns},
          {"last_seq", i.last_seq},
          {"reason", why}});
  }
  void on_closed(std::uint64_t generation) override { emit({{"event", "closed"}, {"generation", generation}}); }
  void on_overrun(std::uint64_t seq, std::uint64_t generation) override {
    emit({{"event", "overrun"}, {"seq", seq}, {"generation", generation}});
  }
  void tick(std::uint64_t, const shmframe::Reader&) override {}
};

// A live line once a second: rate, latency percentiles, drops, producer health.
class Stats final : public Processor {
 public:
  explicit Stats(std::string stream) : stream_(std::move(stream)) {}
  bool on_frame(const shmframe::Frame& f, std::uint64_t now, std::uint64_t) override {
    latencies_.push_back(now > f.capture_ns() ? now - f.capture_ns() : 0);
    last_format_ = shmframe::to_string(f.format());
    return true;
  }
  void on_attached(const shmframe::StreamInfo& i) override {
    std::printf("attached to '%s' generation %llu: %s, %u slots, producer pid %d\n", stream_.c_str(),
                static_cast<unsigned long long>(i.generation), shmframe::to_string(i.format).c_str(), i.slots, i.writer_pid);
    std::fflush(stdout);
  }
  void on_producer_lost(const shmframe::StreamInfo& i, const std::string& why) override {
    std::printf("producer of '%s' lost (%s); waiting for a new one\n", stream_.c_str(), why.c_str());
    (void)i;
    std::fflush(stdout);
  }
  void on_closed(std::uint64_t generation) override {
    std::printf("'%s' generation %llu closed by its producer; waiting for a new one\n", stream_.c_str(),
                static_cast<unsigned long long>(generation));
    std::fflush(stdout);
  }
  void on_overrun(std::uint64_t, std::uint64_t) override {}
  void tick(std::uint64_t now, const shmframe::Reader& reader) override {
    if (t0_ == 0) {  // first tick: start the first full window now
      t0_ = now;
      latencies_.clear();
      return;
    }
    const double secs = static_cast<double>(now - t0_) / 1e9;
    const auto s = reader.stats();
    const auto info = reader.info();
    double p50 = 0, p99 = 0, mx = 0;
    if (!latencies_.empty()) {
      std::sort(latencies_.begin(), latencies_.end());
      p50 = static_cast<double>(latencies_[latencies_.size() / 2]) / 1e6;
      p99 = static_cast<double>(latencies_[std::min(latencies_.size() - 1, latencies_.size() * 99 / 100)]) / 1e6;
      mx = static_cast<double>(latencies_.back()) / 1e6;
    }
    std::printf("%s gen %llu | %s | %6.1f fps | latency p50 %.3f ms p99 %.3f ms max %.3f ms | frames %llu drops %llu overruns %llu | heartbeat age %.0f ms\n",
                stream_.c_str(), static_cast<unsigned long long>(info.generation), last_format_.c_str(),
                static_cast<double>(latencies_.size()) / secs, p50, p99, mx, static_cast<unsigned long long>(s.frames),
                static_cast<unsigned long long>(s.drops), static_cast<unsigned long long>(s.overruns),
                static_cast<double>(info.heartbeat_age_ns) / 1e6);
    std::fflush(stdout);
    latencies_.clear();
    t0_ = now;
  }

 private:
  std::string stream_;
  std::string last_format_ = "-";
  std::vector<std::uint64_t> latencies_;
  std::uint64_t t0_ = 0;
};

}  // namespace

std::unique_ptr<Processor> make_probe() { return std::make_unique<Probe>(); }
std::unique_ptr<Processor> make_stats(const std::string& stream) { return std::make_unique<Stats>(stream); }

}  // namespace shmframe::consumer
