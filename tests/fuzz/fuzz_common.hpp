// tests/fuzz/fuzz_common.hpp: what the libFuzzer targets share: a stream name of this process,
// writing a shm object whose bytes the fuzzer chose, and a reader that touches everything it
// is given (pixels, metadata) so that ASan sees any read out of bounds.
//
// Thread contract: libFuzzer runs one input at a time on one thread; the Writer's heartbeat
// thread (fuzz_reader) is the only other one.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shmframe/reader.hpp"

namespace fuzz {

// A name of this process, so parallel fuzzing jobs (-jobs=N) never share a stream.
inline std::string stream_name(const char* target) {
  return std::string("fuzz-") + target + "-" + std::to_string(getpid());
}
inline std::string shm_path(const std::string& name) { return "/dev/shm/shmframe." + name; }

inline void remove_stream(const std::string& name) {
  unlink(shm_path(name).c_str());
  unlink(("/dev/shm/shmframe-lock." + name).c_str());
}

// Writes `bytes` as the whole content of the stream's shm object, then zeros (written, not a
// hole) up to `size` when that is larger. False if the object could not be written.
inline bool write_object(const std::string& name, const std::uint8_t* bytes, std::size_t n, std::size_t size) {
  remove_stream(name);
  const int fd = open(shm_path(name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = n == 0 || write(fd, bytes, n) == static_cast<ssize_t>(n);
  static const std::vector<char> zeros(1 << 16, 0);
  for (std::size_t at = n; ok && at < size;) {
    const std::size_t chunk = std::min(zeros.size(), size - at);
    ok = write(fd, zeros.data(), chunk) == static_cast<ssize_t>(chunk);
    at += chunk;
  }
  close(fd);
  return ok;
}

// Reads every byte a frame offers; the sum keeps the reads from being optimized away.
inline std::uint64_t touch(const shmframe::Frame& f) {
  std::uint64_t sum = 0;
  if (!f) return sum;
  for (std::uint32_t i = 0; i < f.plane_count(); ++i) {  // every plane's rows (jpeg: its payload)
    const shmframe::PlaneView p = f.plane(i);
    for (std::uint32_t y = 0; y < p.rows && p.row_bytes != 0; ++y) {
      const std::byte* r = p.row(y);
      for (std::size_t x = 0; x < p.row_bytes; x += 61) sum += static_cast<std::uint8_t>(r[x]);
      sum += static_cast<std::uint8_t>(r[p.row_bytes - 1]);
    }
  }
  for (std::byte b : f.metadata()) sum += static_cast<std::uint8_t>(b);
  sum += f.still_valid() ? 1 : 0;
  return sum;
}

// Aborts (a finding) when an invariant the library promises does not hold.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace fuzz
