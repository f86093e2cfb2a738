// shmframe/detail/attacher.hpp: finding a usable generation of a stream (consumer side).
//
// One probe opens the stream's segment, waits (bounded) while it is INITIALIZING, validates it
// and maps it; between probes, wait_for_change() sleeps until the name changes in /dev/shm. A
// segment given up on (closed, superseded, stuck before READY) is skipped until the name refers
// to another object. Internal; one thread at a time.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "shmframe/detail/owner_lock.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/detail/watcher.hpp"
#include "shmframe/reader.hpp"

namespace shmframe::detail {

class Attacher {
 public:
  enum class Probe { ready, absent, not_ready, stale };
  // What a probe found: `view` (and `wview`, the same mapping when it is writable) for `ready`.
  struct Found {
    Probe probe = Probe::absent;
    ReadView view;
    WriteView wview;
  };

  // `expect_owner`: refuse (and skip) a segment whose object another uid owns. `interrupt` (may
  // be null; outlives the Attacher) ends its waits.
  Attacher(std::string stream, std::chrono::milliseconds ready_timeout,
           const std::function<void(const std::string&)>& warn, std::optional<std::uint32_t> expect_owner = {},
           const Interrupt* interrupt = nullptr);

  // One attempt. `ready` comes with a validated, populated view, and the same mapping writable
  // when it is (empty when read-only). `access` says how to open it: read-write; read-only; or
  // automatic, read-write unless only reading is allowed. `deadline` bounds the wait for READY.
  // Throws Error for a stream that exists but cannot be used (permission_denied, abi_mismatch,
  // bad_magic, corrupt, init_timeout, creator_died).
  Found probe(std::uint64_t deadline, Access access);
  // Sleeps until the name changes, the deadline, the interrupt, or the moment a segment stuck
  // before READY must be reported. 0, ETIMEDOUT, EINTR or ECANCELED.
  int wait_for_change(std::uint64_t deadline) noexcept;
  // Makes the next wait_for_change() return by `t` at the latest (something to look at again that
  // no inotify event announces). Cleared by the next probe.
  void recheck_at(std::uint64_t t) noexcept { recheck_at_ = recheck_at_ == 0 ? t : std::min(recheck_at_, t); }
  // Skip this object until the name refers to another one.
  void skip(dev_t dev, ino_t ino) noexcept;
  void forget_skipped() noexcept;
  // For waiting on several streams at once (SyncReader): the inotify fd that wait_for_change()
  // polls (-1 in the degraded mode without one), and when it would wake up by itself (0 = never).
  int watch_fd() const noexcept { return watcher_.fd(); }
  std::uint64_t next_look() const noexcept {
    std::uint64_t t = not_ready_since_ == 0 ? 0 : ready_deadline();
    if (recheck_at_ != 0) t = t == 0 ? recheck_at_ : std::min(t, recheck_at_);
    return t;
  }
  // True while a segment was seen not READY (for the error an attach() timeout reports).
  bool waiting_for_ready() const noexcept { return not_ready_since_ != 0; }

 private:
  bool skipped(const struct stat& st) const noexcept { return st.st_dev == skip_dev_ && st.st_ino == skip_ino_; }
  Probe not_ready(const struct stat& st);
  // Throws Error(permission_denied), and skips the object, unless its owner is the expected one.
  void check_owner(const struct stat& st);
  // open_segment() as `access` says, except that permission denied on an object not sized yet
  // (its creator is between shm_open and fchmod) is `unsized_denied` instead of an Error.
  struct Opened {
    std::optional<Object> object;  // empty: no object at the name (or unsized_denied)
    bool writable = false;         // opened read-write
    bool unsized_denied = false;
  };
  Opened open_or_wait(Access access);
  // A CLOSED or SUPERSEDED header snapshot: stale (the object is skipped) when that is
  // believable (no live process owns the name); not_ready, with a recheck scheduled, while one
  // does (someone else may have written it).
  Probe on_end(const layout::SegmentHeader& snap, const struct stat& st) noexcept;
  // Waits (bounded by `deadline` and the READY timeout) while the segment at `h` is being
  // initialized. nullopt once READY; else what probe() returns.
  std::optional<Probe> await_ready(layout::SegmentHeader& h, const struct stat& st, std::uint64_t deadline);
  // validate_identity(), through on_invalid() when it fails: nullopt when the identity is good.
  std::optional<Probe> check_identity(const layout::SegmentHeader& snap, const struct stat& st);
  // The object at the name failed validation (`e`: bad magic, ABI mismatch, corrupt format).
  // Throws `e` unless a live process owns the name; then not_ready, with a recheck scheduled, and
  // `e` rethrown only when it is not a bad magic and outlasts the READY timeout.
  Probe on_invalid(const Error& e, const struct stat& st);
  // How soon a header someone else wrote is looked at again (the producer repairs it within a
  // heartbeat, which no event announces).
  static constexpr std::uint64_t kForgedRecheckNs = 50'000'000;
  // The READY timeout ran out on this object: throw creator_died (and skip the object) when its
  // creator is dead, init_timeout (and keep watching it) when it may only be slow.
  [[noreturn]] void give_up_waiting(const struct stat& st, LockOwner creator);
  // Starts (or continues) the READY clock of this object; returns its deadline.
  std::uint64_t start_ready_clock(const struct stat& st) noexcept;
  std::uint64_t ready_deadline() const noexcept;

  std::string stream_;
  std::string path_;
  std::chrono::milliseconds ready_timeout_;
  std::optional<std::uint32_t> expect_owner_;
  const Interrupt* interrupt_;
  std::function<void(const std::string&)> warn_;
  Watcher watcher_;
  dev_t skip_dev_ = 0;
  ino_t skip_ino_ = 0;
  std::uint64_t not_ready_since_ = 0;  // first sight of the current not-ready segment
  dev_t pending_dev_ = 0;              // ... and which object that is
  ino_t pending_ino_ = 0;
  std::uint64_t recheck_at_ = 0;  // see recheck_at(); 0 = none
  struct stat denied_st_ = {};    // the object open_or_wait() could not open yet
  dev_t invalid_dev_ = 0;         // the object on_invalid() last warned about
  ino_t invalid_ino_ = 0;
};

}  // namespace shmframe::detail
