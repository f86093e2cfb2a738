// One process, writer and reader: the protocol's observable behaviour without fork().
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <opencv2/core.hpp>
#include <shmframe/detail/os.hpp>
#include <shmframe/layout.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;

namespace {

WriterOptions small(std::uint32_t slots = 2) {
  WriterOptions o;
  o.format = FrameFormat{64, 32, PixelFormat::gray8, 0};
  o.slots = slots;
  o.max_consumers = 4;
  return o;
}

std::uint64_t put(Writer& w, std::uint64_t tag) {
  WriteSlot s = w.acquire();
  EXPECT_TRUE(s);
  testkit::fill_pattern(s.data(), w.format().frame_bytes(), tag);
  return w.commit(s, 1000 + tag).seq;
}

}  // namespace

TEST(RoundTrip, SequenceNumbersStartAtOneAndStepByOne) {
  testkit::StreamGuard g("seq");
  Writer w(g.name(), small());
  Reader r(g.name());
  r.attach(1s);
  for (std::uint64_t i = 1; i <= 20; ++i) {
    EXPECT_EQ(put(w, i), i);
    Event e = r.wait(1s);
    ASSERT_EQ(e.kind, EventKind::frame);
    EXPECT_EQ(e.frame.seq(), i);
    EXPECT_EQ(e.frame.capture_ns(), 1000 + i);
    EXPECT_TRUE(testkit::check_pattern(e.frame.data(), 64 * 32, i));
    EXPECT_TRUE(e.frame.still_valid());
  }
  EXPECT_EQ(r.stats().drops, 0u);
}

TEST(RoundTrip, LateJoinerGetsTheNewestFrameAtOnce) {
  testkit::StreamGuard g("late");
  Writer w(g.name(), small());
  for (int i = 1; i <= 5; ++i) put(w, static_cast<std::uint64_t>(i));
  Reader r(g.name());
  Event a = r.wait(1s);
  ASSERT_EQ(a.kind, EventKind::attached);
  EXPECT_EQ(a.generation, w.generation());
  Event e = r.wait(1s);
  ASSERT_EQ(e.kind, EventKind::frame);
  EXPECT_EQ(e.frame.seq(), 5u);
  EXPECT_EQ(e.dropped, 0u);  // frames before the attach are not drops
}

TEST(RoundTrip, GapsAreCountedAsDrops) {
  testkit::StreamGuard g("drops");
  Writer w(g.name(), small());
  Reader r(g.name());
  r.attach(1s);
  put(w, 1);
  ASSERT_EQ(r.wait(1s).kind, EventKind::frame);
  for (int i = 2; i <= 6; ++i) put(w, static_cast<std::uint64_t>(i));
  Event e = r.wait(1s);
  ASSERT_EQ(e.kind, EventKind::frame);
  EXPECT_EQ(e.frame.seq(), 6u);
  EXPECT_EQ(e.dropped, 4u);
  EXPECT_EQ(r.stats().drops, 4u);
  auto st = w.stats();
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].drops, 4u);
  EXPECT_EQ(st.consumers[0].last_seq, 6u);
}

TEST(RoundTrip, ReadBySeqWhileASlotHoldsIt) {
  testkit::StreamGuard g("byseq");
  Writer w(g.name(), small(4));
  Reader r(g.name());
  r.attach(1s);
  for (int i = 1; i <= 6; ++i) put(w, static_cast<std::uint64_t>(i));
  for (std::uint64_t s = 3; s <= 6; ++s) {
    Frame f = r.read(s);
    ASSERT_TRUE(f) << s;
    EXPECT_TRUE(testkit::check_pattern(f.data(), 64 * 32, s));
  }
  EXPECT_FALSE(r.read(1));  // overwritten
  EXPECT_FALSE(r.read(7));  // not yet
}

TEST(RoundTrip, EveryFrameModeTakesHeldFramesInOrder) {
  testkit::StreamGuard g("every");
  Writer w(g.name(), small(4));
  ReaderOptions ro;
  ro.every_frame = true;
  Reader r(g.name(), ro);
  r.attach(1s);
  put(w, 1);
  ASSERT_EQ(r.wait(1s).frame.seq(), 1u);
  put(w, 2);
  put(w, 3);
  EXPECT_EQ(r.wait(1s).frame.seq(), 2u);
  EXPECT_EQ(r.wait(1s).frame.seq(), 3u);
  EXPECT_EQ(r.stats().drops, 0u);
}

