// viewer/web/auth.hpp: HTTP basic authentication against a file of salted password hashes.
//
// The file has one `user:hash` line per user; the hash is a crypt(3) string (yescrypt `$y$`,
// SHA-512 `$6$` or SHA-256 `$5$`, as in /etc/shadow), made by `shmframe-web --hash-password`,
// `mkpasswd -m yescrypt` or `openssl passwd -6`. Plain passwords and weak schemes (DES, MD5) are
// refused when the file is read. Blank lines and lines starting with '#' are skipped.
// One thread calls check() (the server's). A password hash costs milliseconds on purpose, and a
// browser sends the same header with every request: header values that passed are remembered
// (at most 64) and pass again without hashing.
#pragma once

#include <map>
#include <set>
#include <string>

namespace shmframe::web {

class Auth {
 public:
  // Reads `path`; throws std::runtime_error naming the file, the line and the fix.
  static Auth load(const std::string& path);
  // True when `authorization` (the header's value, "Basic base64(user:password)") names a user
  // of the file with the right password.
  bool check(const std::string& authorization);
  std::size_t users() const { return users_.size(); }

 private:
  std::map<std::string, std::string> users_;  // user -> crypt(3) hash
  std::set<std::string> passed_;              // header values that passed check()
};

// A crypt(3) yescrypt hash of `password` with a fresh random salt (for --hash-password).
std::string hash_password(const std::string& password);

}  // namespace shmframe::web
