// libFuzzer target: header validation. The input is a segment header snapshot (and, after it,
// the size of the object it claims to come from). validate_header() must either refuse it with
// shmframe::Error or return a Geometry whose every region (slots, planes) lies inside the object: the promise
// that lets the rest of the library trust the Geometry instead of shared memory.
#include <algorithm>
#include <cstring>

#include "fuzz_common.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using shmframe::layout::SegmentHeader;
  SegmentHeader h{};
  std::memcpy(&h, data, std::min(size, sizeof h));
  std::uint64_t object_size = h.total_size;
  if (size >= sizeof h + sizeof object_size) std::memcpy(&object_size, data + sizeof h, sizeof object_size);
  try {
    const auto g = shmframe::detail::validate_header(h, object_size, "fuzz");
    fuzz::check(g.total_size <= object_size, "total_size within the object (a grown object is accepted)");
    fuzz::check(g.frame_bytes == g.format.frame_bytes(), "frame_bytes is the format's");
    std::uint64_t prev_end = 0;
    for (std::uint32_t i = 0; i < g.format.plane_count(); ++i) {  // ABI.md "Planes"
      const shmframe::PlaneLayout p = g.format.plane(i);
      fuzz::check(p.rows >= 1 && p.row_bytes >= 1, "a plane has pixels");
      fuzz::check(p.stride >= p.row_bytes, "a plane's stride holds its row");
      fuzz::check(p.offset >= prev_end, "planes in order, not overlapping");
      fuzz::check(p.offset + std::uint64_t{p.stride} * (p.rows - 1) + p.row_bytes <= g.frame_bytes,
                  "a plane inside the frame");
      prev_end = p.end();
    }
    fuzz::check(g.consumers_offset >= sizeof(SegmentHeader), "consumer table after the header");
    fuzz::check(g.consumers_offset + g.consumer_stride * g.max_consumers <= g.slots_offset, "table before the slots");
    fuzz::check(g.pixel_offset + g.frame_bytes <= g.slot_stride, "pixels inside a slot");
    fuzz::check(sizeof(shmframe::layout::SlotHeader) + g.metadata_capacity <= g.pixel_offset, "metadata before pixels");
    fuzz::check(g.slots_offset + g.slot_stride * g.slot_count <= g.total_size,
                "slots inside total_size (what is mapped)");
  } catch (const shmframe::Error&) {
    // refused: what a bad header must get
  }
  return 0;
}
