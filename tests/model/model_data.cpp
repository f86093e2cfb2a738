// Model "data" (Relacy): the slot protocol with one producer and one consumer on two slots.
// The producer commits frames 2 and 3 (frame 1 is in slot 0 at the start): pick a slot from a
// snapshot of the held set (never the newest frame's slot first), mark it (2*seq+1), re-check
// the held set, restore and retry or go on (forced when every slot is held), write the pixel
// word and the timestamp, commit (2*seq, release), publish last_committed_seq. The consumer
// takes the newest frame: hold its slot, re-check, read timestamp and pixels, validate
// (still_valid: acquire fence, then the sequence word), release.
// Properties: a frame that validates has exactly its own pixels and timestamp; a frame that
// was held while the producer never forced an overwrite has its own pixels and timestamp.
// Mirrors shmframe/src/slot_protocol.cpp (mark_for_write, commit_slot, take, still_valid).
// The mutation run (kFixed = false) stores the writing mark with release instead of seq_cst:
// the hold handshake is then a store-buffering race and a held frame gets overwritten, which
// shows the model sees the Dekker pair it exists for. (The ABI 1 order, reading the timestamps
// before the hold, passes this model: the mark precedes the producer's hold scan, so a reader
// whose re-check still sees the committed word read the frame's own timestamps.)
#include "model_common.hpp"

namespace {

template <bool kFixed>
struct Data : rl::test_suite<Data<kFixed>, 2> {
  rl::atomic<unsigned> state[2], pixel[2], capture[2], last_committed, held;
  bool forced = false;
  unsigned taken = 0, read_pixel = 0, read_capture = 0;
  bool was_held = false, valid = false;

  void before() {
    for (int i = 0; i < 2; ++i) {
      state[i]($).store(i == 0 ? 2u : 0u, rl::mo_relaxed);
      pixel[i]($).store(i == 0 ? 1u : 0u, rl::mo_relaxed);
      capture[i]($).store(i == 0 ? 1u : 0u, rl::mo_relaxed);
    }
    last_committed($).store(1, rl::mo_relaxed);
    held($).store(0, rl::mo_relaxed);
  }

  void commit(unsigned seq, unsigned& newest) {
    const unsigned other = 1 - newest;
    const unsigned order[2] = {other, newest};  // oldest (non-newest) first, the newest last
    int slot = -1;
    const unsigned h = held($).load(rl::mo_seq_cst);
    for (unsigned s : order) {
      if ((h & (1u << s)) != 0) continue;
      const unsigned old = state[s]($).load(rl::mo_relaxed);
      state[s]($).store(2 * seq + 1, kFixed ? rl::mo_seq_cst : rl::mo_release);
      if ((held($).load(rl::mo_seq_cst) & (1u << s)) == 0) {
        slot = static_cast<int>(s);
        break;
      }
      state[s]($).store(old, rl::mo_seq_cst);  // taken meanwhile: restore
      break;                                   // (one round in the model)
    }
    if (slot < 0) {  // forced: the oldest
      slot = static_cast<int>(other);
      forced = true;
      state[slot]($).store(2 * seq + 1, rl::mo_seq_cst);
    }
    rl::atomic_thread_fence(rl::mo_release, $);  // SYNC(seqlock) release fence
    pixel[slot]($).store(seq, rl::mo_relaxed);
    capture[slot]($).store(seq, rl::mo_relaxed);
    state[slot]($).store(2 * seq, rl::mo_release);  // SYNC(slot_state)
    last_committed($).store(seq, rl::mo_seq_cst);
    newest = static_cast<unsigned>(slot);
  }

  void thread(unsigned index) {
    if (index == 0) {
      unsigned newest = 0;
      commit(2, newest);
      commit(3, newest);
      return;
    }
    const unsigned seq = last_committed($).load(rl::mo_seq_cst);
    for (unsigned s = 0; s < 2; ++s) {
      if (state[s]($).load(rl::mo_acquire) != 2 * seq) continue;
      held($).fetch_or(1u << s, rl::mo_seq_cst);          // SYNC(hold)
      if (state[s]($).load(rl::mo_seq_cst) != 2 * seq) {  // re-check
        held($).fetch_and(~(1u << s), rl::mo_release);
        return;
      }
      taken = seq;
      was_held = true;
      read_capture = capture[s]($).load(rl::mo_relaxed);
      read_pixel = pixel[s]($).load(rl::mo_relaxed);
      rl::atomic_thread_fence(rl::mo_acquire, $);           // SYNC(seqlock) acquire fence
      valid = state[s]($).load(rl::mo_relaxed) == 2 * seq;  // still_valid()
      held($).fetch_and(~(1u << s), rl::mo_release);
      return;
    }
  }

  void after() {
    if (taken != 0 && valid) {
      RL_ASSERT(read_pixel == taken);
      RL_ASSERT(read_capture == taken);
    }
    // Held and never forced: nothing overwrote the frame while it was held, so what was read is
    // the frame's own, valid or not (a writing mark the producer then restores can make
    // still_valid() say false for a frame that was never touched: the safe direction).
    if (taken != 0 && was_held && !forced) {
      RL_ASSERT(read_pixel == taken);
      RL_ASSERT(read_capture == taken);
    }
  }
};

}  // namespace

int main() {
  return model::expect("data", rl_simulate<Data<true>>(), rl_simulate<Data<false>>(),
                       "the writing mark as a release store (a mutation)");
}
