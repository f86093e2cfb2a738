// Held-frame stress: readers hold several frames at once (a deque, oldest released first, some
// on a second thread while the reader goes on waiting), against a producer committing flat out
// into 4 slots. Every held frame is checked when taken and again when released: pixels intact
// and still_valid(). No torn frame may ever be accepted.
//
// How many holds the producer can honour (PROTOCOL.md, "Commit" and "Holding frames"): it
// writes any slot nobody holds (the newest frame's slot last), so with S slots and at most
// S - 1 slots held in all, a free slot always exists and no held frame is ever overwritten.
// With every slot held it overwrites the oldest (forced_overwrites) rather than wait, and only
// then may a held frame go invalid. The two tests check both sides:
//   - one reader holding up to hold_limit() (3) frames in 4 slots: nothing held is ever
//     overwritten;
//   - two readers holding up to hold_limit() each: slots run out (asserted), and every held
//     frame that went invalid is accounted for by a forced overwrite.
// Scale: stress_common.hpp (SHMFRAME_STRESS_FRAMES, SHMFRAME_STRESS_SECONDS).
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "stress_common.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
using testkit::StreamGuard;

namespace {

constexpr std::uint32_t kSlots = 4;
constexpr std::uint64_t kWorkNs = 20'000;  // per frame, while two frames are held

// What one reader saw. Guarded by the Checker's mutex.
struct Tally {
  std::uint64_t frames = 0;                 // frames taken
  std::uint64_t accepted = 0;               // released valid with intact pixels
  std::uint64_t torn = 0;                   // valid but wrong pixels: must stay 0
  std::uint64_t unheld = 0;                 // handed out unheld (over the hold limit)
  std::uint64_t transient = 0;              // looked invalid once, then valid again (a writing mark restored)
  std::uint64_t outlived = 0;               // held while at least kSlots newer frames were taken
  std::uint64_t by_thread = 0;              // released on the second thread
  std::vector<std::uint64_t> invalid_held;  // seqs of held frames found overwritten
  std::uint64_t invalid_unheld = 0;
};

// Checks a frame: pixels, then the sequence word. A frame that looks overwritten is looked at
// again for a short bounded while: the producer marks a candidate, then restores the word if
// it finds a hold set meanwhile (no pixel touched), and a check can fall in between. A real
// overwrite never reads as committed(seq) again (seq only grows).
enum class Verdict { accepted, torn, overwritten };
Verdict verdict(const Frame& f, bool* transient) {
  const bool ok = testkit::check_pattern(f.data(), f.format().frame_bytes(), f.seq());
  bool valid = f.still_valid();
  if (!valid) {
    const std::uint64_t until = shmframe::monotonic_ns() + 200'000;
    while (!valid && shmframe::monotonic_ns() < until) valid = f.still_valid();
    *transient = valid;
  }
  if (!valid) return Verdict::overwritten;
  return ok ? Verdict::accepted : Verdict::torn;
}

// One reader process: holds up to `hold` frames at once (its deque plus those handed to the
// releasing thread), releasing the oldest first. It works on each new frame together with the
// previous one for kWorkNs, so that the producer commits many frames while both are held.
class Checker {
 public:
  Checker(const std::string& name, std::uint32_t hold) : reader_(name), hold_(hold) {}

