// Model "reap" (Relacy, the C++ memory model): a consumer takes over a dead owner's consumer
// entry while the producer's reaper runs. Property: a live owner is never reaped.
// Mirrors shmframe/src/consumer_table.cpp (claim's take-over path, reap, owner_dead).
// kFixed = false models the take-over before ABI 2 (CAS dead pid -> new pid, then fields).
#include "model_common.hpp"

namespace {

constexpr int kDead = 7;  // the dead owner's pid, start ticks 70
constexpr int kNew = 9;   // the new owner: alive, start ticks 90
constexpr int kReaping = -1;

// Liveness as the OS would report it: pid 9 with its own ticks (or ticks unknown) is alive.
bool process_alive(int pid, unsigned ticks) { return pid == kNew && (ticks == 0 || ticks == 90); }

template <bool kFixed>
struct Reap : rl::test_suite<Reap<kFixed>, 2> {
  rl::atomic<int> owner_pid;
  rl::atomic<unsigned> active, ticks, heartbeat_stale;  // heartbeat_stale: 1 = older than 3 beats
  bool reaped_live = false;

  void before() {
    owner_pid($).store(kDead, rl::mo_relaxed);
    active($).store(1, rl::mo_relaxed);
    ticks($).store(70, rl::mo_relaxed);
    heartbeat_stale($).store(1, rl::mo_relaxed);
  }
  bool owner_dead(int pid) {
    const bool act = active($).load(rl::mo_acquire) != 0;
    const unsigned t = act ? ticks($).load(rl::mo_relaxed) : 0;
    if (process_alive(pid, t)) return false;
    return heartbeat_stale($).load(rl::mo_relaxed) != 0;
  }
  void thread(unsigned index) {
    if (index == 0) {  // the new consumer: the table is full, entry 0's owner is dead
      int owner = owner_pid($).load(rl::mo_acquire);
      if (owner <= 0 || !owner_dead(owner)) return;
      if (kFixed) {
        if (!owner_pid($).compare_exchange_strong(owner, kReaping, rl::mo_acq_rel)) return;
        active($).store(0, rl::mo_relaxed);
        ticks($).store(90, rl::mo_relaxed);
        heartbeat_stale($).store(0, rl::mo_relaxed);
        owner_pid($).store(kNew, rl::mo_seq_cst);
        active($).store(1, rl::mo_release);
      } else {
        if (!owner_pid($).compare_exchange_strong(owner, kNew, rl::mo_seq_cst)) return;
        ticks($).store(90, rl::mo_relaxed);
        heartbeat_stale($).store(0, rl::mo_relaxed);
        active($).store(1, rl::mo_release);
      }
    } else {  // the producer's reaper, one pass over entry 0
      const int pid = owner_pid($).load(rl::mo_acquire);
      if (pid <= 0 || !owner_dead(pid)) return;
      int expected = pid;
      if (!owner_pid($).compare_exchange_strong(expected, kReaping, rl::mo_acq_rel)) return;
      if (pid == kNew) reaped_live = true;
      owner_pid($).store(0, rl::mo_release);
    }
  }
  void after() { RL_ASSERT(!reaped_live); }
};

}  // namespace

int main() { return model::expect("reap", rl_simulate<Reap<true>>(), rl_simulate<Reap<false>>()); }
