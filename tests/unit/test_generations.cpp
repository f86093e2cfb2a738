// Generations never repeat under a stream name within a boot (issue 10): a clean close removes
// the producer lock and, with it, the record of the last generation; the next producer must
// still not start again where its predecessor did, or a consumer that slept through the close
// would take (generation, seq) pairs it has already seen for new frames.
#include <gtest/gtest.h>
#include <unistd.h>

#include <shmframe/detail/os.hpp>
#include <shmframe/shmframe.hpp>

#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;

namespace {
std::uint64_t put(Writer& w) {
  WriteSlot s = w.acquire();
  if (!s) return 0;
  testkit::fill_pattern(s.data(), w.format().frame_bytes(), s.seq());
  return w.commit(s, monotonic_ns()).seq;
}
bool lock_exists(const testkit::StreamGuard& g) {
  return access(detail::object_path(detail::lock_object(g.name())).c_str(), F_OK) == 0;
}
}  // namespace

TEST(Generations, ACleanRestartNeverRepeatsAGeneration) {
  testkit::StreamGuard g("restart");
  std::uint64_t g1 = 0, g2 = 0, g3 = 0;
  {
    Writer a(g.name(), testkit::small_options());
    g1 = a.generation();
    EXPECT_EQ(put(a), 1u);
  }
  ASSERT_FALSE(lock_exists(g)) << "precondition: a clean close removes the lock and its record";
  {
    Writer b(g.name(), testkit::small_options());
    g2 = b.generation();
    EXPECT_EQ(put(b), 1u);  // seq restarts: only the generation tells the frames apart
    b.reconfigure(FrameFormat{32, 16, PixelFormat::gray8, 0});
    g3 = b.generation();
  }
  EXPECT_NE(g1, 0u);
  EXPECT_GT(g2, g1) << "generation repeated after a clean restart";
  EXPECT_EQ(g3, g2 + 1) << "a format change stays +1";
  // A fresh start is a boot time in ns: at most now.
  EXPECT_LE(g2, detail::boottime_ns());
}

// A consumer asleep (not waiting) while its producer closes and a new one starts: on waking it
// hears the close of the old generation, then attaches a generation it has never seen, and never
// takes a (generation, seq) pair twice.
TEST(Generations, AReaderAsleepAcrossACloseAndRestartSeesANewGeneration) {
  testkit::StreamGuard g("asleep");
  std::optional<Writer> a(std::in_place, g.name(), testkit::small_options());
  Reader r(g.name());
  r.attach(1s);
  ASSERT_EQ(put(*a), 1u);
  Event first = r.wait(1s);
  ASSERT_EQ(first.kind, EventKind::frame);
  const std::uint64_t g1 = first.generation;
  first.frame.release();
  a.reset();  // clean close
  Writer b(g.name(), testkit::small_options());
  ASSERT_EQ(put(b), 1u);

  Event closed = r.wait(1s);
  EXPECT_EQ(closed.kind, EventKind::closed) << to_string(closed.kind) << " " << closed.message;
  EXPECT_EQ(closed.generation, g1);
  Event attached = r.wait(1s);
  ASSERT_EQ(attached.kind, EventKind::attached) << to_string(attached.kind) << " " << attached.message;
  EXPECT_NE(attached.generation, g1) << "the new producer reused the old generation";
  Event next = r.wait(1s);
  ASSERT_EQ(next.kind, EventKind::frame) << to_string(next.kind);
  EXPECT_EQ(next.frame.seq(), 1u);
  EXPECT_NE(next.generation, g1) << "(generation, seq) = (" << g1 << ", 1) delivered twice";
}