  int run(const LinePipe& out, const LinePipe& attached) {
    std::thread releaser([this] { release_loop(); });
    std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()));
    std::deque<Frame> mine;
    int rc = 0;
    for (;;) {
      {
        // Room for one more frame: mine + in flight < hold (bounded: the releaser is quick).
        std::unique_lock lk(mu_);
        if (!cv_.wait_for(lk, 10s, [&] { return mine.size() + in_flight_ < limit(); })) {
          rc = 32;
          break;
        }
      }
      Event e = reader_.wait(10s);
      if (e.kind == EventKind::closed) break;
      if (e.kind == EventKind::timeout || e.kind == EventKind::error) {
        rc = 30;
        break;
      }
      if (e.kind == EventKind::attached) {
        if (hold_ == 0) hold_ = reader_.hold_limit();
        attached.send(Record("attached").set("hold", hold_).set("hold_limit", reader_.hold_limit()));
      }
      if (e.kind != EventKind::frame) continue;
      newest_.store(e.frame.seq(), std::memory_order_relaxed);
      check(e.frame, false, /*at_release=*/false);
      {
        std::lock_guard lk(mu_);
        ++tally_.frames;
        if (!e.frame.held()) ++tally_.unheld;
      }
      mine.push_back(std::move(e.frame));
      if (mine.size() >= 2) {
        // Work on the newest two frames together, as a temporal filter would: the producer
        // commits a few dozen frames meanwhile and has to write around both.
        const std::uint64_t until = shmframe::monotonic_ns() + kWorkNs;
        while (shmframe::monotonic_ns() < until) {
        }
      }
      // Keep at most two in hand; the oldest goes (here or to the releasing thread), so that
      // with a limit of 3 the other thread releases while this one waits.
      if (mine.size() >= std::min<std::uint32_t>(limit(), 2)) {
        Frame oldest = std::move(mine.front());
        mine.pop_front();
        if (rng() % 2 == 0) {
          std::lock_guard lk(mu_);
          ++in_flight_;
          queue_.push_back(std::move(oldest));
          cv_.notify_all();
        } else {
          check(oldest, false, true);
        }
      }
    }
    while (!mine.empty()) {
      check(mine.front(), false, true);
      mine.pop_front();
    }
    {
      std::lock_guard lk(mu_);
      done_ = true;
      cv_.notify_all();
    }
    releaser.join();
    report(out);
    return rc;
  }

 private:
  std::uint32_t limit() const { return hold_ == 0 ? 1 : hold_; }

  // Checks a frame and, at release, releases it (Frame::release or destruction).
  void check(Frame& f, bool on_thread, bool at_release) {
    bool transient = false;
    const Verdict v = verdict(f, &transient);
    const std::uint64_t age = newest_.load(std::memory_order_relaxed) - f.seq();
    const bool held = f.held();
    const std::uint64_t seq = f.seq();
    if (at_release) {
      if (seq % 2 == 0) {
        f.release();
      } else {
        Frame gone = std::move(f);  // destroyed here
      }
    }
    std::lock_guard lk(mu_);
    if (transient) ++tally_.transient;
    if (v == Verdict::torn) ++tally_.torn;
    if (!at_release) return;  // counted once, at release (a torn frame counts both times)
    if (on_thread) ++tally_.by_thread;
    if (v == Verdict::accepted) {
      ++tally_.accepted;
      if (held && age >= kSlots) ++tally_.outlived;
    } else if (v == Verdict::overwritten) {
      if (held) tally_.invalid_held.push_back(seq);
      else ++tally_.invalid_unheld;
    }
  }

  void release_loop() {
    for (;;) {
      Frame f;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !queue_.empty() || done_; });
        if (queue_.empty()) return;
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      check(f, true, true);
      std::lock_guard lk(mu_);
      --in_flight_;
      cv_.notify_all();
    }
  }

  // kind=held frames=... accepted=... torn=... unheld=... transient=... outlived=... by_thread=...
  //   invalid_held=N invalid_unheld=U, then the seqs in chunks: kind=invalid seqs=a,b,c
  void report(const LinePipe& out) {
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < tally_.invalid_held.size(); i += 300) {
      std::string seqs;
      for (std::size_t k = i; k < std::min(i + 300, tally_.invalid_held.size()); ++k) {
        if (!seqs.empty()) seqs += ',';
        seqs += std::to_string(tally_.invalid_held[k]);
      }
      out.send(Record("invalid").set("seqs", seqs));
    }
    out.send(Record("held")
                 .set("frames", tally_.frames)
                 .set("accepted", tally_.accepted)
                 .set("torn", tally_.torn)
                 .set("unheld", tally_.unheld)
                 .set("transient", tally_.transient)
                 .set("outlived", tally_.outlived)
                 .set("by_thread", tally_.by_thread)
                 .set("invalid_held", tally_.invalid_held.size())
                 .set("invalid_unheld", tally_.invalid_unheld)
                 .set("overruns", reader_.stats().overruns));
  }

  Reader reader_;
  std::uint32_t hold_;  // 0 until attached when it means hold_limit()
  std::atomic<std::uint64_t> newest_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> queue_;
  std::uint32_t in_flight_ = 0;
  bool done_ = false;
  Tally tally_;
};

struct Outcome {
  Record producer;
  std::vector<Record> readers;
  std::set<std::uint64_t> invalid_held;  // distinct seqs over all readers
  std::uint64_t sum(const char* field) const {
    std::uint64_t s = 0;
    for (const auto& r : readers) s += r.get_u64(field);
    return s;
  }
};

