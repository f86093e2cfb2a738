// The origin record's encoding (docs/ABI.md, "Origin record").
#include "shmframe/origin.hpp"

#include <cstring>

#include "shmframe/format.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {

static_assert(sizeof(layout::OriginRecord) == kOriginRecordSize);

bool write_origin_record(const Origin& o, std::span<std::byte> out) noexcept {
  layout::OriginRecord r{};
  if (out.size() < sizeof r || o.stream.empty() || o.stream.size() > sizeof r.stream) return false;
  if (check_stream_name(o.stream)) return false;
  r.magic = layout::kOriginMagic;
  r.size = sizeof r;
  r.seq = o.seq;
  r.generation = o.generation;
  r.capture_ns = o.capture_ns;
  r.hops = o.hops;
  r.stream_length = static_cast<std::uint32_t>(o.stream.size());
  std::memcpy(r.stream, o.stream.data(), o.stream.size());
  std::memcpy(out.data(), &r, sizeof r);
  return true;
}

std::optional<Origin> read_origin_record(std::span<const std::byte> in) {
  layout::OriginRecord r{};
  if (in.size() < sizeof r) return std::nullopt;
  std::memcpy(&r, in.data(), sizeof r);  // the bytes may be in shared memory: copy, then check
  if (r.magic != layout::kOriginMagic || r.size != sizeof r || r.stream_length == 0 ||
      r.stream_length > sizeof r.stream) {
    return std::nullopt;
  }
  Origin o;
  o.stream.assign(r.stream, r.stream_length);
  if (check_stream_name(o.stream)) return std::nullopt;  // not a stream name: not a record of ours
  o.seq = r.seq;
  o.generation = r.generation;
  o.capture_ns = r.capture_ns;
  o.hops = r.hops;
  return o;
}

}  // namespace shmframe