TEST(RoundTrip, MetadataTravelsAndTooMuchIsRefusedNotTruncated) {
  testkit::StreamGuard g("meta");
  WriterOptions o = small();
  o.metadata_capacity = 8;
  Writer w(g.name(), o);
  Reader r(g.name());
  r.attach(1s);
  const char text[] = "0123456789";
  WriteSlot s = w.acquire();
  ASSERT_TRUE(s);
  const CommitResult too_much = w.commit(s, 1, std::as_bytes(std::span(text, 10)));
  EXPECT_EQ(too_much.status, CommitStatus::metadata_too_large);
  ASSERT_TRUE(s) << "a refused commit leaves the slot acquired";
  EXPECT_EQ(w.commit(s, 1, std::as_bytes(std::span(text, 8))).seq, 1u);
  Event e = r.wait(1s);
  ASSERT_EQ(e.kind, EventKind::frame);
  ASSERT_EQ(e.frame.metadata().size(), 8u);
  EXPECT_EQ(std::memcmp(e.frame.metadata().data(), text, 8), 0);
}

TEST(RoundTrip, AHeldFrameOverwrittenIsDetectedAndCounted) {
  testkit::StreamGuard g("overrun");
  Writer w(g.name(), small(2));
  Reader r(g.name());
  r.attach(1s);
  put(w, 1);
  Frame f = r.latest();
  ASSERT_TRUE(f);
  put(w, 2);  // goes to the other slot
  EXPECT_TRUE(f.still_valid());
  put(w, 3);  // two slots: must take the held one
  EXPECT_FALSE(f.still_valid());
  f.release();
  EXPECT_EQ(r.stats().overruns, 1u);
}

TEST(RoundTrip, ALeaseSteersTheWriterToAnotherSlot) {
  testkit::StreamGuard g("lease");
  Writer w(g.name(), small(3));
  Reader r(g.name());
  r.attach(1s);
  put(w, 1);
  Frame f = r.latest();  // lease on frame 1's slot
  for (std::uint64_t i = 2; i <= 10; ++i) put(w, i);
  EXPECT_TRUE(f.still_valid());
  EXPECT_TRUE(testkit::check_pattern(f.data(), 64 * 32, 1));
  EXPECT_EQ(w.stats().forced_overwrites, 0u);
}

TEST(RoundTrip, CopyLatestValidatesTheCopy) {
  testkit::StreamGuard g("copy");
  Writer w(g.name(), small());
  Reader r(g.name());
  r.attach(1s);
  cv::Mat out;
  std::uint64_t seq = 0;
  EXPECT_FALSE(shmframe::copy_latest(r, out, &seq));
  put(w, 1);
  put(w, 2);
  ASSERT_TRUE(shmframe::copy_latest(r, out, &seq));
  EXPECT_EQ(seq, 2u);
  ASSERT_TRUE(out.isContinuous());
  EXPECT_TRUE(testkit::check_pattern(reinterpret_cast<const std::byte*>(out.data), 64 * 32, 2));
}

TEST(RoundTrip, PublishCopiesAMatAndRejectsAMismatch) {
  testkit::StreamGuard g("publish");
  WriterOptions o;
  o.format = FrameFormat{16, 8, PixelFormat::bgr8, 0};
  Writer w(g.name(), o);
  Reader r(g.name());
  r.attach(1s);
  cv::Mat img(8, 16, CV_8UC3, cv::Scalar(1, 2, 3));
  EXPECT_EQ(w.publish(img, 5).seq, 1u);
  EXPECT_EQ(w.publish(cv::Mat(8, 15, CV_8UC3), 5).status, CommitStatus::format_mismatch);
  EXPECT_EQ(w.publish(cv::Mat(8, 16, CV_8UC1), 5).status, CommitStatus::format_mismatch);
  EXPECT_EQ(w.publish(cv::Mat(8, 16, CV_16UC3), 5).status, CommitStatus::format_mismatch);
  Event e = r.wait(1s);
  ASSERT_EQ(e.kind, EventKind::frame);
  EXPECT_EQ(cv::norm(e.frame.mat(), img, cv::NORM_INF), 0.0);
}

TEST(RoundTrip, AbandonedSlotIsNeverDelivered) {
  testkit::StreamGuard g("abandon");
  Writer w(g.name(), small());
  Reader r(g.name());
  r.attach(1s);
  put(w, 1);
  ASSERT_EQ(r.wait(1s).frame.seq(), 1u);
  {
    WriteSlot s = w.acquire();
    ASSERT_TRUE(s);
    testkit::fill_pattern(s.data(), 100, 99);
  }  // dropped without commit
  EXPECT_EQ(r.wait(50ms).kind, EventKind::timeout);
  EXPECT_EQ(w.stats().commits_aborted, 1u);
  EXPECT_EQ(put(w, 2), 2u);  // the abandoned number is reused: seq stays gapless
  EXPECT_EQ(r.wait(1s).frame.seq(), 2u);
}

