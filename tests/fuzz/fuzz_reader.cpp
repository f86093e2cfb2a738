// libFuzzer target: a reader running against a live segment whose bytes the fuzzer changes
// while it reads (a consumer with write access on a shared stream, or memory corruption). Per
// input: a Writer creates a small stream, a Reader attaches, then the input is a program of
// steps: publish, scribble 8 bytes anywhere in the segment, take / hold / release frames,
// read a seq, take the newest. The reader must never crash, read out of bounds, or hang (every
// wait has a zero timeout; the Writer never waits: max_block 0).
#include <fcntl.h>
#include <sys/mman.h>

#include <cstring>
#include <optional>

#include "fuzz_common.hpp"
#include "shmframe/clock.hpp"
#include "shmframe/writer.hpp"

namespace {

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  template <class T>
  bool take(T& out) {
    if (n < sizeof(T)) return false;
    std::memcpy(&out, p, sizeof(T));
    p += sizeof(T);
    n -= sizeof(T);
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string name = fuzz::stream_name("reader");
  fuzz::remove_stream(name);
  shmframe::WriterOptions wo;
  wo.format = {24, 8, shmframe::PixelFormat::bgr8};
  wo.slots = 3;
  wo.max_consumers = 3;
  wo.metadata_capacity = 16;
  wo.max_block = std::chrono::milliseconds(0);
  wo.prefault = false;
  std::optional<shmframe::Writer> w;
  w.emplace(name, wo);
  // A second mapping of the same object: the hostile writer's view.
  const int fd = open(fuzz::shm_path(name).c_str(), O_RDWR | O_CLOEXEC);
  struct stat st {};
  fstat(fd, &st);
  const auto len = static_cast<std::size_t>(st.st_size);
  auto* seg = static_cast<std::uint8_t*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  close(fd);
  fuzz::check(seg != MAP_FAILED, "map the segment");
  {
    shmframe::ReaderOptions ro;
    ro.ready_timeout = std::chrono::milliseconds(1);
    std::uint8_t mode = 0;
    Input in{data, size};
    in.take(mode);
    ro.delivery = static_cast<shmframe::Delivery>(mode % 3);
    // Every fourth run read-only (lossless needs write access: it stays read-write then).
    if ((mode / 3) % 4 == 3 && ro.delivery != shmframe::Delivery::lossless) ro.access = shmframe::Access::read_only;
    shmframe::Reader r(name, ro);
    std::vector<shmframe::Frame> held;
    std::uint64_t sum = 0;
    std::uint8_t op = 0;
    const std::uint8_t pixels[24 * 8 * 3] = {};
    while (in.take(op)) {
      switch (op % 8) {
        case 0: {  // publish a frame
          const shmframe::ImageView img{pixels, 24 * 3, 24, 8, 3};
          (void)w->publish(img, shmframe::monotonic_ns());
          break;
        }
        case 1: {  // scribble 8 bytes at an offset of the fuzzer's choice
          std::uint32_t off = 0;
          std::uint64_t value = 0;
          if (!in.take(off) || !in.take(value)) break;
          std::memcpy(seg + (off % (len - 8)), &value, 8);
          break;
        }
        case 2:
        case 3: {  // take the next event; keep its frame (up to 4; pinned when the op's top bit is set) or drop it
          shmframe::Event e = r.wait(std::chrono::nanoseconds(0));
          sum += fuzz::touch(e.frame);
          if (op % 8 == 3 && e.frame && held.size() < 4) {
            held.push_back(std::move(e.frame));
            if ((op & 0x80) != 0) sum += held.back().pin() ? 1 : 0;
          }
          break;
        }
        case 4: sum += fuzz::touch(r.latest()); break;
        case 5: {
          std::uint64_t seq = 0;
          if (in.take(seq)) sum += fuzz::touch(r.read(seq % 64));
          break;
        }
        case 6: held.clear(); break;
        default: {  // the zero-copy path of the producer
          shmframe::WriteSlot s = w->acquire();
          if (s) (void)w->commit(s, shmframe::monotonic_ns());
          break;
        }
      }
    }
    for (auto& f : held) sum += fuzz::touch(f);
    if (sum == 42) std::fprintf(stderr, " ");  // keep `sum` alive
  }
  w.reset();  // closes the stream while it may be scribbled over: must not crash either
  munmap(seg, len);
  fuzz::remove_stream(name);
  return 0;
}
