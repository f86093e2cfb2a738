// Torn-read stress: a producer commits frames whose every 8-byte word encodes their seq, flat
// out, into 2 slots, so readers are lapped constantly; several consumers (zero-copy and copy-
// out) check every frame they accept. A frame that validates (still_valid / copy_latest) but
// whose pixels are not exactly frame `seq` is a torn frame accepted: the test fails on one.
// SHMFRAME_STRESS_FRAMES and SHMFRAME_STRESS_HD_FRAMES scale it (hours by hand, short in CI).
#include <gtest/gtest.h>

#include <vector>

#include "children.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
using testkit::StreamGuard;

namespace {

// Zero-copy consumer: verify in place, then validate. Reports
//   kind=zc accepted=A torn=T overruns=O
int zero_copy_checker(const std::string& name, const LinePipe& out, const LinePipe& attached) {
  Reader r(name);
  std::uint64_t accepted = 0, torn = 0, overruns = 0;
  for (;;) {
    Event e = r.wait(10s);
    if (e.kind == EventKind::closed) break;
    if (e.kind == EventKind::timeout || e.kind == EventKind::error) return 30;
    if (e.kind == EventKind::attached) attached.send(Record("attached"));
    if (e.kind != EventKind::frame) continue;
    const bool ok = testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq());
    if (!e.frame.still_valid()) {
      ++overruns;  // discarded: the producer started overwriting it while we looked
    } else if (ok) {
      ++accepted;
    } else {
      ++torn;
    }
  }
  out.send(Record("zc").set("accepted", accepted).set("torn", torn).set("overruns", overruns));
  return 0;
}

// Copy-out consumer: Reader::copy_latest() validates after copying. Reports
//   kind=copy accepted=A torn=T
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
    copy.resize(f.row_bytes() * std::size_t{f.height});
    std::uint64_t seq = 0;
    if (!r.copy_latest(copy.data(), f.row_bytes(), &seq)) continue;
    if (testkit::check_pattern(copy.data(), copy.size(), seq)) ++accepted;
    else ++torn;
  }
  out.send(Record("copy").set("accepted", accepted).set("torn", torn));
  return 0;
}

void run_stress(const std::string& tag, FrameFormat format, std::uint64_t frames) {
  StreamGuard g(tag);
  LinePipe wp, out, go, ap;
  WriterOptions o = children::options(2);
  o.format = format;
  // The producer waits for "go" so that every consumer is attached before frame 1.
  Child writer([&] {
    children::install_term();
    Writer w(g.name(), o);
    wp.send(Record("ready"));
    if (!go.recv(30s)) return 40;
    for (std::uint64_t n = 0; n < frames && !children::g_term.load(); ++n) {
      if (children::put_pattern(w) == 0) return 41;
    }
    return 0;  // ~Writer closes: consumers see "closed"
  });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child z1([&] { return zero_copy_checker(g.name(), out, ap); });
  Child z2([&] { return zero_copy_checker(g.name(), out, ap); });
  Child c1([&] { return copy_checker(g.name(), out, ap); });
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ap.recv_kind("attached", 10s)) << "consumer " << i << " did not attach";
  go.send(Record("go"));
  EXPECT_EQ(writer.exit_code(600s), 0);
  EXPECT_EQ(z1.exit_code(60s), 0);
  EXPECT_EQ(z2.exit_code(60s), 0);
  EXPECT_EQ(c1.exit_code(60s), 0);
  std::uint64_t accepted = 0, torn = 0, overruns = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = out.recv_record(5s);
    ASSERT_TRUE(r);
    accepted += r->get_u64("accepted");
    torn += r->get_u64("torn");
    if (r->kind() == "zc") overruns += r->get_u64("overruns");
  }
  EXPECT_EQ(torn, 0u) << "torn frames accepted";
  EXPECT_GT(accepted, 0u);
  ::testing::Test::RecordProperty("frames", static_cast<int>(frames));
  ::testing::Test::RecordProperty("accepted", static_cast<int>(accepted));
  ::testing::Test::RecordProperty("overruns_discarded", static_cast<int>(overruns));
  std::printf("%s: %llu frames written, %llu accepted by 3 consumers, %llu discarded as overwritten, %llu torn\n", tag.c_str(),
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(overruns), static_cast<unsigned long long>(torn));
}

}  // namespace

TEST(TornReads, NoTornFrameIsEverAcceptedSmallFrames) {
  run_stress("torn-small", FrameFormat{64, 32, PixelFormat::gray8, 0}, testkit::env_u64("SHMFRAME_STRESS_FRAMES", 100'000));
}

TEST(TornReads, NoTornFrameIsEverAccepted1080p) {
  run_stress("torn-1080p", FrameFormat{1920, 1080, PixelFormat::bgr8, 0}, testkit::env_u64("SHMFRAME_STRESS_HD_FRAMES", 1'000));
}
