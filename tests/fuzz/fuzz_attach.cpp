// libFuzzer target: attaching to a segment whose bytes and size the fuzzer chose (an object a
// hostile local user placed at the stream's name). The first 4 bytes of the input give the
// object's size (at least the rest of the input, which is its content; zeros after it);
// a Reader then attaches, takes what it is offered and reads all of it, and inspect() reports
// on it. Any crash, read out of bounds or hang is a finding; errors are what we expect.
#include <cstring>

#include "fuzz_common.hpp"
#include "shmframe/inspect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string name = fuzz::stream_name("attach");
  if (size < 4) return 0;
  std::uint32_t extra = 0;
  std::memcpy(&extra, data, 4);
  const std::size_t content = size - 4;
  const std::size_t object = content + (extra % (1u << 20));  // at most 1 MiB of zeros after it
  if (!fuzz::write_object(name, data + 4, content, object)) return 0;
  shmframe::ReaderOptions o;
  o.ready_timeout = std::chrono::milliseconds(1);
  {
    shmframe::Reader r(name, o);
    std::uint64_t sum = 0;
    try {
      r.attach(std::chrono::milliseconds(0));
    } catch (const shmframe::Error&) {
    }
    for (int i = 0; i < 3; ++i) {
      shmframe::Event e = r.wait(std::chrono::nanoseconds(0));
      sum += fuzz::touch(e.frame);
    }
    sum += fuzz::touch(r.latest());
    sum += fuzz::touch(r.read(1));
    try {
      const auto st = shmframe::inspect(name);
      sum += st.consumers.size();
    } catch (const shmframe::Error&) {
    }
    if (sum == 42) std::fprintf(stderr, " ");  // keep `sum` alive
  }
  fuzz::remove_stream(name);
  return 0;
}
