// inspect() and list_streams(): read-only views for tools. Nothing here writes to a segment.
#include "shmframe/inspect.hpp"

#include <dirent.h>

#include <algorithm>
#include <cstring>

#include "shmframe/detail/consumer_table.hpp"
#include "shmframe/detail/errors.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {

namespace detail {

StreamInfo stream_info(const ReadView& v) {
  StreamInfo i;
  i.generation = v.geo.generation;
  i.format = v.geo.format;
  i.writer_pid = v.geo.writer_pid;
  i.writer_uid = v.geo.writer_uid;
  i.owner_uid = v.region->owner_uid();
  i.slots = v.geo.slot_count;
  i.max_consumers = v.geo.max_consumers;
  // relaxed: a statistics snapshot.
  i.last_seq = load(v.header().last_committed_seq, std::memory_order_relaxed);
  const std::uint64_t beat = load(v.header().heartbeat_ns, std::memory_order_relaxed);
  const std::uint64_t now = monotonic_ns();
  i.heartbeat_age_ns = now > beat ? now - beat : 0;
  i.heartbeat_interval_ns = v.geo.heartbeat_interval_ns;
  return i;
}

}  // namespace detail

StreamStatus inspect(std::string_view name) {
  detail::check_name(name);
  auto obj = detail::open_segment(name, false);
  if (!obj) {
    detail::fail(errc::not_found, name, "not found (no " + detail::object_path(detail::segment_object(name)) + ")");
  }
  StreamStatus s;
  s.name = std::string(name);
  s.state = "initializing";
  if (obj->size() < sizeof(layout::SegmentHeader)) return s;  // created, not sized yet
  auto header = detail::map_region(*obj, false, name, false, sizeof(layout::SegmentHeader));
  const auto& h = *reinterpret_cast<const layout::SegmentHeader*>(header->base());
  const std::uint32_t state = detail::load_state(h);
  if (state == 0) return s;  // created, identity not written yet
  layout::SegmentHeader snap;
  std::memcpy(&snap, &h, sizeof snap);
  detail::validate_identity(snap, name);
  switch (static_cast<layout::State>(state)) {
    case layout::State::initializing: return s;
    case layout::State::ready: s.state = "ready"; break;
    case layout::State::closed: s.state = "closed"; break;
    case layout::State::superseded: s.state = "superseded"; break;
    default: s.state = "unknown(" + std::to_string(state) + ")"; break;
  }
  const detail::Geometry geo = detail::validate_header(snap, obj->size(), name);
  const detail::ReadView v{detail::map_region(*obj, false, name, false, geo.total_size), geo};
  s.info = detail::stream_info(v);
  s.producer_alive = !detail::producer_gone(v, name, detail::monotonic_ns());
  s.forced_overwrites = snap.forced_overwrites;
  s.consumers_reaped = snap.consumers_reaped;
  s.commits_aborted = snap.commits_aborted;
  s.consumers = detail::consumer_table::snapshot(v);
  return s;
}

std::vector<std::string> list_streams() {
  std::vector<std::string> out;
  const std::string dir(detail::kShmDir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  constexpr std::string_view kPrefix = "shmframe.";
  while (dirent* e = readdir(d)) {
    const std::string_view n = e->d_name;
    if (n.substr(0, kPrefix.size()) == kPrefix && !check_stream_name(n.substr(kPrefix.size()))) {
      out.emplace_back(n.substr(kPrefix.size()));
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace shmframe
