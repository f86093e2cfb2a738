// Torn-read stress: a producer commits frames whose every 8-byte word encodes their seq, flat
// out, into 2 slots, so readers are lapped constantly; several consumers (zero-copy and copy-
// out) check every frame they accept. A frame that validates (still_valid / copy_latest) but
// whose pixels are not exactly frame `seq` is a torn frame accepted: the test fails on one.
// SHMFRAME_STRESS_FRAMES and SHMFRAME_STRESS_HD_FRAMES scale it (hours by hand, short in CI).
#include <gtest/gtest.h>

#include <cstdlib>

#include "mp_common.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::StreamGuard;

namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// Zero-copy consumer: verify in place, then validate. Reports "zc ACCEPTED TORN OVERRUNS".
int zero_copy_checker(const std::string& name, const LinePipe& out, const LinePipe& attached) {
  Reader r(name);
  std::uint64_t accepted = 0, torn = 0, overruns = 0;
  for (;;) {
    Event e = r.wait(10s);
    if (e.kind == EventKind::closed) break;
    if (e.kind == EventKind::timeout || e.kind == EventKind::error) return 30;
    if (e.kind == EventKind::attached) attached.send("attached");
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
  out.send("zc " + std::to_string(accepted) + " " + std::to_string(torn) + " " + std::to_string(overruns));
  return 0;
}

// Copy-out consumer: copy_latest() validates after copying. Reports "copy ACCEPTED TORN".
int copy_checker(const std::string& name, const LinePipe& out, const LinePipe& attached) {
  Reader r(name);
  std::uint64_t accepted = 0, torn = 0;
  cv::Mat copy;
  for (;;) {
    Event e = r.wait(10s);
    if (e.kind == EventKind::closed) break;
    if (e.kind == EventKind::timeout || e.kind == EventKind::error) return 31;
    if (e.kind == EventKind::attached) attached.send("attached");
    if (e.kind != EventKind::frame) continue;
    e.frame.release();
    std::uint64_t seq = 0;
    if (!shmframe::copy_latest(r, copy, &seq)) continue;
    const std::size_t n = copy.total() * copy.elemSize();
    if (testkit::check_pattern(reinterpret_cast<const std::byte*>(copy.data), n, seq)) ++accepted;
    else ++torn;
  }
  out.send("copy " + std::to_string(accepted) + " " + std::to_string(torn));
  return 0;
}

void run_stress(const std::string& tag, FrameFormat format, std::uint64_t frames) {
  StreamGuard g(tag);
  LinePipe wp, out, go, ap;
  WriterOptions o = mp::small_format(2);
  o.format = format;
  // The producer waits for "go" so that every consumer is attached before frame 1.
  Child writer([&] {
    mp::install_term();
    Writer w(g.name(), o);
    wp.send("ready");
    if (!go.recv(30s)) return 40;
    for (std::uint64_t n = 0; n < frames && !mp::g_term.load(); ++n) {
      if (mp::put_pattern(w) == 0) return 41;
    }
    return 0;  // ~Writer closes: consumers see "closed"
  });
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
  Child z1([&] { return zero_copy_checker(g.name(), out, ap); });
  Child z2([&] { return zero_copy_checker(g.name(), out, ap); });
  Child c1([&] { return copy_checker(g.name(), out, ap); });
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ap.recv_prefix("attached", 10s)) << "consumer " << i << " did not attach";
  go.send("go");
  EXPECT_EQ(writer.exit_code(600s), 0);
  EXPECT_EQ(z1.exit_code(60s), 0);
  EXPECT_EQ(z2.exit_code(60s), 0);
  EXPECT_EQ(c1.exit_code(60s), 0);
  std::uint64_t accepted = 0, torn = 0, overruns = 0;
  for (int i = 0; i < 3; ++i) {
    auto l = out.recv(5s);
    ASSERT_TRUE(l);
    auto w = testkit::words(*l);
    accepted += std::stoull(w[1]);
    torn += std::stoull(w[2]);
    if (w[0] == "zc") overruns += std::stoull(w[3]);
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

TEST(Stress, NoTornFrameIsEverAcceptedSmallFrames) {
  run_stress("torn-small", FrameFormat{64, 32, PixelFormat::gray8, 0}, env_or("SHMFRAME_STRESS_FRAMES", 100'000));
}

TEST(Stress, NoTornFrameIsEverAccepted1080p) {
  run_stress("torn-1080p", FrameFormat{1920, 1080, PixelFormat::bgr8, 0}, env_or("SHMFRAME_STRESS_HD_FRAMES", 1'000));
}
