#include "processors.hpp"

#include "app.hpp"
#include "jpeg.hpp"

#include <zlib.h>

#include <shmframe/pattern.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace shmframe::consumer {

std::uint32_t frame_crc32(std::span<const PlaneView> planes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const PlaneView& p : planes) {
    for (std::uint32_t y = 0; y < p.rows; ++y) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(p.row(y)), static_cast<uInt>(p.row_bytes));
    }
  }
  return static_cast<std::uint32_t>(crc);
}

std::string crc32_hex(std::uint32_t crc) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
  return hex;
}

void emit(const nlohmann::ordered_json& j) {
  const std::string line = j.dump();
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

namespace {

nlohmann::ordered_json stream_json(const char* event, const shmframe::StreamInfo& i) {
  nlohmann::ordered_json j{{"event", event}};
  j.update(shmframe::app::to_json(shmframe::fields(i)));
  return j;
}

// One JSON object per line for every frame and event: the machine-readable view of a stream.
class Probe final : public Processor {
 public:
  explicit Probe(std::shared_ptr<ProbeCounts> counts) : counts_(std::move(counts)) {}
  bool on_frame(const Input& f, Output&) override {
    const auto& fmt = f.format();
    PlaneView planes[kMaxPlanes];
    for (std::uint32_t i = 0; i < f.plane_count(); ++i) planes[i] = f.plane(i);
    const std::uint32_t crc = frame_crc32(std::span<const PlaneView>(planes, f.plane_count()));
    PatternCheck check;
    app::JpegPatternCheck jpeg_check;
    if (counts_ && fmt.compressed()) {
      if (!jpeg_) jpeg_ = std::make_unique<app::Jpeg>();
      jpeg_check = app::check_jpeg_pattern(*jpeg_, f.seq(), fmt, f.data(), f.payload_bytes());
    } else if (counts_) {
      check = check_test_pattern(f.seq(), fmt, std::span<const PlaneView>(planes, f.plane_count()));
    }
    if (!f.still_valid()) {  // overwritten while hashing: never report a torn frame
      emit({{"event", "overrun"}, {"seq", f.seq()}, {"generation", f.generation()}});
      return false;
    }
    const std::uint64_t now = f.now_ns();
    const auto since = [now](std::uint64_t t) { return now > t ? now - t : 0; };
    const Origin& o = f.origin();
    nlohmann::ordered_json j{{"event", "frame"},
                             {"seq", f.seq()},
                             {"generation", f.generation()},
                             {"width", fmt.width},
                             {"height", fmt.height},
                             {"format", std::string(shmframe::to_string(fmt.pixel_format))},
                             {"payload_bytes", f.payload_bytes()},
                             {"capture_ns", f.capture_ns()},
                             {"commit_ns", f.commit_ns()},
                             {"latency_ns", since(f.capture_ns())},
                             {"handoff_ns", since(f.commit_ns())},
                             {"origin_stream", o.stream},
                             {"origin_seq", o.seq},
                             {"origin_generation", o.generation},
                             {"hops", o.hops},
                             {"e2e_latency_ns", since(o.capture_ns)},
                             {"crc32", crc32_hex(crc)},
                             {"dropped", f.dropped()}};
    if (counts_ && fmt.compressed()) verified(j, jpeg_check);
    else if (counts_) verified(j, check);
    emit(j);
    return true;
  }
  void on_attached(const shmframe::StreamInfo& i) override { emit(stream_json("generation", i)); }
  void on_producer_lost(const shmframe::StreamInfo& i, std::string_view why) override {
    emit({{"event", "producer_lost"},
          {"generation", i.generation},
          {"producer_pid", i.writer_pid},
          {"heartbeat_age_ns", i.heartbeat_age_ns},
          {"last_seq", i.last_seq},
          {"reason", std::string(why)}});
  }
  void on_closed(std::uint64_t generation) override { emit({{"event", "closed"}, {"generation", generation}}); }

 private:
  // --verify: "pattern_ok" in every frame object, and where a mismatching frame first differs;
  // counted for the exit code.
  void verified(nlohmann::ordered_json& j, const PatternCheck& c) {
    ++counts_->verified;
    j["pattern_ok"] = c.ok;
    if (c.ok) return;
    ++counts_->mismatches;
    j["mismatch"] = {{"plane", c.plane},       {"x", c.x},        {"y", c.y}, {"channel", c.channel},
                     {"expected", c.expected}, {"found", c.found}};
  }
  // jpeg: decoded, its seq code read and its PSNR against the pattern (docs/RELIABILITY.md).
  void verified(nlohmann::ordered_json& j, const app::JpegPatternCheck& c) {
    ++counts_->verified;
    j["pattern_ok"] = c.ok;
    j["psnr_db"] = c.psnr_db;
    if (c.ok) return;
    ++counts_->mismatches;
    j["mismatch"] = c.problem;
  }
  std::shared_ptr<ProbeCounts> counts_;
  std::unique_ptr<app::Jpeg> jpeg_;
};

// A live line per idle period: rate, latency percentiles, drops, producer health.
class Stats final : public Processor {
 public:
  explicit Stats(std::string stream) : stream_(std::move(stream)) {}
  bool on_frame(const Input& f, Output&) override {
    const std::uint64_t now = f.now_ns();
    latencies_.push_back(now > f.origin().capture_ns ? now - f.origin().capture_ns : 0);
    last_format_ = shmframe::to_string(f.format());
    return true;
  }
  void on_attached(const shmframe::StreamInfo& i) override {
    std::printf("attached to '%s' generation %llu: %s, %u slots, producer pid %d\n", stream_.c_str(),
                static_cast<unsigned long long>(i.generation), shmframe::to_string(i.format).c_str(), i.slots,
                i.writer_pid);
    std::fflush(stdout);
  }
  void on_producer_lost(const shmframe::StreamInfo&, std::string_view why) override {
    std::printf("producer of '%s' lost (%.*s); waiting for a new one\n", stream_.c_str(), static_cast<int>(why.size()),
                why.data());
    std::fflush(stdout);
  }
  void on_closed(std::uint64_t generation) override {
    std::printf("'%s' generation %llu closed by its producer; waiting for a new one\n", stream_.c_str(),
                static_cast<unsigned long long>(generation));
    std::fflush(stdout);
  }
  void on_idle(const RunStatus& st) override {
    const std::uint64_t now = st.now_ns;
    if (t0_ == 0) {  // first tick: start the first full window now
      t0_ = now;
      latencies_.clear();
      return;
    }
    const double secs = static_cast<double>(now - t0_) / 1e9;
    double p50 = 0, p99 = 0, mx = 0;
    if (!latencies_.empty()) {
      std::sort(latencies_.begin(), latencies_.end());
      p50 = static_cast<double>(latencies_[latencies_.size() / 2]) / 1e6;
      p99 = static_cast<double>(latencies_[std::min(latencies_.size() - 1, latencies_.size() * 99 / 100)]) / 1e6;
      mx = static_cast<double>(latencies_.back()) / 1e6;
    }
    const auto& s = st.reader;
    std::printf(
        "%s gen %llu | %s | %6.1f fps | latency p50 %.3f ms p99 %.3f ms max %.3f ms | frames %llu drops %llu "
        "overruns %llu%s | heartbeat age %.0f ms\n",
        stream_.c_str(), static_cast<unsigned long long>(st.stream.generation), last_format_.c_str(),
        static_cast<double>(latencies_.size()) / secs, p50, p99, mx, static_cast<unsigned long long>(s.frames),
        static_cast<unsigned long long>(s.drops), static_cast<unsigned long long>(s.overruns),
        s.demotions != 0 ? (" demotions " + std::to_string(s.demotions)).c_str() : "",
        static_cast<double>(st.stream.heartbeat_age_ns) / 1e6);
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

std::unique_ptr<Processor> make_probe(std::shared_ptr<ProbeCounts> verify) {
  return std::make_unique<Probe>(std::move(verify));
}
std::unique_ptr<Processor> make_stats(const std::string& stream) { return std::make_unique<Stats>(stream); }

}  // namespace shmframe::consumer