// Runs a producer and `readers` Checkers holding `hold` frames each (0 = hold_limit()).
Outcome run(const std::string& tag, int readers, std::uint32_t hold, stress::Budget b) {
  Outcome res;
  StreamGuard g(tag);
  LinePipe events, out, go, ap;
  WriterOptions o = children::options(kSlots);
  Child writer([&] { return stress::produce_flat_out(g.name(), o, b, events, go); });
  if (!events.recv_kind("ready", 10s)) {
    ADD_FAILURE() << "producer not ready";
    return res;
  }
  std::vector<std::unique_ptr<Child>> kids;
  for (int i = 0; i < readers; ++i) {
    kids.push_back(std::make_unique<Child>([&] { return Checker(g.name(), hold).run(out, ap); }));
  }
  for (int i = 0; i < readers; ++i) {
    auto a = ap.recv_kind("attached", 10s);
    if (!a) {
      ADD_FAILURE() << "reader " << i << " did not attach";
      return res;
    }
    EXPECT_EQ(a->get_u64("hold_limit"), kSlots - 1);
  }
  go.send(Record("go"));
  // Read the readers' reports as they come (they may exceed the pipe's buffer), bounded.
  const auto deadline = std::chrono::steady_clock::now() + b.deadline();
  while (static_cast<int>(res.readers.size()) < readers) {
    auto r = out.recv_record(testkit::left_until(deadline));
    if (!r) {
      ADD_FAILURE() << "only " << res.readers.size() << " of " << readers << " readers reported";
      return res;
    }
    if (r->kind() == "invalid") {
      for (std::uint64_t s : r->get_list("seqs")) res.invalid_held.insert(s);
    } else {
      res.readers.push_back(*r);
    }
  }
  auto p = events.recv_kind("producer", 30s);
  if (!p) {
    ADD_FAILURE() << "the producer did not report";
    return res;
  }
  res.producer = *p;
  EXPECT_EQ(writer.exit_code(60s), 0);
  for (auto& k : kids) EXPECT_EQ(k->exit_code(60s), 0);
  for (const auto& r : res.readers) std::printf("%s: reader %s\n", tag.c_str(), r.str().c_str());
  std::printf("%s: %s, %zu distinct held frames overwritten\n", tag.c_str(), res.producer.str().c_str(),
              res.invalid_held.size());
  ::testing::Test::RecordProperty("producer", res.producer.str());
  return res;
}

}  // namespace

// One reader holding up to hold_limit() (kSlots - 1) frames: the producer always has a free slot.
TEST(HoldStress, WithASpareSlotNoHeldFrameIsEverOverwritten) {
  const Outcome res = run("hold-spare", 1, 0, stress::budget("SHMFRAME_STRESS_FRAMES", 50'000, 1.0));
  ASSERT_EQ(res.readers.size(), 1u);
  EXPECT_EQ(res.sum("torn"), 0u) << "torn frames accepted";
  EXPECT_EQ(res.producer.get_u64("forced_overwrites"), 0u)
      << "the producer overwrote a held slot although one was free";
  EXPECT_EQ(res.sum("invalid_held"), 0u) << "a held frame was overwritten although a slot was free";
  EXPECT_EQ(res.sum("unheld"), 0u);
  // The precondition: frames really were held while the producer wrote around them.
  EXPECT_EQ(res.producer.get_u64("max_held"), kSlots - 1) << "the reader never held 3 slots while the producer ran";
  EXPECT_GT(res.sum("outlived"), 0u) << "no held frame outlived a full round of the slots: holds were never tested";
  EXPECT_GT(res.sum("by_thread"), 0u);
  EXPECT_GT(res.sum("accepted"), 0u);
  ::testing::Test::RecordProperty("transient_marks", std::to_string(res.sum("transient")));
}

// Two readers holding up to hold_limit() (3) each in 4 slots: every candidate is often held.
TEST(HoldStress, WhenSlotsRunOutOnlyForcedOverwritesInvalidateHeldFrames) {
  const Outcome res = run("hold-contended", 2, 0, stress::budget("SHMFRAME_STRESS_FRAMES", 50'000, 1.0));
  ASSERT_EQ(res.readers.size(), 2u);
  const std::uint64_t forced = res.producer.get_u64("forced_overwrites");
  EXPECT_EQ(res.sum("torn"), 0u) << "torn frames accepted";
  // The precondition: slots ran out, and the readers saw held frames overwritten.
  EXPECT_GT(forced, 0u) << "every held frame had a spare slot: no contention";
  EXPECT_GT(res.invalid_held.size(), 0u) << "no reader ever found a held frame overwritten";
  EXPECT_GE(res.producer.get_u64("max_held"), kSlots - 1);  // summed over readers (one slot may count twice)
  // Each forced overwrite destroys one frame: no more distinct held frames went invalid.
  EXPECT_LE(res.invalid_held.size(), forced) << "held frames were overwritten without a forced overwrite";
  EXPECT_GT(res.sum("by_thread"), 0u);
  EXPECT_GT(res.sum("accepted"), 0u);
  ::testing::Test::RecordProperty("transient_marks", std::to_string(res.sum("transient")));
}
