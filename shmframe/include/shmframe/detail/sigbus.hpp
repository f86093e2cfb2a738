// shmframe/detail/sigbus.hpp: surviving a segment truncated under us (issue 10).
//
// A process with write access to a segment can ftruncate it; every access to a page beyond the
// new end then raises SIGBUS in every process mapping it. The library installs one process-wide
// SIGBUS handler (the first time it maps a segment) that looks the fault address up in a table
// of our mappings: inside one, it replaces the whole mapping with private zero pages
// (MAP_FIXED | MAP_ANONYMOUS) and flags it broken, and the faulting access goes on reading zeros
// (slot words 0: every frame of it fails still_valid()); anywhere else, it hands the signal to
// the handler that was installed before (or, if there was none, to the default action). Readers
// and writers check the flag and move on to a new generation.
//
// The table is lock-free and read from the signal handler; register and unregister from any
// thread. Each new mapping re-installs the handler if someone replaced it (the replacement is
// then the one chained to); an application that installs its own SIGBUS handler after the
// library mapped its segments replaces ours until the next mapping: install yours first.
#pragma once

#include <cstddef>

namespace shmframe::detail::sigbus {

// Protects [base, base + size) from now on (installs the handler unless it is in place). Returns a
// handle for unwatch() and broken(), or -1 when the table is full (then unprotected).
int watch(void* base, std::size_t size) noexcept;
// Before munmap.
void unwatch(int handle) noexcept;
// True once a SIGBUS inside the mapping replaced it with zero pages.
bool broken(int handle) noexcept;

}  // namespace shmframe::detail::sigbus
