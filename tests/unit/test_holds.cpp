// Held frames (ABI 2): a Reader holds several frames at once, one bit per slot in its consumer
// entry, up to hold_limit() == max(1, slots - 1); more are handed out unheld. Frames may be
// released on any thread while the Reader goes on waiting. Runs under ThreadSanitizer in CI.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <shmframe/shmframe.hpp>
#include <thread>
#include <vector>

#include "stream_test.hpp"
#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::small_options;

namespace {

constexpr std::size_t kSmallBytes = 64 * 32;

std::uint32_t held_slots(Writer& w) {
  const auto st = w.stats();
  return st.consumers.size() == 1 ? st.consumers[0].held_slots : 999;
}

}  // namespace

using HeldFrames = testkit::StreamTest;

// PROTOCOL.md, "Holding frames": up to slot_count - 1 held slots, "the producer then always has
// a slot to write while every held frame stays intact". With 4 slots: hold 3 frames taken at
// different points of the stream, commit 20 more, and all 3 are intact; a 4th is unheld.
TEST_F(HeldFrames, UpToTheHoldLimitStayIntactWhileTheWriterGoesOn) {
  start(small_options({.slots = 4}));
  const std::uint32_t limit = r().hold_limit();
  EXPECT_EQ(limit, 3u);
  ASSERT_GE(limit, 1u);
  // Frames 1, 3, 5...: one taken every other commit.
  std::vector<Frame> held;
  for (std::uint64_t seq = 1; held.size() < limit; ++seq) {
    ASSERT_EQ(put_own(), seq);
    if (seq % 2 == 0) continue;
    Event e = next_frame();
    ASSERT_TRUE(e.frame);
    ASSERT_EQ(e.frame.seq(), seq);
    EXPECT_TRUE(e.frame.held());
    held.push_back(std::move(e.frame));
  }
  EXPECT_EQ(held_slots(w()), limit);

  std::uint64_t last = 0;
  for (int i = 0; i < 20; ++i) ASSERT_NE(last = put_own(), 0u);
  for (const Frame& f : held) {
    EXPECT_TRUE(f.still_valid()) << "held frame " << f.seq() << " was overwritten with a spare slot";
    EXPECT_TRUE(testkit::check_pattern(f.data(), kSmallBytes, f.seq())) << "held frame " << f.seq();
  }
  EXPECT_EQ(w().stats().forced_overwrites, 0u);
  EXPECT_EQ(held_slots(w()), limit);

  // One more frame while `limit` are held: handed out, but unheld (and counted).
  Event extra = next_frame();
  ASSERT_TRUE(extra.frame);
  EXPECT_EQ(extra.frame.seq(), last);
  EXPECT_FALSE(extra.frame.held());
  EXPECT_TRUE(testkit::check_pattern(extra.frame.data(), kSmallBytes, last));
  EXPECT_EQ(r().stats().unheld, 1u);
  EXPECT_EQ(held_slots(w()), limit);
  extra.frame.release();
  EXPECT_EQ(held_slots(w()), limit) << "releasing an unheld frame must not free a held slot";

  // Releasing gives the slots back one by one.
  for (std::uint32_t left = limit; left > 0; --left) {
    held.back().release();
    held.pop_back();
    EXPECT_EQ(held_slots(w()), left - 1);
  }
  EXPECT_EQ(r().stats().overruns, 0u);
}

// The same frame taken twice shares one bit: releasing one copy keeps the slot held.
TEST_F(HeldFrames, TheSameFrameTwiceHoldsOneSlot) {
  start(small_options({.slots = 3}));
  put_own();
  Frame a = r().latest();
  Frame b = r().read(1);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_TRUE(a.held());
  EXPECT_TRUE(b.held());
  EXPECT_EQ(held_slots(w()), 1u);
  a.release();
  EXPECT_EQ(held_slots(w()), 1u);
  for (int i = 0; i < 10; ++i) put_own();
  EXPECT_TRUE(b.still_valid());
  EXPECT_TRUE(testkit::check_pattern(b.data(), kSmallBytes, 1));
  b.release();
  EXPECT_EQ(held_slots(w()), 0u);
}

