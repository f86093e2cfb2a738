// fields(): statistics as named values, the one spelling of every key (info.hpp, inspect.hpp).
#include "shmframe/info.hpp"

#include "shmframe/inspect.hpp"
#include "shmframe/names.hpp"

namespace shmframe {

namespace {
std::uint64_t u(std::uint64_t v) { return v; }
std::int64_t i(std::int64_t v) { return v; }

// "at 0: 1080 rows of 1920 bytes, stride 1920; at 2073600: 540 rows of 1920 bytes, stride 1920"
// (jpeg: "up to N bytes").
std::string planes(const FrameFormat& f) {
  if (f.compressed()) return "up to " + std::to_string(f.frame_bytes()) + " bytes";
  std::string out;
  for (std::uint32_t k = 0; k < f.plane_count(); ++k) {
    const PlaneLayout p = f.plane(k);
    if (!out.empty()) out += "; ";
    out += "at " + std::to_string(p.offset) + ": " + std::to_string(p.rows) + " rows of " +
           std::to_string(p.row_bytes) + " bytes, stride " + std::to_string(p.stride);
  }
  return out;
}
}  // namespace

Fields fields(const StreamInfo& info) {
  return {
      {"generation", u(info.generation)},
      {"width", u(info.format.width)},
      {"height", u(info.format.height)},
      {"format", std::string(to_string(info.format.pixel_format))},
      {"stride", u(info.format.effective_stride())},
      {"planes", planes(info.format)},
      {"frame_bytes", u(info.format.frame_bytes())},
      {"slots", u(info.slots)},
      {"max_consumers", u(info.max_consumers)},
      {"producer_pid", i(info.writer_pid)},
      {"owner_uid", u(info.owner_uid)},
      {"last_seq", u(info.last_seq)},
      {"heartbeat_age_ns", u(info.heartbeat_age_ns)},
      {"heartbeat_interval_ns", u(info.heartbeat_interval_ns)},
  };
}

Fields fields(const ConsumerInfo& c) {
  return {
      {"entry", u(c.entry)},
      {"pid", i(c.pid)},
      {"last_seq", u(c.last_seq)},
      {"lag", u(c.lag)},
      {"frames", u(c.frames)},
      {"drops", u(c.drops)},
      {"overruns", u(c.overruns)},
      {"heartbeat_age_ns", u(c.heartbeat_age_ns)},
      {"held_slots", u(c.held_slots)},
      {"pinned_slots", u(c.pinned_slots)},
      {"delivery", std::string(to_string(c.delivery))},
      {"demotions", u(c.demotions)},
      {"wait", std::string(c.wait_policy ? to_string(*c.wait_policy) : std::string_view("unknown"))},
      {"wake_latency_ns", u(c.wake_latency_ns)},
  };
}

Fields fields(const StreamStatus& s) {
  Fields out{{"name", s.name}, {"state", s.state}};
  for (auto& f : fields(s.info)) out.push_back(std::move(f));
  out.emplace_back("producer_alive", s.producer_alive);
  out.emplace_back("forced_overwrites", u(s.forced_overwrites));
  out.emplace_back("consumers_reaped", u(s.consumers_reaped));
  out.emplace_back("commits_aborted", u(s.commits_aborted));
  return out;
}

}  // namespace shmframe
