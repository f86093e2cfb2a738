// Torn-read stress: a producer commits frames whose every 8-byte word encodes their seq, flat
// out, into 2 slots; zero-copy and copy-out consumers check every frame they accept. A frame
// that validates (still_valid / copy_latest) but whose pixels are not exactly frame `seq` is a
// torn frame accepted: the test fails on one.
//
// A pass means something only if readers really were overtaken while reading, so the test
// also asserts that contention happened: the producer had to overwrite held slots
// (forced_overwrites), zero-copy readers found frames overwritten under them (still_valid()
// false), some of those had visibly torn pixels that the validation rejected, and (1080p) the
// copy-out reader had to discard and retry copies. The
// zero-copy readers pause at a random point in the middle of each frame to widen that window.
// Scale: stress_common.hpp.
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "stress_common.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
using testkit::StreamGuard;

namespace {

// A pause of random length in the middle of a read: mostly a short spin, sometimes a yield
// (on a machine with few cores that hands the producer the CPU mid-frame).
class MidReadPause {
 public:
  void operator()() {
    const std::uint64_t r = rng_();
    if (r % 8 == 0) {
      std::this_thread::yield();
      return;
    }
    for (std::uint64_t i = 0, n = r % 2048; i < n; ++i) sink_ = sink_ + i;
  }

