// shmframe/detail/errors.hpp: the one place errors are built.
//
// Every message starts with the same stream prefix ("stream 'NAME'"), every errno is mapped to
// an errc by one function, and the errno is kept in the Error (Error::native_errno()).
// Internal; thread-safe (no state).
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "shmframe/error.hpp"

namespace shmframe::detail {

// "stream 'NAME'".
std::string stream_tag(std::string_view stream);
// strerror(err), thread-safe.
std::string errno_text(int err);
// EACCES, EPERM -> permission_denied; ENOENT -> not_found; anything else -> system_error.
errc errc_from_errno(int err) noexcept;

// "owner uid U, group G, mode 0MMM".
std::string describe_owner(const struct stat& st);
// Throws Error(permission_denied) naming the owner unless `st` is a regular file of our own uid:
// we never use, replace or remove what another user (or a link, a FIFO) put at our name.
void check_ours(std::string_view stream, const std::string& path, const struct stat& st);
// Throws Error(invalid_name) explaining what is wrong with the name, if anything is.
void check_name(std::string_view stream);
// Throws Error(code, "stream 'NAME': what").
[[noreturn]] void fail(errc code, std::string_view stream, const std::string& what, int native_errno = 0);
// Throws Error(errc_from_errno(err), "stream 'NAME': what: strerror(err)" + hint). Without a hint,
// a permission error or a full /dev/shm gets the standard advice.
[[noreturn]] void fail_os(std::string_view stream, const std::string& what, int err, std::string_view hint = {});

}  // namespace shmframe::detail