TEST(RoundTrip, CloseIsReportedAndRemovesTheSegment) {
  testkit::StreamGuard g("close");
  Reader r(g.name());
  {
    Writer w(g.name(), small());
    r.attach(1s);
    put(w, 1);
    ASSERT_EQ(r.wait(1s).kind, EventKind::frame);
  }
  Event e = r.wait(1s);
  EXPECT_EQ(e.kind, EventKind::closed);
  EXPECT_NE(access(g.path().c_str(), F_OK), 0);
  EXPECT_EQ(r.wait(20ms).kind, EventKind::timeout);
}

TEST(RoundTrip, ReconfigureMakesANewGenerationReadersFollow) {
  testkit::StreamGuard g("reconf");
  Writer w(g.name(), small());
  Reader r(g.name());
  ASSERT_EQ(r.wait(1s).kind, EventKind::attached);
  put(w, 1);
  ASSERT_EQ(r.wait(1s).kind, EventKind::frame);
  const auto g1 = w.generation();
  w.reconfigure(FrameFormat{128, 16, PixelFormat::gray8, 0});
  EXPECT_EQ(w.generation(), g1 + 1);
  EXPECT_EQ(put(w, 1), 1u);  // seq restarts in the new generation
  Event a = r.wait(1s);
  ASSERT_EQ(a.kind, EventKind::attached);
  EXPECT_EQ(a.generation, g1 + 1);
  EXPECT_EQ(r.info().format.width, 128u);
  Event e = r.wait(1s);
  ASSERT_EQ(e.kind, EventKind::frame);
  EXPECT_EQ(e.frame.format().width, 128u);
  EXPECT_EQ(e.frame.mat().cols, 128);
}

TEST(RoundTrip, TooManyConsumersIsAClearError) {
  testkit::StreamGuard g("full");
  WriterOptions o = small();
  o.max_consumers = 2;
  Writer w(g.name(), o);
  Reader a(g.name()), b(g.name()), c(g.name());
  a.attach(1s);
  b.attach(1s);
  try {
    c.attach(1s);
    FAIL() << "third consumer attached to a 2-entry table";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::too_many_consumers);
  }
  a.detach();
  EXPECT_NO_THROW(c.attach(1s));  // an entry given back is reusable
}

TEST(RoundTrip, NotFoundAfterTheTimeout) {
  testkit::StreamGuard g("absent");
  Reader r(g.name());
  try {
    r.attach(30ms);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::not_found);
    EXPECT_NE(std::string(e.what()).find("--name"), std::string::npos);
  }
  EXPECT_EQ(r.wait(30ms).kind, EventKind::timeout);
}

TEST(RoundTrip, SegmentHasTheRequestedMode) {
  testkit::StreamGuard g("mode");
  WriterOptions o = small();
  o.mode = 0640;
  Writer w(g.name(), o);
  struct stat st{};
  ASSERT_EQ(stat(g.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  o.mode = 0444;
  EXPECT_THROW(Writer(g.name() + "x", o), Error);
}

TEST(RoundTrip, ASlotOutlivingItsGenerationOrItsWriterIsHarmless) {
  testkit::StreamGuard g("stale-slot");
  Reader r(g.name());
  WriteSlot orphan;
  {
    Writer w(g.name(), small());
    r.attach(1s);
    WriteSlot stale = w.acquire();
    ASSERT_TRUE(stale);
    w.reconfigure(FrameFormat{32, 32, PixelFormat::gray8, 0});
    // Writes through the stale slot land in the retired segment, which it keeps mapped.
    testkit::fill_pattern(stale.data(), 64 * 32, 77);
    EXPECT_EQ(w.commit(stale, 1).status, CommitStatus::stale_generation)
        << "a slot from a retired generation must not commit";
    EXPECT_EQ(put(w, 1), 1u);  // the new generation works normally
    // The reader sees the new generation's frame, never the stale write.
    bool saw_new = false;
    for (int i = 0; i < 6 && !saw_new; ++i) {
      Event e = r.wait(200ms);
      if (e.kind == EventKind::frame) {
        EXPECT_EQ(e.frame.format().width, 32u);
        EXPECT_TRUE(testkit::check_pattern(e.frame.data(), 32 * 32, 1));
        saw_new = true;
      }
    }
    EXPECT_TRUE(saw_new);
    orphan = w.acquire();
    ASSERT_TRUE(orphan);
  }  // the Writer is gone while `orphan` is alive (ASan: no use after free below)
  testkit::fill_pattern(orphan.data(), 32 * 32, 5);
  orphan = WriteSlot();
  EXPECT_FALSE(orphan);
}