 private:
  std::mt19937_64 rng_{static_cast<std::uint64_t>(getpid())};
  volatile std::uint64_t sink_ = 0;
};

// Zero-copy consumer: check the frame in place in two halves with a pause between, then
// validate. Reports
//   kind=zc accepted=A torn=T overruns=O caught=C
// overruns: frames overwritten while being read (discarded); caught: those whose pixels were
// visibly torn (the validation is what rejected them); torn: accepted with wrong pixels.
int zero_copy_checker(const std::string& name, const LinePipe& out, const LinePipe& attached) {
  Reader r(name);
  MidReadPause pause;
  std::uint64_t accepted = 0, torn = 0, overruns = 0, caught = 0;
  for (;;) {
    Event e = r.wait(10s);
    if (e.kind == EventKind::closed) break;
    if (e.kind == EventKind::timeout || e.kind == EventKind::error) return 30;
    if (e.kind == EventKind::attached) attached.send(Record("attached"));
    if (e.kind != EventKind::frame) continue;
    const std::size_t n = e.frame.format().frame_bytes();
    const std::size_t half = n / 2 / 8 * 8;
    bool ok = testkit::check_pattern(e.frame.data(), half, e.frame.seq());
    pause();
    ok = testkit::check_pattern(e.frame.data() + half, n - half, e.frame.seq()) && ok;
    if (!e.frame.still_valid()) {
      ++overruns;  // discarded: the producer started overwriting it while we looked
      if (!ok) ++caught;
    } else if (ok) {
      ++accepted;
    } else {
      ++torn;
    }
  }
  out.send(Record("zc").set("accepted", accepted).set("torn", torn).set("overruns", overruns).set("caught", caught));
  return 0;
}

// Copy-out consumer: Reader::copy_latest() validates after copying and retries. Reports
//   kind=copy accepted=A torn=T retries=R
// retries: copies discarded because the frame was overwritten meanwhile (Reader overruns).
int copy_checker(const std::string& name, const LinePipe& out, const LinePipe& attached) {
  Reader r(name);
  std::uint64_t accepted = 0, torn = 0;
  std::vector<std::byte> copy;
  for (;;) {
    Event e = r.wait(10s);
    if (e.kind == EventKind::closed) break;
    if (e.kind == EventKind::timeout || e.kind == EventKind::error) return 31;
    if (e.kind == EventKind::attached) attached.send(Record("attached"));
    if (e.kind != EventKind::frame) continue;
    const FrameFormat f = e.frame.format();
    e.frame.release();
    // Into padded rows, as into a cv::Mat with aligned rows: the copy goes row by row, which
    // keeps it long enough to be lapped under the sanitizers too (a tight one is a single memcpy).
    const std::size_t row = f.row_bytes();
    const std::size_t stride = row + 64;
    copy.resize(stride * std::size_t{f.height});
    std::uint64_t seq = 0;
    if (!r.copy_latest(copy.data(), stride, &seq)) continue;
    bool ok = true;
    for (std::uint32_t y = 0; y < f.height && ok; ++y) ok = testkit::check_pattern(copy.data() + y * stride, row, seq);
    if (ok) ++accepted;
    else ++torn;
  }
  out.send(Record("copy").set("accepted", accepted).set("torn", torn).set("retries", r.stats().overruns));
  return 0;
}

// What one round of the stress observed, summed over its consumers.
struct Observed {
  std::uint64_t frames = 0, ms = 0, accepted = 0, torn = 0, overruns = 0, caught = 0, retries = 0, forced = 0;
  void add(const Observed& o) {
    frames += o.frames;
    ms += o.ms;
    accepted += o.accepted;
    torn += o.torn;
    overruns += o.overruns;
    caught += o.caught;
    retries += o.retries;
    forced += o.forced;
  }
  // The precondition: readers were lapped while reading, and torn pixels were there to catch.
  bool contended(bool copy_must_retry) const {
    return forced > 0 && overruns > 0 && caught > 0 && (!copy_must_retry || retries > 0);
  }
};

// One round: a flat-out producer, two zero-copy checkers and one copy-out checker.
Observed run_round(const std::string& tag, FrameFormat format, stress::Budget b) {
  Observed seen;
  StreamGuard g(tag);
  LinePipe events, out, go, ap;
  WriterOptions o = children::options(2);
  o.format = format;
  Child writer([&] { return stress::produce_flat_out(g.name(), o, b, events, go); });
  if (!events.recv_kind("ready", 10s)) {
    ADD_FAILURE() << "the producer did not start";
    return seen;
  }
  Child z1([&] { return zero_copy_checker(g.name(), out, ap); });
  Child z2([&] { return zero_copy_checker(g.name(), out, ap); });
  Child c1([&] { return copy_checker(g.name(), out, ap); });
  for (int i = 0; i < 3; ++i) {
    if (!ap.recv_kind("attached", 10s)) {
      ADD_FAILURE() << "consumer " << i << " did not attach";
      return seen;
    }
  }
  go.send(Record("go"));
  auto producer = events.recv_kind("producer", b.deadline());
  if (!producer) {
    ADD_FAILURE() << "the producer did not finish";
    return seen;
  }
  EXPECT_EQ(writer.exit_code(60s), 0);
  EXPECT_EQ(z1.exit_code(60s), 0);
  EXPECT_EQ(z2.exit_code(60s), 0);
  EXPECT_EQ(c1.exit_code(60s), 0);
  for (int i = 0; i < 3; ++i) {
    auto r = out.recv_record(5s);
    if (!r) {
      ADD_FAILURE() << "a consumer did not report";
      return seen;
    }
    seen.accepted += r->get_u64("accepted");
    seen.torn += r->get_u64("torn");
    if (r->kind() == "zc") {
      seen.overruns += r->get_u64("overruns");
      seen.caught += r->get_u64("caught");
    } else {
      seen.retries += r->get_u64("retries");
    }
  }
  seen.frames = producer->get_u64("frames");
  seen.ms = producer->get_u64("ms");
  seen.forced = producer->get_u64("forced_overwrites");
  return seen;
}

// Rounds until the run has proven it was contended (bounded: kMaxRounds), never accepting a
// torn frame in any of them. Lapping a reader mid-frame is a matter of scheduling, so a short
// round (CI, sanitizers, a loaded machine) may see too little of it: the next round adds more.
void run_stress(const std::string& tag, FrameFormat format, stress::Budget b, bool copy_must_retry) {
  // Under ASan a 1080p round is lapped mid-read far less often than in a release build: in this
  // session's CI runs 12 rounds once saw 4 overtakes and no torn pixels, once no copy retry. The
  // loop stops as soon as the run is contended, so more rounds cost only the unlucky runs
  // (~1.6 s each under ASan, far below the stress tests' 300 s ctest timeout).
  constexpr int kMaxRounds = 40;
  Observed total;
  int rounds = 0;
  while (rounds < kMaxRounds && !total.contended(copy_must_retry)) {
    total.add(run_round(tag + "-" + std::to_string(rounds), format, b));
    ++rounds;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(total.torn, 0u) << "torn frames accepted";
  EXPECT_GT(total.accepted, 0u);
  EXPECT_GT(total.forced, 0u) << "the producer never had to overwrite a held slot: no contention";
  EXPECT_GT(total.overruns, 0u) << "no zero-copy reader was ever overtaken while reading: the test proved nothing";
  EXPECT_GT(total.caught, 0u) << "no reader ever saw torn pixels: the validation was never put to the test";
  // A 2 KiB copy is over too quickly to be lapped reliably; a 6 MB one is not.
  if (copy_must_retry) {
    EXPECT_GT(total.retries, 0u) << "the copy-out reader never had to retry: its validation was never put to the test";
  }
  ::testing::Test::RecordProperty("rounds", std::to_string(rounds));
  ::testing::Test::RecordProperty("frames", std::to_string(total.frames));
  ::testing::Test::RecordProperty("accepted", std::to_string(total.accepted));
  ::testing::Test::RecordProperty("overruns_discarded", std::to_string(total.overruns));
  ::testing::Test::RecordProperty("torn_caught", std::to_string(total.caught));
  ::testing::Test::RecordProperty("copy_retries", std::to_string(total.retries));
  ::testing::Test::RecordProperty("forced_overwrites", std::to_string(total.forced));
  std::printf(
      "%s: %d round(s), %llu frames in %llu ms; 3 consumers accepted %llu; zero-copy readers overtaken %llu times "
      "(%llu "
      "with torn pixels caught); copy retries %llu; forced overwrites %llu; torn accepted %llu\n",
      tag.c_str(), rounds, static_cast<unsigned long long>(total.frames), static_cast<unsigned long long>(total.ms),
      static_cast<unsigned long long>(total.accepted), static_cast<unsigned long long>(total.overruns),
      static_cast<unsigned long long>(total.caught), static_cast<unsigned long long>(total.retries),
      static_cast<unsigned long long>(total.forced), static_cast<unsigned long long>(total.torn));
}

}  // namespace

TEST(TornReads, NoTornFrameIsEverAcceptedSmallFrames) {
  run_stress("torn-small", FrameFormat{64, 32, PixelFormat::gray8, 0},
             stress::budget("SHMFRAME_STRESS_FRAMES", 100'000, 0.5), false);
}

TEST(TornReads, NoTornFrameIsEverAccepted1080p) {
  run_stress("torn-1080p", FrameFormat{1920, 1080, PixelFormat::bgr8, 0},
             stress::budget("SHMFRAME_STRESS_HD_FRAMES", 1'000, 1.0), true);
}
