#include "shmframe/error.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "shmframe/detail/errors.hpp"
#include "shmframe/format.hpp"

namespace shmframe {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "shmframe"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::invalid_name: return "invalid stream name";
      case errc::invalid_argument: return "invalid argument";
      case errc::not_found: return "stream not found";
      case errc::permission_denied: return "permission denied";
      case errc::abi_mismatch: return "ABI version mismatch";
      case errc::bad_magic: return "not a shmframe segment";
      case errc::corrupt: return "corrupt segment header";
      case errc::init_timeout: return "initialization timed out";
      case errc::creator_died: return "creator died during initialization";
      case errc::already_owned: return "stream already owned by a live producer";
      case errc::too_many_consumers: return "too many consumers";
      case errc::closed: return "stream closed";
      case errc::system_error: return "system call failed";
      case errc::interrupted: return "interrupted";
    }
    return "unknown shmframe error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const Category kInstance;
  return kInstance;
}

namespace detail {

std::string stream_tag(std::string_view stream) { return "stream '" + std::string(stream) + "'"; }

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r: returns a pointer to the message (maybe not into buf); thread-safe.
  return ::strerror_r(err, buf, sizeof buf);
}

errc errc_from_errno(int err) noexcept {
  switch (err) {
    case EACCES:
    case EPERM: return errc::permission_denied;
    case ENOENT: return errc::not_found;
    default: return errc::system_error;
  }
}

std::string describe_owner(const struct stat& st) {
  char buf[96];
  (void)std::snprintf(buf, sizeof buf, "owner uid %u, group %u, mode %04o", static_cast<unsigned>(st.st_uid),
                      static_cast<unsigned>(st.st_gid), static_cast<unsigned>(st.st_mode & 07777u));
  return buf;
}

void check_ours(std::string_view stream, const std::string& path, const struct stat& st) {
  if (S_ISREG(st.st_mode) && st.st_uid == geteuid()) return;
  fail(errc::permission_denied, stream,
       path + " exists and is not ours (" + describe_owner(st) + (S_ISREG(st.st_mode) ? "" : ", not a regular file") +
           "): its owner must remove it, or pick another stream name",
       EEXIST);
}

void check_name(std::string_view stream) {
  if (auto why = check_stream_name(stream)) {
    throw Error(errc::invalid_name, "invalid stream name '" + std::string(stream) + "': " + *why);
  }
}

void fail(errc code, std::string_view stream, const std::string& what, int native_errno) {
  throw Error(code, stream_tag(stream) + ": " + what, native_errno);
}

void fail_os(std::string_view stream, const std::string& what, int err, std::string_view hint) {
  std::string h(hint);
  if (h.empty()) {
    if (errc_from_errno(err) == errc::permission_denied) {
      h = ": it belongs to another user; run as that user, or ask its owner to share it (producer --mode 0660 and a "
          "common group)";
    } else if (err == ENOSPC || err == EFBIG || err == ENOMEM) {
      h = ": not enough space in /dev/shm (check `df -h /dev/shm`; lower the frame size or --slots)";
    }
  }
  fail(errc_from_errno(err), stream, what + ": " + errno_text(err) + h, err);
}

}  // namespace detail
}  // namespace shmframe
