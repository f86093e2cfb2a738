// shmframe/detail/signal_router.hpp: SIGINT and SIGTERM turned into Reader::interrupt().
//
// A thread blocked in a futex sees a signal only if it interrupted that very system call
// (EINTR); one that lands a moment before the wait (between two instructions) is noticed only
// when the wait ends, which may be never. While a SignalScope lives, SIGINT and SIGTERM interrupt
// its Reader (async-signal-safe), so the wait returns `interrupted` whenever the signal came.
//
// Two uses, one handler:
// - run() (RunOptions::handle_signals) takes the signals over: the previous handlers do not run
//   (a Ctrl-C stops the run instead of killing the process), and fired() says one came.
// - A language binding whose runtime has its own handler (CPython's only sets a flag checked
//   between bytecodes) chains: the previous handler runs first, then the Reader is interrupted.
//   The previous handler runs whenever at least one chaining scope lives.
// The handler is installed when the first scope starts and the previous ones restored when the
// last ends, however many scopes on however many threads. Internal.
#pragma once

#include <cstdint>

namespace shmframe {
class Reader;
class SyncReader;
}

namespace shmframe::detail {

class SignalScope {
 public:
  // `on` false: a no-op scope. `chain`: run the previous handler first (see above).
  SignalScope(bool on, Reader& reader, bool chain = false);
  SignalScope(bool on, SyncReader& reader, bool chain = false);
  ~SignalScope();
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
  // True once SIGINT or SIGTERM came after this scope started.
  bool fired() const noexcept;

  // What a signal interrupts: `fn(obj)`, async-signal-safe. Registered by address while the
  // scope lives.
  struct Target {
    void* obj;
    void (*fn)(void*) noexcept;
  };

 private:
  Target target_;
  bool on_;
  bool chain_;
  std::uint64_t seen_ = 0;
};

}  // namespace shmframe::detail
