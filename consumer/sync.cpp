#include "sync.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "processors.hpp"

namespace shmframe::consumer {
namespace {

using json = nlohmann::ordered_json;

std::string summary(const SyncReader& r) {
  const SyncStats s = r.stats();
  std::string unmatched;
  for (std::size_t i = 0; i < s.unmatched.size(); ++i) {
    unmatched += (i == 0 ? "" : ", ") + r.names()[i] + " " + std::to_string(s.unmatched[i]);
  }
  return fmt::format(
      "{} sets | unmatched: {} | spread p50 {:.3f} ms, p99 {:.3f} ms | latency p50 {:.3f} ms, p99 {:.3f} "
      "ms | wait: {}",
      s.sets, unmatched, s.spread_p50_ms, s.spread_p99_ms, s.latency_p50_ms, s.latency_p99_ms, s.wait);
}

// The run's numbers: the probe's last object, the stats line's words.
json summary_json(const SyncReader& r) {
  const SyncStats s = r.stats();
  json unmatched = json::object();
  for (std::size_t i = 0; i < s.unmatched.size(); ++i) unmatched[r.names()[i]] = s.unmatched[i];
  return {{"event", "summary"},
          {"sets", s.sets},
          {"unmatched", unmatched},
          {"spread_p50_ms", s.spread_p50_ms},
          {"spread_p99_ms", s.spread_p99_ms},
          {"latency_p50_ms", s.latency_p50_ms},
          {"latency_p99_ms", s.latency_p99_ms},
          {"tolerance_ns", s.tolerance_ns},
          {"wait", s.wait},
          {"polled", s.polled}};
}

// The consumer's own set processors: a JSON object per set and event (probe), or a live line per
// second (stats). Member events are said either way.
class SetReport final : public SetProcessor {
 public:
  SetReport(const SyncReader& r, bool probe) : reader_(r), probe_(probe) {}

  bool on_set(std::span<const Input> set, Output&) override {
    if (!probe_) return true;
    json members = json::array();
    std::uint64_t lo = UINT64_MAX, hi = 0, complete = 0;
    for (std::size_t i = 0; i < set.size(); ++i) {
      const Input& f = set[i];
      PlaneView planes[kMaxPlanes];
      for (std::uint32_t p = 0; p < f.plane_count(); ++p) planes[p] = f.plane(p);
      const std::uint32_t crc = frame_crc32(std::span<const PlaneView>(planes, f.plane_count()));
      if (!f.still_valid()) {  // overwritten while hashed: never report a torn frame
        emit({{"event", "overrun"}, {"stream", reader_.names()[i]}, {"seq", f.seq()}});
        return false;
      }
      lo = std::min(lo, f.capture_ns());
      hi = std::max(hi, f.capture_ns());
      complete = std::max(complete, f.commit_ns());
      members.push_back({{"stream", reader_.names()[i]},
                         {"seq", f.seq()},
                         {"generation", f.generation()},
                         {"capture_ns", f.capture_ns()},
                         {"crc32", crc32_hex(crc)}});
    }
    const std::uint64_t now = set.front().now_ns();
    emit({{"event", "set"},
          {"spread_ns", hi - lo},
          {"latency_ns", now > complete ? now - complete : 0},
          {"members", std::move(members)}});
    return true;
  }
  void on_attached(std::size_t stream, const StreamInfo& info) override {
    event(stream, "attached", info.generation,
          fmt::format("{}, producer pid {}", to_string(info.format), info.writer_pid));
  }
  void on_producer_lost(std::size_t stream, const StreamInfo& info, std::string_view why) override {
    event(stream, "producer_lost", info.generation, std::string(why));
  }
  void on_closed(std::size_t stream, std::uint64_t generation) override { event(stream, "closed", generation, {}); }
  void on_idle(const RunStatus&) override {
    if (!probe_) spdlog::info("{}", summary(reader_));
  }

 private:
  void event(std::size_t stream, const char* kind, std::uint64_t generation, const std::string& message) const {
    const std::string& name = reader_.names()[stream];
    if (probe_) {
      json j{{"event", kind}, {"stream", name}, {"generation", generation}};
      if (!message.empty()) j["message"] = message;
      emit(j);
    } else {
      spdlog::info("{}: {} generation {}{}", name, kind, generation, message.empty() ? "" : ": " + message);
    }
  }

  const SyncReader& reader_;
  bool probe_;
};

}  // namespace

int run_sync(SyncRun& run) {
  try {
    SyncReader reader(run.names, run.options);
    const SyncStats st = reader.stats();
    if (run.probe && !run.plugin) {
      json names = json::array();
      for (const auto& n : run.names) names.push_back(n);
      emit({{"event", "sync"},
            {"streams", names},
            {"policy", std::string(to_string(run.options.policy))},
            {"tolerance_ns", run.options.tolerance ? run.options.tolerance->count() : 0},
            {"wait", st.wait}});
    } else {
      spdlog::info("synchronising {} streams ({}), waiting on all of them through {}", run.names.size(),
                   to_string(run.options.policy), st.wait);
    }
    SetReport report(reader, run.probe);
    SetProcessor& processor = run.plugin ? *run.plugin : report;
    run.run.idle_timeout = std::chrono::milliseconds(run.timeout_ms);
    const RunResult r = shmframe::run(reader, processor, run.run);
    // Said however the run ended.
    if (run.probe && !run.plugin) emit(summary_json(reader));
    spdlog::info("{}", summary(reader));
    if (r.status.errors != 0 || r.status.discarded != 0) {
      spdlog::info("processed {} sets, {} discarded (overwritten while in use), {} processor errors",
                   r.status.processed, r.status.discarded, r.status.errors);
    }
    switch (r.end) {
      case RunEnd::error: spdlog::error("{}", r.message); return 1;
      case RunEnd::timed_out:
        spdlog::error("no set from streams {} for {} ms: {}", fmt::join(run.names, ", "), run.timeout_ms, r.message);
        return 3;
      default: return 0;
    }
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}

}  // namespace shmframe::consumer
