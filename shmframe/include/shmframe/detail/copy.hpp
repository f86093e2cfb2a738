// shmframe/detail/copy.hpp: copying frames into slots.
//
// A producer that copies a ready frame into a slot will not read it again; the consumers
// read it from other cores. For large frames, non-temporal (streaming) stores skip the
// read-for-ownership of every destination line and do not evict the producer's cache:
// on the reference machine a 1080p BGR copy into alternating slots drops from ~500 us to
// ~360 us (docs/DECISIONS.md). Internal; thread-safe (no state).
#pragma once

#include <cstddef>

namespace shmframe::detail {

// Frames at least this large are copied with streaming stores.
inline constexpr std::size_t kStreamingCopyMin = 2u << 20;

// memcpy with streaming stores (x86-64; plain memcpy elsewhere). No fence: streaming stores
// are weakly ordered, so the caller must sfence before publishing them (the commit does).
void stream_copy(void* dst, const void* src, std::size_t n) noexcept;

// shmframe::copy_rows() (format.hpp), with streaming stores when `streaming`.
void copy_rows(void* dst, std::size_t dst_stride, const void* src, std::size_t src_stride, std::size_t row_bytes,
               std::size_t rows, bool streaming) noexcept;

}  // namespace shmframe::detail
