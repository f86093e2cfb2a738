// The SIGBUS guard (detail/sigbus.hpp). Everything the handler touches is a lock-free atomic in
// static storage, and it makes one system call (mmap), like libwayland-server's
// wl_shm_buffer_begin_access does for the same problem.
#include "shmframe/detail/sigbus.hpp"

#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace shmframe::detail::sigbus {

namespace {

constexpr int kSlots = 1024;  // mappings watched at once (a Reader or Writer has one or two)

struct Slot {
  std::atomic<void*> base{nullptr};  // nullptr = free, &g_reserved = being filled
  std::atomic<std::size_t> size{0};
  std::atomic<bool> broken{false};
};
Slot g_slots[kSlots];
char g_reserved;  // its address marks a slot being filled
static_assert(std::atomic<void*>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);
static_assert(std::atomic<std::size_t>::is_always_lock_free);

struct sigaction g_previous = {};

// Another SIGBUS than ours: what the application (or the default) wants. A synchronous fault
// returns to the faulting instruction, so "default" means: restore it and let the fault recur.
void chain(int sig, siginfo_t* info, void* context) noexcept {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN && g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
}

void on_sigbus(int sig, siginfo_t* info, void* context) noexcept {
  const auto addr = reinterpret_cast<std::uintptr_t>(info != nullptr ? info->si_addr : nullptr);
  for (Slot& s : g_slots) {
    // SYNC(sigbus_slot) acquire load: pairs with the release store of base in watch(); the size
    // read next is then the mapping's.
    void* const base = s.base.load(std::memory_order_acquire);
    if (base == nullptr || base == &g_reserved) continue;
    const std::size_t size = s.size.load(std::memory_order_relaxed);  // relaxed: ordered by the load above
    const auto start = reinterpret_cast<std::uintptr_t>(base);
    if (addr < start || addr - start >= size) continue;
    // Zero pages where the truncated object was: the faulting access and every later one read
    // zeros (no committed frame, no READY state) and writes go nowhere.
    void* p = mmap(base, size, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) break;  // cannot help: let the application's handler or the default act
    // SYNC(sigbus_broken) release store: the zero pages are in place before anyone acts on the
    // flag; pairs with the acquire load in broken().
    s.broken.store(true, std::memory_order_release);
    return;
  }
  chain(sig, info, context);
}

// (Re-)installs the handler unless it is in place: an application (or a forked child's code)
// may have installed its own since our last mapping; that one becomes the one we chain to.
void install() noexcept {
  static std::mutex mu;
  std::lock_guard lk(mu);
  struct sigaction current = {};
  if (sigaction(SIGBUS, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_sigbus) return;
  struct sigaction sa = {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_previous);
}

}  // namespace

int watch(void* base, std::size_t size) noexcept {
  install();
  for (int i = 0; i < kSlots; ++i) {
    void* expected = nullptr;
    if (!g_slots[i].base.compare_exchange_strong(expected, &g_reserved, std::memory_order_acquire)) continue;
    // relaxed: published by the release store of base below.
    g_slots[i].size.store(size, std::memory_order_relaxed);
    g_slots[i].broken.store(false, std::memory_order_relaxed);
    // SYNC(sigbus_slot) release store: the size before the handler can match the base.
    g_slots[i].base.store(base, std::memory_order_release);
    return i;
  }
  return -1;
}

void unwatch(int handle) noexcept {
  if (handle < 0 || handle >= kSlots) return;
  // release: nothing to publish; the handler stops matching this range (munmap follows).
  g_slots[handle].base.store(nullptr, std::memory_order_release);
}

bool broken(int handle) noexcept {
  // SYNC(sigbus_broken) acquire load: pairs with the handler's release store.
  return handle >= 0 && handle < kSlots && g_slots[handle].broken.load(std::memory_order_acquire);
}

}  // namespace shmframe::detail::sigbus
