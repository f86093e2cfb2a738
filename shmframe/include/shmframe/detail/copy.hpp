// shmframe/detail/copy.hpp: copying frames into slots.
//
// A producer that copies a ready frame into a slot will not read it again; the consumers
// read it from other cores. For large frames, non-temporal (streaming) stores skip the
// read-for-ownership of every destination line and do not evict the producer's cache; but
// whether that wins depends on the machine and the size: on one Intel host a 1080p BGR copy
// into alternating slots dropped from ~500 us to ~360 us, while on an AMD EPYC with 32 MiB of
// L3 the same copy took 221 us streamed against 190 us with memcpy (streaming still won at 4K).
// So the choice is measured on the machine, per frame size (streaming_wins()), not hard-coded
// (docs/DECISIONS.md). Internal; thread-safe.
#pragma once

#include <cstddef>

namespace shmframe::detail {

// Frames below this size are copied with memcpy, unmeasured: they fit the caches, where
// streaming stores only lose.
inline constexpr std::size_t kStreamingCopyMin = 2u << 20;

// True when streaming stores copy a frame of `bytes` into a frame-sized destination faster than
// memcpy on this machine. Measured the first time a size is asked for (a few rounds of each kind
// into two alternating scratch buffers, as a producer alternates slots; the best of each
// compared: ~3 ms at 1080p, ~25 ms at 4K, and 3 frames of memory for that long), then
// remembered for the process. SHMFRAME_COPY=memcpy|stream in the environment forces a kind
// (benchmarks; a machine that measures badly).
bool streaming_wins(std::size_t bytes) noexcept;

// memcpy with streaming stores (x86-64; plain memcpy elsewhere). No fence: streaming stores
// are weakly ordered, so the caller must sfence before publishing them (the commit does).
void stream_copy(void* dst, const void* src, std::size_t n) noexcept;

// shmframe::copy_rows() (format.hpp), with streaming stores when `streaming`.
void copy_rows(void* dst, std::size_t dst_stride, const void* src, std::size_t src_stride, std::size_t row_bytes,
               std::size_t rows, bool streaming) noexcept;

}  // namespace shmframe::detail
