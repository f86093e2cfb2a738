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

// True when streaming stores copy a frame of `bytes` faster than memcpy on this machine. Measured
// the first time a size is asked for, then remembered for the process: a few copies of each kind
// from `src` into `dst_a` and `dst_b` alternately, as a producer alternates slots, the best of
// each compared. The caller passes the producer's own image and two of its slots while they hold
// no frame (their bytes are garbage afterwards), or nulls, and scratch buffers of that size are
// used instead. ~4 ms at 1080p, ~16 ms at 4K. SHMFRAME_COPY=memcpy|stream in the environment
// forces a kind (benchmarks; a machine that measures badly).
bool streaming_wins(std::size_t bytes, const void* src = nullptr, void* dst_a = nullptr,
                    void* dst_b = nullptr) noexcept;

// memcpy with streaming stores (x86-64; plain memcpy elsewhere). No fence: streaming stores
// are weakly ordered, so the caller must sfence before publishing them (the commit does).
void stream_copy(void* dst, const void* src, std::size_t n) noexcept;

// shmframe::copy_rows() (format.hpp), with streaming stores when `streaming`.
void copy_rows(void* dst, std::size_t dst_stride, const void* src, std::size_t src_stride, std::size_t row_bytes,
               std::size_t rows, bool streaming) noexcept;

}  // namespace shmframe::detail
