#include "sync.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>
#include <shmframe/clock.hpp>
#include <string>

#include "app.hpp"
#include "processors.hpp"

namespace shmframe::consumer {
namespace {

using json = nlohmann::ordered_json;

// The set as the probe prints it; nullopt when a member was overwritten while hashed.
std::optional<json> set_json(const SyncReader& r, const FrameSet& s, std::uint64_t now) {
  json members = json::array();
  for (std::size_t i = 0; i < s.frames.size(); ++i) {
    const Frame& f = s.frames[i];
    PlaneView planes[kMaxPlanes];
    for (std::uint32_t p = 0; p < f.plane_count(); ++p) planes[p] = f.plane(p);
    const std::uint32_t crc = frame_crc32(std::span<const PlaneView>(planes, f.plane_count()));
    if (!f.still_valid()) return std::nullopt;
    members.push_back({{"stream", r.names()[i]},
                       {"seq", f.seq()},
                       {"generation", f.generation()},
                       {"capture_ns", f.capture_ns()},
                       {"crc32", crc32_hex(crc)}});
  }
  return json{{"event", "set"},
              {"spread_ns", s.spread_ns},
              {"latency_ns", now > s.complete_ns ? now - s.complete_ns : 0},
              {"members", std::move(members)}};
}

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
          {"wait", s.wait}};
}

// Said when the run ends, however it ends.
struct Summary {
  const SyncReader& reader;
  bool probe;
  ~Summary() {
    if (probe) emit(summary_json(reader));
    spdlog::info("{}", summary(reader));
  }
};

}  // namespace

int run_sync(const SyncRun& run) {
  try {
    SyncReader reader(run.names, run.options);
    const Summary said{reader, run.probe};
    const SyncStats st = reader.stats();
    if (run.probe) {
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
    std::uint64_t sets = 0;
    std::set<std::size_t> closed;  // members whose producer closed (and did not come back)
    std::uint64_t last_set = monotonic_ns(), last_line = last_set;
    while (!app::g_stop.load(std::memory_order_relaxed)) {
      // Bounded so that Ctrl-C (a flag) is seen within 100 ms; sets end the wait at once.
      SyncEvent e = reader.wait(std::chrono::milliseconds(100));
      const std::uint64_t now = monotonic_ns();
      if (!run.probe && now - last_line >= 1'000'000'000) {
        spdlog::info("{}", summary(reader));
        last_line = now;
      }
      switch (e.kind) {
        case SyncEventKind::set: {
          last_set = now;
          if (run.probe) {
            if (auto j = set_json(reader, e.set, now)) emit(*j);
            else emit({{"event", "overrun"}});
          }
          if (run.sets != 0 && ++sets >= run.sets) return 0;
          break;
        }
        case SyncEventKind::timeout:
        case SyncEventKind::interrupted: break;
        default: {
          const std::string& name = run.names[e.stream];
          if (run.probe) {
            json j{{"event", std::string(to_string(e.kind))}, {"stream", name}, {"generation", e.event.generation}};
            if (!e.event.message.empty()) j["message"] = e.event.message;
            emit(j);
          } else {
            spdlog::info("{}: {}{}", name, to_string(e.kind), e.event.message.empty() ? "" : ": " + e.event.message);
          }
          if (e.kind == SyncEventKind::error && e.event.fatal()) {
            spdlog::error("{}", e.event.message);
            return 1;
          }
          if (e.kind == SyncEventKind::closed) closed.insert(e.stream);
          if (e.kind == SyncEventKind::attached) closed.erase(e.stream);
          if (run.exit_on_close && closed.size() == run.names.size()) return 0;
        }
      }
      if (run.timeout_ms != 0 && now - last_set >= run.timeout_ms * 1'000'000) {
        std::string states;
        for (std::size_t i = 0; i < run.names.size(); ++i) {
          states += (i == 0 ? "" : ", ") + run.names[i] + (reader.member(i).attached() ? " attached" : " not found");
        }
        spdlog::error("no set from streams {} for {} ms ({})", fmt::join(run.names, ", "), run.timeout_ms, states);
        return 3;
      }
    }
    return 0;
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}

}  // namespace shmframe::consumer
