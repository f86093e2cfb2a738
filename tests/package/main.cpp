// tests/package/main.cpp: uses an installed shmframe through its public header only. One
// frame through a stream in one process: Writer commits it, Reader waits for it.
// Exit 0 when the frame arrived with seq 1 and its pixels.
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include <shmframe/shmframe.hpp>

int main() {
  const std::string name = "pkgtest-" + std::to_string(::getpid());
  try {
    shmframe::WriterOptions o;
    o.format = shmframe::FrameFormat{64, 48, shmframe::PixelFormat::gray8, 0};
    shmframe::Writer w(name, o);  // its destructor closes the stream and removes the segment
    shmframe::WriteSlot s = w.acquire();
    std::memset(s.data(), 7, 64 * 48);
    auto c = w.commit(s, shmframe::monotonic_ns());
    if (!c) return 1;

    shmframe::Reader r(name);
    bool ok = false;
    for (int i = 0; i < 50; ++i) {
      auto e = r.wait(std::chrono::milliseconds(100));
      if (e.kind == shmframe::EventKind::frame) {
        ok = e.frame.seq() == 1 && e.frame.data()[0] == std::byte{7};
        break;
      }
    }
    std::printf("package test: %s\n", ok ? "frame 1 received" : "no frame 1");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "package test: %s\n", e.what());
    return 1;
  }
}
