// shmframe/error.hpp: typed errors for setup and validation paths.
//
// Setup calls (create, attach, validation) throw shmframe::Error, a std::system_error in
// the shmframe::errc category whose what() names the stream, what was expected versus
// found, and what to do about it. Hot-path calls never throw; they return statuses.
// Thread-safety: the types here are values; the category is a stateless singleton.
#pragma once

#include <string>
#include <system_error>

namespace shmframe {

enum class errc {
  invalid_name = 1,    // stream name not [A-Za-z0-9_.-]{1,64}
  invalid_argument,    // bad option (format, size, slots, mode...)
  not_found,           // no segment with that name
  permission_denied,   // the segment exists but this user may not map it
  abi_mismatch,        // the segment speaks another ABI version or header size
  bad_magic,           // the object is not a shmframe segment
  corrupt,             // a header field is out of range
  init_timeout,        // the creator did not finish initialization in time
  creator_died,        // the creator died during initialization
  already_owned,       // a live producer already owns the name
  too_many_consumers,  // every consumer entry is taken by a live consumer
  closed,              // the stream was closed by its producer
  system_error,        // an OS call failed (message has errno text)
  interrupted,         // Reader::interrupt() ended the wait
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

// The exception thrown by setup and validation calls. what() is the whole message (it names
// the stream and the fix); native_errno() is the errno of the OS call that failed, 0 if none.
class Error : public std::system_error {
 public:
  Error(errc code, const std::string& message, int native_errno = 0)
      : std::system_error(make_error_code(code), message), native_errno_(native_errno) {}
  errc value() const noexcept { return static_cast<errc>(code().value()); }
  int native_errno() const noexcept { return native_errno_; }

 private:
  int native_errno_;
};

}  // namespace shmframe

template <>
struct std::is_error_code_enum<shmframe::errc> : std::true_type {};
