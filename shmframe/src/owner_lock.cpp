#include "shmframe/detail/owner_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "shmframe/detail/errors.hpp"
#include "shmframe/layout.hpp"

namespace shmframe::detail {

namespace {
bool read_record(int fd, layout::LockRecord& rec) noexcept {
  rec = {};
  // A version 4 producer wrote 24 bytes (no start_ticks): still good for its generation.
  return pread(fd, &rec, sizeof rec, 0) >= static_cast<ssize_t>(offsetof(layout::LockRecord, start_ticks)) &&
         rec.magic == layout::kLockMagic;
}
}  // namespace

LockOwner lock_owner(std::string_view stream) noexcept {
  const UniqueFd fd(shm_open(lock_object(stream).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0));
  struct stat st = {};
  layout::LockRecord rec{};
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || !read_record(fd.get(), rec)) return {};
  return {rec.pid, rec.start_ticks};
}

std::optional<std::int32_t> lock_holder(std::string_view stream) noexcept {
  struct stat st = {};
  // lstat: no open, so no permission needed, and a link at the name is not the lock.
  if (lstat(object_path(lock_object(stream)).c_str(), &st) != 0) {
    return errno == ENOENT ? std::optional<std::int32_t>(0) : std::nullopt;
  }
  std::FILE* f = std::fopen("/proc/locks", "re");
  if (f == nullptr) return std::nullopt;
  // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; a waiter's line has "->" after the id.
  // The device is major:minor in hex, the inode in decimal. A holder this pid namespace cannot
  // see is not listed (older kernels list it with pid 0): "not listed" is not "not held".
  std::optional<std::int32_t> holder;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    char kind[16] = {};
    char access[16] = {};
    long pid = 0;
    unsigned maj = 0;
    unsigned min = 0;
    unsigned long long ino = 0;
    // NOLINTNEXTLINE(cert-err34-c): every conversion is checked through the count
    if (std::sscanf(line, "%*d: %15s %*s %15s %ld %x:%x:%llu", kind, access, &pid, &maj, &min, &ino) != 6) continue;
    if (std::strcmp(kind, "FLOCK") != 0 || ino != st.st_ino || maj != major(st.st_dev) || min != minor(st.st_dev))
      continue;
    holder = pid > 0 ? static_cast<std::int32_t>(pid) : kHiddenHolder;
    break;
  }
  (void)std::fclose(f);  // read-only
  return holder;
}

Liveness producer_liveness(std::string_view stream, std::int32_t pid, std::uint64_t start_ticks) noexcept {
  if (process_alive(pid, start_ticks)) return Liveness::alive;
  const std::optional<std::int32_t> holder = lock_holder(stream);
  if (!holder || *holder == kHiddenHolder) return Liveness::unknown;
  if (*holder == 0) return Liveness::gone;  // no lock object: its producer is gone
  // Our producer under another pid (we see it from another pid namespace): the start time is
  // the same in every namespace.
  if (start_ticks != 0 && process_start_ticks(*holder) == start_ticks) return Liveness::alive;
  return Liveness::gone;  // a successor owns the name
}

Liveness name_owner_liveness(std::string_view stream) noexcept {
  const std::optional<std::int32_t> holder = lock_holder(stream);
  if (!holder) return Liveness::unknown;
  return *holder == 0 ? Liveness::gone : Liveness::alive;
}

OwnerLock::OwnerLock(std::string_view stream, mode_t mode) : stream_(stream) {
  const std::string object = lock_object(stream);
  const std::string path = object_path(object);
  for (int attempt = 0; attempt < 16; ++attempt) {
    UniqueFd fd(shm_open(object.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode));
    if (!fd) {
      const int e = errno;
      struct stat st = {};
      if (lstat(path.c_str(), &st) == 0) check_ours(stream, path, st);  // names the owner
      fail_os(stream, "cannot open the producer lock " + path, e, ": run as its owner, or use another --name");
    }
    if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) fail_os(stream, "cannot lock " + path, errno);
      layout::LockRecord rec{};
      struct stat st = {};
      std::string what = "already produced by ";
      what += read_record(fd.get(), rec) ? "pid " + std::to_string(rec.pid) : "another process";
      // The record is whatever its writer wrote; the object's owner is what the kernel says.
      if (fstat(fd.get(), &st) == 0 && st.st_uid != geteuid()) {
        what += " of another user (the lock is " + describe_owner(st) + "; the pid is its own claim)";
      }
      what += " (a live producer holds " + path + "): stop that producer first, or use another --name";
      fail(errc::already_owned, stream, what);
    }
    // The previous owner may have unlinked the lock between our open and our flock; then we hold
    // a lock on a dead inode and must start over.
    struct stat held = {};
    if (fstat(fd.get(), &held) != 0) fail_os(stream, "fstat " + path, errno);
    check_ours(stream, path, held);  // a lock another user prepared (say 0666) is not ours to use
    if (!name_refers_to(object, held.st_dev, held.st_ino)) continue;
    if (held.st_uid == geteuid()) (void)fchmod(fd.get(), mode);  // umask must not widen or narrow --mode
    fd_ = std::move(fd);
    return;
  }
  fail(errc::system_error, stream, "the producer lock kept changing under us; retry");
}

OwnerLock::~OwnerLock() { unlock_and_remove(); }

std::uint64_t OwnerLock::last_generation() const noexcept {
  layout::LockRecord rec{};
  return fd_ && read_record(fd_.get(), rec) ? rec.last_generation : 0;
}

bool OwnerLock::record(std::uint64_t generation) noexcept {
  const layout::LockRecord rec{layout::kLockMagic, generation, static_cast<std::int32_t>(getpid()), 0,
                               process_start_ticks(getpid())};
  return pwrite(fd_.get(), &rec, sizeof rec, 0) == static_cast<ssize_t>(sizeof rec);
}

void OwnerLock::unlock_and_remove() noexcept {
  if (!fd_) return;
  // Still holding the flock: nobody who opened this inode can proceed past their flock, and
  // they re-check the name afterwards, so removing it now cannot strand a successor.
  struct stat held = {};
  const std::string object = lock_object(stream_);
  if (fstat(fd_.get(), &held) == 0 && name_refers_to(object, held.st_dev, held.st_ino)) shm_unlink(object.c_str());
  fd_.reset();
}

}  // namespace shmframe::detail
