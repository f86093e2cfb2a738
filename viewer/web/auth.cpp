#include "auth.hpp"

#include <crypt.h>

#include <boost/beast/core/detail/base64.hpp>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace shmframe::web {
namespace {

bool strong_scheme(const std::string& hash) {
  return hash.rfind("$y$", 0) == 0 || hash.rfind("$6$", 0) == 0 || hash.rfind("$5$", 0) == 0 ||
         hash.rfind("$gy$", 0) == 0 || hash.rfind("$7$", 0) == 0 || hash.rfind("$2b$", 0) == 0;
}

// Compares without an early exit, so the time taken does not say how much of a hash matched.
bool same(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string base64_decode(const std::string& in) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::decoded_size(in.size()), '\0');
  const auto r = b64::decode(out.data(), in.data(), in.size());
  out.resize(r.first);
  return out;
}

}  // namespace

Auth Auth::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--auth-file '" + path + "' cannot be read (does it exist, and may we read it?)");
  Auth a;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::size_t colon = line.find(':');
    const std::string where = "--auth-file '" + path + "' line " + std::to_string(n);
    if (colon == std::string::npos || colon == 0) throw std::runtime_error(where + ": expected user:hash");
    const std::string hash = line.substr(colon + 1);
    if (!strong_scheme(hash)) {
      throw std::runtime_error(where +
                               ": not a salted yescrypt/SHA-512/SHA-256 crypt hash (plain passwords are "
                               "refused): make one with `shmframe-web --hash-password`");
    }
    a.users_[line.substr(0, colon)] = hash;
  }
  if (a.users_.empty()) throw std::runtime_error("--auth-file '" + path + "' names no user (lines user:hash)");
  return a;
}

bool Auth::check(const std::string& authorization) {
  if (passed_.count(authorization) != 0) return true;
  constexpr std::string_view kBasic = "Basic ";
  if (authorization.size() <= kBasic.size() || authorization.compare(0, kBasic.size(), kBasic) != 0) return false;
  if (authorization.size() > 1024) return false;
  const std::string decoded = base64_decode(authorization.substr(kBasic.size()));
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  const auto it = users_.find(decoded.substr(0, colon));
  if (it == users_.end()) return false;
  crypt_data data{};
  const char* out = crypt_r(decoded.substr(colon + 1).c_str(), it->second.c_str(), &data);
  const bool ok = out != nullptr && out[0] != '*' && same(out, it->second);
  if (ok && passed_.size() < 64) passed_.insert(authorization);
  return ok;
}

std::string hash_password(const std::string& password) {
  const char* salt = crypt_gensalt_ra("$y$", 0, nullptr, 0);
  if (salt == nullptr) throw std::runtime_error("libcrypt cannot make a yescrypt salt");
  std::string s(salt);
  std::free(const_cast<char*>(salt));  // NOLINT: crypt_gensalt_ra's buffer is malloc'ed
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), s.c_str(), &data);
  if (out == nullptr || out[0] == '*') throw std::runtime_error("libcrypt cannot hash the password");
  return out;
}

}  // namespace shmframe::web
