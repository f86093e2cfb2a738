// SIGINT / SIGTERM -> Reader::interrupt() (detail/signal_router.hpp).
#include "shmframe/detail/signal_router.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "shmframe/reader.hpp"
#include "shmframe/sync_reader.hpp"

namespace shmframe::detail {

namespace {

class Router {
 public:
  static Router& instance() {
    static Router r;  // never destroyed before a scope that uses it ends
    return r;
  }

  // Registers `reader` (false when every place is taken: then it sees signals only through
  // EINTR); `seen` is the signal count now.
  using Target = SignalScope::Target;
  bool enter(const Target* reader, bool chain, std::uint64_t& seen) {
    std::lock_guard lock(mu_);
    if (users_++ == 0) install();
    (chain ? chainers_ : takers_).fetch_add(1, std::memory_order_seq_cst);
    seen = signals_.load(std::memory_order_seq_cst);
    for (auto& r : readers_) {
      const Target* none = nullptr;
      if (r.compare_exchange_strong(none, reader, std::memory_order_seq_cst)) return true;
    }
    return false;
  }
  void leave(const Target* reader, bool chain) {
    for (auto& r : readers_) {
      const Target* mine = reader;
      (void)r.compare_exchange_strong(mine, nullptr, std::memory_order_seq_cst);
    }
    // A handler running on another thread may still hold the pointer it loaded: wait for it
    // (a few instructions and one system call) before the Reader may go away.
    while (in_handler_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    std::lock_guard lock(mu_);
    (chain ? chainers_ : takers_).fetch_sub(1, std::memory_order_seq_cst);
    if (--users_ == 0) restore();
  }
  std::uint64_t signals() const noexcept { return signals_.load(std::memory_order_seq_cst); }

 private:
  static void on_signal(int sig, siginfo_t* info, void* ctx) {
    Router& r = instance();
    r.in_handler_.fetch_add(1, std::memory_order_seq_cst);
    r.signals_.fetch_add(1, std::memory_order_seq_cst);
    if (r.chainers_.load(std::memory_order_seq_cst) != 0) r.chain(sig, info, ctx, r.takers_.load() == 0);
    for (auto& slot : r.readers_) {
      if (const Target* t = slot.load(std::memory_order_seq_cst)) t->fn(t->obj);  // interrupt(): async-signal-safe
    }
    r.in_handler_.fetch_sub(1, std::memory_order_seq_cst);
  }
  // The handler that was installed before ours, as it was installed. The default action
  // (terminate) is carried out too, unless a run() took the signals over (`allow_default`
  // false): a SIGTERM must still end a process whose runtime never handled it.
  void chain(int sig, siginfo_t* info, void* ctx, bool allow_default) const noexcept {
    const struct sigaction& old = sig == SIGINT ? old_int_ : old_term_;
    if ((old.sa_flags & SA_SIGINFO) != 0) {
      if (old.sa_sigaction != nullptr) old.sa_sigaction(sig, info, ctx);
    } else if (old.sa_handler == SIG_DFL) {
      if (allow_default) {
        (void)sigaction(sig, &old, nullptr);  // async-signal-safe, as is raise()
        (void)raise(sig);
      }
    } else if (old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
      old.sa_handler(sig);
    }
  }
  void install() {
    struct sigaction sa {};
    sa.sa_sigaction = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: a wait in progress returns EINTR at once
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  void restore() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

  static constexpr std::size_t kReaders = 64;
  std::mutex mu_;
  int users_ = 0;  // under mu_
  // Written under mu_ before the handler that reads them is installed, restored after it is gone.
  struct sigaction old_int_ {
  }, old_term_{};
  std::array<std::atomic<const Target*>, kReaders> readers_{};
  std::atomic<std::uint64_t> signals_{0};
  std::atomic<int> in_handler_{0};
  std::atomic<int> chainers_{0};  // scopes that chain to the previous handlers
  std::atomic<int> takers_{0};    // scopes that take the signals over (run())
  static_assert(std::atomic<const Target*>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free &&
                std::atomic<int>::is_always_lock_free);
};

}  // namespace

SignalScope::SignalScope(bool on, Reader& reader, bool chain)
    : target_{&reader, [](void* r) noexcept { static_cast<Reader*>(r)->interrupt(); }}, on_(on), chain_(chain) {
  if (on_) Router::instance().enter(&target_, chain_, seen_);
}

SignalScope::SignalScope(bool on, SyncReader& reader, bool chain)
    : target_{&reader, [](void* r) noexcept { static_cast<SyncReader*>(r)->interrupt(); }}, on_(on), chain_(chain) {
  if (on_) Router::instance().enter(&target_, chain_, seen_);
}

SignalScope::~SignalScope() {
  if (on_) Router::instance().leave(&target_, chain_);
}

bool SignalScope::fired() const noexcept { return on_ && Router::instance().signals() != seen_; }

}  // namespace shmframe::detail