// Frames handed to another thread through a queue and released (or destroyed) there while the
// main thread keeps committing and calling wait(). The main thread commits only while fewer
// than hold_limit() frames are out, so the frame it then takes is held too and the reader holds
// up to hold_limit() frames: the writer always finds a free slot, every frame stays intact, and
// the pixel reads on the releasing thread never race with a write (TSan sees the hold bit's
// release/acquire pairing).
TEST_F(HeldFrames, ReleasedOnAnotherThreadWhileTheReaderWaits) {
  constexpr std::uint32_t kSlots = 4;
  constexpr int kFrames = 2000;
  start(small_options({.slots = kSlots}));
  const std::uint32_t limit = r().hold_limit();
  ASSERT_EQ(limit, kSlots - 1);

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Frame> queue;
  std::uint32_t outstanding = 0;  // frames taken and not yet released (in the queue or in hand)
  bool finished = false;
  std::uint64_t accepted = 0, torn = 0, invalid = 0;

  std::thread releaser([&] {
    std::uint64_t n = 0;
    for (;;) {
      Frame f;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return !queue.empty() || finished; });
        if (queue.empty()) return;
        f = std::move(queue.front());
        queue.pop_front();
      }
      const bool ok = testkit::check_pattern(f.data(), kSmallBytes, f.seq());
      const bool valid = f.still_valid();
      if (++n % 2 == 0) {
        f.release();
      } else {
        Frame gone = std::move(f);  // destroyed at the end of this scope
      }
      std::lock_guard lk(mu);
      if (!valid) ++invalid;
      else if (ok) ++accepted;
      else ++torn;
      --outstanding;
      cv.notify_all();
    }
  });

  int taken = 0, unheld = 0, timeouts = 0;
  for (int i = 0; i < kFrames; ++i) {
    {
      std::unique_lock lk(mu);
      if (!cv.wait_for(lk, 5s, [&] { return outstanding < limit; })) {
        ++timeouts;
        break;
      }
    }
    ASSERT_EQ(put_own(), static_cast<std::uint64_t>(i + 1));
    Event e = r().wait(1s);
    if (e.kind != EventKind::frame) continue;
    ++taken;
    if (!e.frame.held()) ++unheld;
    if (i % 5 == 4) {
      // Some frames are released right here, between the other thread's releases.
      EXPECT_TRUE(testkit::check_pattern(e.frame.data(), kSmallBytes, e.frame.seq()));
      EXPECT_TRUE(e.frame.still_valid());
      e.frame.release();
      continue;
    }
    std::lock_guard lk(mu);
    ++outstanding;
    queue.push_back(std::move(e.frame));
    cv.notify_all();
  }
  {
    std::lock_guard lk(mu);
    finished = true;
    cv.notify_all();
  }
  releaser.join();

  EXPECT_EQ(timeouts, 0);
  EXPECT_EQ(taken, kFrames);
  EXPECT_EQ(unheld, 0) << "more than hold_limit() frames were out at once";
  EXPECT_EQ(torn, 0u) << "a frame validated with pixels that were not its own";
  EXPECT_EQ(invalid, 0u) << "a held frame was overwritten although a slot was free";
  EXPECT_EQ(accepted + (kFrames / 5), static_cast<std::uint64_t>(kFrames));
  EXPECT_EQ(w().stats().forced_overwrites, 0u);
  EXPECT_EQ(held_slots(w()), 0u) << "a slot stayed held after every frame was released";
  EXPECT_EQ(r().stats().overruns, 0u);
  EXPECT_EQ(r().stats().unheld, 0u);
}

// Pins (issue 22): a pinned frame is never overwritten, even when every other slot is held by
// another consumer, so a view handed to code that never calls still_valid() (a GstBuffer
// downstream) keeps its pixels. Only held, the same frame would be the producer's forced choice.
TEST_F(HeldFrames, APinnedFrameIsNeverOverwrittenWhileEveryOtherSlotIsHeld) {
  start(small_options({.slots = 3}));
  ASSERT_EQ(put_own(), 1u);
  Frame pinned = r().latest();
  ASSERT_TRUE(pinned);
  ASSERT_TRUE(pinned.pin());
  EXPECT_TRUE(pinned.pinned());
  // A second consumer holds its limit (2): with the pinned frame, every slot is held.
  Reader other(name());
  other.attach(1s);
  std::vector<Frame> others;
  for (std::uint64_t seq = 2; seq <= 3; ++seq) {
    ASSERT_EQ(put_own(), seq);
    Frame f = other.read(seq);
    ASSERT_TRUE(f);
    ASSERT_TRUE(f.held());
    others.push_back(std::move(f));
  }
  for (int i = 0; i < 10; ++i) ASSERT_NE(put_own(), 0u);
  EXPECT_GT(w().stats().forced_overwrites, 0u) << "every slot was held: the producer had to force one";
  EXPECT_TRUE(pinned.still_valid()) << "the pinned frame was overwritten";
  EXPECT_TRUE(testkit::check_pattern(pinned.data(), kSmallBytes, 1));
  EXPECT_FALSE(others.front().still_valid()) << "the held (unpinned) frames were the ones to give";
}

// The stream's consumers pin at most slots - 1 frames together, so the producer always has a slot;
// a pin refused is the caller's cue to copy. Releasing a pinned frame gives its pin back.
TEST_F(HeldFrames, PinsAreSharedByEveryConsumerUpToSlotsMinusOne) {
  start(small_options({.slots = 3}));
  Reader other(name());
  other.attach(1s);
  ASSERT_EQ(put_own(), 1u);
  Frame a = r().latest();
  ASSERT_TRUE(a.pin());
  ASSERT_EQ(put_own(), 2u);
  Frame b = other.latest();
  ASSERT_TRUE(b.pin()) << "2 of 3 slots";
  ASSERT_EQ(put_own(), 3u);
  Frame c = other.latest();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c.held());
  EXPECT_FALSE(c.pin()) << "a third pin would leave the producer no slot";
  const auto st = w().stats();
  std::uint32_t pins = 0;
  for (const auto& ci : st.consumers) pins += ci.pinned_slots;
  EXPECT_EQ(pins, 2u);
  // The producer goes on (into the unpinned slot), and the pinned frames stay.
  for (int i = 0; i < 6; ++i) ASSERT_NE(put_own(), 0u);
  EXPECT_TRUE(a.still_valid());
  EXPECT_TRUE(b.still_valid());
  a.release();
  c.release();
  ASSERT_NE(put_own(), 0u);
  Frame d = r().latest();
  ASSERT_TRUE(d);
  EXPECT_TRUE(d.pin()) << "a released pin is free again";
}

// A read-only reader owns no entry: it cannot pin (nor hold), so it copies.
TEST_F(HeldFrames, AReadOnlyReaderCannotPin) {
  ReaderOptions ro;
  ro.access = Access::read_only;
  start(small_options({.slots = 3}), true, ro);
  ASSERT_EQ(put_own(), 1u);
  Frame f = r().latest();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f.pin());
  EXPECT_FALSE(f.pinned());
}
