// A plugin for the tests: passes frames through to the output (a pipeline stage), and fails in
// the ways a plugin can, on request.
//   --plugin-arg pass=true        publish each input frame unchanged on --output
//   --plugin-arg throw_every=N    throw from every N-th on_frame
//   --plugin-arg fail_create=true refuse to be created
//   --plugin-arg print=true       a JSON line per frame on stdout: seq, origin_seq, hops
//   --plugin-arg stall_every=N --plugin-arg stall_ms=M   work M ms on every N-th frame
#include <chrono>
#include <cstdio>
#include <cstring>
#include <shmframe/plugin.hpp>
#include <stdexcept>
#include <thread>

namespace {

class TestPlugin final : public shmframe::Processor {
 public:
  explicit TestPlugin(shmframe::PluginArgs& args)
      : pass_(args.flag("pass", false)), print_(args.flag("print", false)),
        throw_every_(static_cast<long>(args.number("throw_every", 0))),
        stall_every_(static_cast<long>(args.number("stall_every", 0))),
        stall_ms_(static_cast<long>(args.number("stall_ms", 0))) {
    if (args.flag("fail_create", false)) throw std::runtime_error("asked to fail (fail_create=true)");
  }
  bool on_frame(const shmframe::Input& in, shmframe::Output& out) override {
    ++calls_;
    if (throw_every_ > 0 && calls_ % throw_every_ == 0) {
      throw std::runtime_error("test plugin throws on call " + std::to_string(calls_));
    }
    if (print_) {
      std::printf("{\"seq\":%llu,\"origin_seq\":%llu,\"hops\":%u}\n", static_cast<unsigned long long>(in.seq()),
                  static_cast<unsigned long long>(in.origin().seq), in.origin().hops);
      std::fflush(stdout);
    }
    // The processing time of a heavier stage (simulated work, not synchronization).
    if (stall_every_ > 0 && calls_ % stall_every_ == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms_));
    if (pass_ && out.enabled()) {
      const shmframe::OutputBuffer b = out.acquire(in.format());
      if (!b) return false;
      for (std::uint32_t y = 0; y < in.height(); ++y) std::memcpy(b.row(y), in.row(y), in.format().row_bytes());
      if (!in.still_valid()) return false;  // copied a frame being overwritten: drop it
      return out.commit(in.metadata());
    }
    return true;
  }

 private:
  bool pass_;
  bool print_;
  long throw_every_;
  long stall_every_;
  long stall_ms_;
  long calls_ = 0;
};

}  // namespace

SHMFRAME_PLUGIN(TestPlugin, "test", "pass-through and failure injection for the tests")
