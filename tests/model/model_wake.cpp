// Model "wake" (Relacy): a late joiner claims a consumer entry and goes to sleep while the
// producer commits and wakes. Property: the consumer never sleeps with a commit it has not seen
// and no wake-up on its way. Mirrors consumer_table.cpp (claim, claimed()), slot_protocol.cpp
// (commit_slot, latest_seq) and notifier.cpp (bump_and_wake, wait_for_commit); the futex is
// modelled as the kernel does it: a full barrier, then a compare of the word, then sleep.
// kFixed = false: the first load of last_committed_seq after the claim was acquire only, so on
// weak memory (ARMv8.3+ RCpc loads) it could be satisfied before the claim was visible to the
// producer. Fixed: that load is seq_cst (latest_seq()), and claim ends with a seq_cst fence
// (not modelled: Relacy under-approximates fences, see below; the seq_cst load alone suffices).
#include "model_common.hpp"

namespace {

template <bool kFixed>
struct Wake : rl::test_suite<Wake<kFixed>, 2> {
  rl::atomic<int> owner_pid;
  rl::atomic<unsigned> last_committed, wake, waiting, wake_called;
  bool asleep = false, saw_frame = false;

  void before() {
    owner_pid($).store(0, rl::mo_relaxed);
    last_committed($).store(0, rl::mo_relaxed);
    wake($).store(0, rl::mo_relaxed);
    waiting($).store(0, rl::mo_relaxed);
    wake_called($).store(0, rl::mo_relaxed);
  }
  void thread(unsigned index) {
    if (index == 0) {  // producer: commit frame 1, then wake claimed entries
      last_committed($).store(1, rl::mo_seq_cst);
      if (owner_pid($).load(rl::mo_seq_cst) == 0) return;  // claimed(): skip a free entry
      wake($).fetch_add(1, rl::mo_seq_cst);
      if (waiting($).load(rl::mo_seq_cst) != 0) wake_called($).store(1, rl::mo_relaxed);  // FUTEX_WAKE
    } else {  // consumer: claim, then the first turn of wait()
      int expected = 0;
      owner_pid($).compare_exchange_strong(expected, 5, rl::mo_seq_cst);
      const unsigned ticket = wake($).load(rl::mo_acquire);
      if (last_committed($).load(kFixed ? rl::mo_seq_cst : rl::mo_acquire) != 0) {
        saw_frame = true;
        return;
      }
      waiting($).store(1, rl::mo_seq_cst);
      // FUTEX_WAIT: the kernel takes the bucket lock (a full barrier) and compares the word.
      // Modelled as a seq_cst load: Relacy (Debian's 2019 snapshot) does not give a seq_cst fence
      // its full C++ meaning against a later relaxed load, so a fence + relaxed load would report
      // a bug the real kernel cannot have.
      if (wake($).load(rl::mo_seq_cst) == ticket) asleep = true;
    }
  }
  void after() {
    // A sleeping consumer must have a FUTEX_WAKE coming (the producer saw it waiting).
    RL_ASSERT(!asleep || wake_called($).load(rl::mo_relaxed) != 0);
  }
};

}  // namespace

int main() { return model::expect("wake", rl_simulate<Wake<true>>(), rl_simulate<Wake<false>>()); }
