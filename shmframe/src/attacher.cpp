#include "shmframe/detail/attacher.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "shmframe/detail/errors.hpp"
#include "shmframe/detail/notifier.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/owner_lock.hpp"

namespace shmframe::detail {

Attacher::Attacher(std::string stream, std::chrono::milliseconds ready_timeout,
                   const std::function<void(const std::string&)>& warn, std::optional<std::uint32_t> expect_owner,
                   const Interrupt* interrupt)
    : stream_(std::move(stream)), path_(object_path(segment_object(stream_))), ready_timeout_(ready_timeout),
      expect_owner_(expect_owner), interrupt_(interrupt), warn_(warn),
      watcher_(segment_object(stream_), warn, interrupt) {}

void Attacher::skip(dev_t dev, ino_t ino) noexcept {
  skip_dev_ = dev;
  skip_ino_ = ino;
}

void Attacher::forget_skipped() noexcept { skip(0, 0); }

std::uint64_t Attacher::ready_deadline() const noexcept {
  return not_ready_since_ + static_cast<std::uint64_t>(std::chrono::nanoseconds(ready_timeout_).count());
}

std::uint64_t Attacher::start_ready_clock(const struct stat& st) noexcept {
  // The clock runs per object: a new object under the name starts it afresh.
  if (not_ready_since_ == 0 || st.st_dev != pending_dev_ || st.st_ino != pending_ino_) {
    not_ready_since_ = monotonic_ns();
    pending_dev_ = st.st_dev;
    pending_ino_ = st.st_ino;
  }
  return ready_deadline();
}

int Attacher::wait_for_change(std::uint64_t deadline) noexcept {
  // While a segment is stuck before READY, wake up in time to report it.
  std::uint64_t until = not_ready_since_ == 0 ? deadline : std::min(deadline, ready_deadline());
  if (recheck_at_ != 0) until = std::min(until, recheck_at_);
  return watcher_.wait_for_change(until);
}

Attacher::Probe Attacher::not_ready(const struct stat& st) {
  // The object exists but is not even sized yet: the creator is between shm_open and fallocate.
  // inotify reports the resize (IN_MODIFY); the READY timeout bounds it.
  if (monotonic_ns() >= start_ready_clock(st)) give_up_waiting(st, lock_owner(stream_));
  return Probe::not_ready;
}

void Attacher::give_up_waiting(const struct stat& st, LockOwner creator) {
  const std::int32_t creator_pid = creator.pid;
  if (creator_pid > 0 && !process_alive(creator_pid, creator.start_ticks)) {
    // Dead for sure: this object will never become READY. Skip it until the name changes.
    not_ready_since_ = 0;
    skip(st.st_dev, st.st_ino);
    fail(errc::creator_died, stream_,
         "its creator (pid " + std::to_string(creator_pid) +
             ") died during initialization; the next producer for this name replaces it");
  }
  // Maybe only slow (a large segment being reserved and pre-faulted): report it, and keep
  // watching the same object, with a fresh clock.
  not_ready_since_ = monotonic_ns();
  fail(errc::init_timeout, stream_,
       "still initializing after " + std::to_string(ready_timeout_.count()) + " ms (creator pid " +
           (creator_pid > 0 ? std::to_string(creator_pid) : std::string("unknown")) +
           "); is the producer stuck? (still watching; a producer restart replaces it)");
}

Attacher::Probe Attacher::on_end(const layout::SegmentHeader& snap, const struct stat& st) noexcept {
  // CLOSED and SUPERSEDED are stored by the producer right before it unlinks the name (or by its
  // successor, once it is dead), so a closed segment whose producer still owns the name is either
  // a few microseconds from its unlink (inotify tells us) or was written by someone else
  // (PROTOCOL.md, "Hostile writers"): then its producer restores READY on its next heartbeat.
  // Who owns the name is the kernel's to say (the lock's holder), not the header's: anyone who can
  // write the state can write the heartbeat and the pid too.
  const std::uint64_t interval = std::clamp<std::uint64_t>(snap.heartbeat_interval_ns, 1'000'000, 60'000'000'000);
  const std::uint64_t now = monotonic_ns();
  bool dead = false;
  switch (name_owner_liveness(stream_)) {
    case Liveness::alive: break;
    case Liveness::gone: dead = true; break;
    case Liveness::unknown: {
      // No holder visible from here: a dead producer, or one in another pid namespace. Only the
      // header can tell, forgeable as it is.
      const std::uint64_t beat = snap.heartbeat_ns;  // a private copy: no atomics here
      dead = now - std::min(now, beat) > 3 * interval || beat > now + interval ||
             !process_alive(snap.writer_pid, snap.writer_start_ticks);
      break;
    }
  }
  if (dead) {
    skip(st.st_dev, st.st_ino);
    return Probe::stale;
  }
  recheck_at(now + std::min<std::uint64_t>(interval, kForgedRecheckNs));
  return Probe::not_ready;
}

std::optional<Attacher::Probe> Attacher::check_identity(const layout::SegmentHeader& snap, const struct stat& st) {
  try {
    validate_identity(snap, stream_);
    return std::nullopt;
  } catch (const Error& e) {
    return on_invalid(e, st);
  }
}

Attacher::Probe Attacher::on_invalid(const Error& e, const struct stat& st) {
  // Nobody owns the name: the object is debris or another program's, and the error (with its
  // advice, say to remove the object) stands.
  if (name_owner_liveness(stream_) != Liveness::alive) throw e;  // NOLINT(cert-err60-cpp): Error is copyable
  // A live producer owns the name, so its segment had a valid header: someone else wrote this one,
  // and the producer restores it within a heartbeat (PROTOCOL.md, "Hostile writers"). Look again
  // soon. A bad magic is never a live producer's; any other refusal may be (a producer of another
  // ABI version): reported once it outlasts the READY timeout, which no repair would.
  const std::uint64_t now = monotonic_ns();
  if (e.value() != errc::bad_magic && now >= start_ready_clock(st)) {
    not_ready_since_ = 0;
    throw e;  // NOLINT(cert-err60-cpp)
  }
  if (st.st_ino != invalid_ino_ || st.st_dev != invalid_dev_) {
    invalid_dev_ = st.st_dev;
    invalid_ino_ = st.st_ino;
    if (warn_) {
      warn_(std::string(e.what()) +
            " -- but a live producer owns the name (its lock): another process wrote the "
            "header; waiting for the producer to restore it. Give write access to trusted "
            "consumers only");
    }
  }
  recheck_at(now + kForgedRecheckNs);
  return Probe::not_ready;
}

Attacher::Opened Attacher::open_or_wait(Access access) {
  Opened o;
  o.writable = access != Access::read_only;
  try {
    o.object = open_segment(stream_, o.writable);
    return o;
  } catch (const Error& e) {
    // The creator sets the final mode (fchmod) right after shm_open, before it sizes the
    // object: an empty object's mode is the umask's, not final. Denied only once it is sized.
    struct stat st = {};
    if (e.value() != errc::permission_denied || lstat(path_.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw;
    if (st.st_size < static_cast<off_t>(sizeof(layout::SegmentHeader))) {
      o.unsized_denied = true;
      denied_st_ = st;
      return o;
    }
    if (access != Access::automatic) throw;
    // Automatic: we may read but not write (a 0644 / 0640 stream of another user)? Attach
    // read-only then. Denied that too: the read-write refusal names every way out.
    o.writable = false;
    try {
      o.object = open_segment(stream_, false);
      return o;
    } catch (const Error& ro) {
      if (ro.value() == errc::permission_denied) throw e;  // NOLINT(cert-err60-cpp): Error is copyable
      throw;
    }
  }
}

void Attacher::check_owner(const struct stat& st) {
  if (!expect_owner_ || st.st_uid == *expect_owner_) return;
  // Judged by the object's owner (fstat), never by the header's writer_uid, which anyone with
  // write access can forge. Not final: the name may change hands again.
  skip(st.st_dev, st.st_ino);
  fail(errc::permission_denied, stream_,
       path_ + " is owned by uid " + std::to_string(st.st_uid) + ", not by the expected uid " +
           std::to_string(*expect_owner_) + " (" + describe_owner(st) +
           "): another user produces under this name. Not attached; stop that producer, or pick another name");
}

std::optional<Attacher::Probe> Attacher::await_ready(layout::SegmentHeader& h, const struct stat& st,
                                                     std::uint64_t deadline) {
  layout::SegmentHeader snap;
  for (;;) {
    const std::uint32_t state = load_state(h);
    // State 0: created, nothing written yet, whatever the other bytes say. From 1 on, identity
    // (magic, ABI, header size) is valid and checked.
    if (state != 0) {
      std::memcpy(&snap, &h, sizeof snap);
      if (const auto bad = check_identity(snap, st)) return *bad;
    }
    if (state == static_cast<std::uint32_t>(layout::State::ready)) return std::nullopt;
    if (state == static_cast<std::uint32_t>(layout::State::closed) ||
        state == static_cast<std::uint32_t>(layout::State::superseded)) {
      return on_end(snap, st);
    }
    if (state != 0 && state != static_cast<std::uint32_t>(layout::State::initializing)) {
      return on_invalid(
          Error(errc::corrupt, stream_tag(stream_) + ": corrupt segment header: state " + std::to_string(state) +
                                   " is not a known state; restart its producer (it replaces the segment)"),
          st);
    }
    // INITIALIZING: the creator is still writing. Wait on the state word (the creator wakes it
    // after storing READY), bounded by the READY timeout.
    const std::uint64_t ready_by = start_ready_clock(st);
    const std::uint64_t now = monotonic_ns();
    if (now >= ready_by) {
      give_up_waiting(st, state != 0 ? LockOwner{snap.writer_pid, snap.writer_start_ticks} : lock_owner(stream_));
    }
    if (now >= deadline) return Probe::not_ready;
    if (notifier::interrupted(notifier::wait_word(&h.state, state, std::min(ready_by, deadline) - now, interrupt_))) {
      return Probe::not_ready;
    }
  }
}

Attacher::Found Attacher::probe(std::uint64_t deadline, Access access) {
  recheck_at_ = 0;
  Opened opened = open_or_wait(access);
  const auto result = [](Probe p) { return Found{p, {}, {}}; };
  if (opened.unsized_denied) return result(not_ready(denied_st_));
  std::optional<Object>& obj = opened.object;
  const bool writable = opened.writable;
  if (!obj) return result(Probe::absent);
  if (skipped(obj->st)) return result(Probe::stale);
  check_owner(obj->st);
  const std::uint64_t size = obj->size();
  if (size < sizeof(layout::SegmentHeader)) return result(not_ready(obj->st));
  // The header alone first: the object's size is whatever its last writer made it.
  auto header = map_region(*obj, writable, stream_, false, sizeof(layout::SegmentHeader));
  auto& h = *reinterpret_cast<layout::SegmentHeader*>(header->base());
  layout::SegmentHeader snap;
  if (const auto waiting = await_ready(h, obj->st, deadline)) return result(*waiting);
  not_ready_since_ = 0;
  // Snapshot after READY (load_state was acquire), validate the copy, use only the copy.
  std::memcpy(&snap, &h, sizeof snap);
  Geometry geo;
  try {
    geo = validate_header(snap, size, stream_);
  } catch (const Error& e) {
    return result(on_invalid(e, obj->st));
  }
  check_backed(*obj, geo.total_size, stream_);  // before anything touches the holes of a sparse object
  auto region = map_region(*obj, writable, stream_, false, geo.total_size);
  populate(*region, geo.total_size);
  Found found{Probe::ready, {}, writable ? WriteView{region, geo} : WriteView{}};
  found.view = ReadView{std::move(region), geo};
  return found;
}

}  // namespace shmframe::detail
