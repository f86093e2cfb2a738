#include "shmframe/error.hpp"

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
    }
    return "unknown shmframe error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const Category instance;
  return instance;
}

}  // namespace shmframe
