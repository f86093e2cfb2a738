#include "shmframe/inspect.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shmframe/detail/os.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {

using detail::at;

namespace detail {

StreamInfo stream_info(const View& v) {
  StreamInfo i;
  i.generation = v.geo.generation;
  i.format = v.geo.format;
  i.writer_pid = v.geo.writer_pid;
  i.writer_uid = v.geo.writer_uid;
  i.slots = v.geo.slot_count;
  i.max_consumers = v.geo.max_consumers;
  // relaxed: a statistics snapshot.
  i.last_seq = at(v.header().last_committed_seq).load(std::memory_order_relaxed);
  const std::uint64_t beat = at(v.header().heartbeat_ns).load(std::memory_order_relaxed);
  const std::uint64_t now = monotonic_ns();
  i.heartbeat_age_ns = now > beat ? now - beat : 0;
  i.heartbeat_interval_ns = v.geo.heartbeat_interval_ns;
  return i;
}

std::vector<ConsumerInfo> collect_consumers(const View& v) {
  std::vector<ConsumerInfo> out;
  const std::uint64_t last = at(v.header().last_committed_seq).load(std::memory_order_relaxed);
  const std::uint64_t now = monotonic_ns();
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    // relaxed everywhere: a statistics snapshot, consistent per field only.
    const std::int32_t pid = at(e.owner_pid).load(std::memory_order_relaxed);
    if (pid == 0) continue;
    ConsumerInfo c;
    c.pid = pid;
    c.last_seq = at(e.last_seq).load(std::memory_order_relaxed);
    c.lag = last > c.last_seq ? last - c.last_seq : 0;
    c.frames = at(e.frames).load(std::memory_order_relaxed);
    c.drops = at(e.drops).load(std::memory_order_relaxed);
    c.overruns = at(e.overruns).load(std::memory_order_relaxed);
    const std::uint64_t beat = at(e.heartbeat_ns).load(std::memory_order_relaxed);
    c.heartbeat_age_ns = now > beat ? now - beat : 0;
    c.holds_lease = at(e.lease).load(std::memory_order_relaxed) != 0;
    out.push_back(c);
  }
  return out;
}

}  // namespace detail

StreamStatus inspect(std::string_view name) {
  if (auto why = check_stream_name(name)) throw Error(errc::invalid_name, "invalid stream name '" + std::string(name) + "': " + *why);
  const std::string object = detail::segment_object(name);
  const std::string path = detail::object_path(object);
  detail::UniqueFd fd(shm_open(object.c_str(), O_RDONLY, 0));
  if (!fd) {
    const int e = errno;
    if (e == ENOENT) throw Error(errc::not_found, "stream '" + std::string(name) + "' not found (no " + path + ")");
    throw Error(e == EACCES ? errc::permission_denied : errc::system_error,
                "stream '" + std::string(name) + "': cannot open " + path + ": " + detail::errno_text(e));
  }
  struct stat st{};
  if (fstat(fd.get(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) < sizeof(layout::SegmentHeader)) {
    StreamStatus s;
    s.name = std::string(name);
    s.state = "initializing";
    return s;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) throw Error(errc::system_error, "stream '" + std::string(name) + "': mmap: " + detail::errno_text(errno));
  // Read-only mapping: the Mapping owns it; accessors only read through it here.
  auto map = std::make_shared<detail::Mapping>(p, size, st.st_dev, st.st_ino);
  // acquire: pairs with the creator's release store of the state; the rest of the header is
  // complete once it says READY (or later).
  const std::uint32_t state = at(map->header().state).load(std::memory_order_acquire);
  layout::SegmentHeader snap;
  std::memcpy(&snap, p, sizeof snap);
  snap.state = state;
  StreamStatus s;
  s.name = std::string(name);
  switch (static_cast<layout::State>(snap.state)) {
    case layout::State::initializing: s.state = "initializing"; break;
    case layout::State::ready: s.state = "ready"; break;
    case layout::State::closed: s.state = "closed"; break;
    case layout::State::superseded: s.state = "superseded"; break;
    default: s.state = "unknown(" + std::to_string(snap.state) + ")"; break;
  }
  if (state == 0) {
    s.state = "initializing";  // created, identity not written yet
    return s;
  }
  if (state == static_cast<std::uint32_t>(layout::State::initializing)) {
    detail::validate_identity(snap, name);
    return s;
  }
  detail::View v{map, detail::validate_header(snap, size, name)};
  s.info = detail::stream_info(v);
  s.producer_alive = detail::process_alive(v.geo.writer_pid, v.geo.writer_start_ticks) &&
                     s.info.heartbeat_age_ns <= 3 * v.geo.heartbeat_interval_ns;
  s.forced_overwrites = snap.forced_overwrites;
  s.consumers_reaped = snap.consumers_reaped;
  s.commits_aborted = snap.commits_aborted;
  s.consumers = detail::collect_consumers(v);
  return s;
}

std::vector<std::string> list_streams() {
  std::vector<std::string> out;
  const std::string dir(detail::kShmDir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  constexpr std::string_view prefix = "shmframe.";
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n.substr(0, prefix.size()) == prefix) out.emplace_back(n.substr(prefix.size()));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace shmframe
