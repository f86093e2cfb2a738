// One process, writer and reader: the protocol's observable behaviour without fork().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <shmframe/shmframe.hpp>
#include <vector>

#include "stream_test.hpp"
#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::small_options;

namespace {
constexpr std::size_t kSmallBytes = 64 * 32;  // small_options(): 64x32 gray8
}

using RoundTrip = testkit::StreamTest;

TEST_F(RoundTrip, SequenceNumbersStartAtOneAndStepByOne) {
  start();
  for (std::uint64_t i = 1; i <= 20; ++i) {
    EXPECT_EQ(put(i), i);
    Event e = next_frame();
    ASSERT_TRUE(e.frame);
    EXPECT_EQ(e.frame.seq(), i);
    EXPECT_EQ(e.frame.capture_ns(), 1000 + i);
    EXPECT_TRUE(testkit::check_pattern(e.frame.data(), kSmallBytes, i));
    EXPECT_TRUE(e.frame.still_valid());
  }
  EXPECT_EQ(r().stats().drops, 0u);
}

TEST_F(RoundTrip, LateJoinerGetsTheNewestFrameAtOnce) {
  start(small_options(), false);
  for (int i = 1; i <= 5; ++i) put(static_cast<std::uint64_t>(i));
  Event a = r().wait(1s);
  ASSERT_EQ(a.kind, EventKind::attached);
  EXPECT_EQ(a.generation, w().generation());
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  EXPECT_EQ(e.frame.seq(), 5u);
  EXPECT_EQ(e.dropped, 0u);  // frames before the attach are not drops
}

TEST_F(RoundTrip, GapsAreCountedAsDrops) {
  start();
  put(1);
  ASSERT_TRUE(next_frame().frame);
  for (int i = 2; i <= 6; ++i) put(static_cast<std::uint64_t>(i));
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  EXPECT_EQ(e.frame.seq(), 6u);
  EXPECT_EQ(e.dropped, 4u);
  EXPECT_EQ(r().stats().drops, 4u);
  auto st = w().stats();
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].drops, 4u);
  EXPECT_EQ(st.consumers[0].last_seq, 6u);
}

TEST_F(RoundTrip, ReadBySeqWhileASlotHoldsIt) {
  start(small_options({.slots = 4}));
  for (int i = 1; i <= 6; ++i) put(static_cast<std::uint64_t>(i));
  for (std::uint64_t s = 3; s <= 6; ++s) {
    Frame f = r().read(s);
    ASSERT_TRUE(f) << s;
    EXPECT_TRUE(testkit::check_pattern(f.data(), kSmallBytes, s));
  }
  EXPECT_FALSE(r().read(1));  // overwritten
  EXPECT_FALSE(r().read(7));  // not yet
}

TEST_F(RoundTrip, EveryFrameModeTakesHeldFramesInOrder) {
  ReaderOptions ro;
  ro.delivery = shmframe::Delivery::every_frame;
  start(small_options({.slots = 4}), true, ro);
  put(1);
  ASSERT_EQ(next_frame().frame.seq(), 1u);
  put(2);
  put(3);
  EXPECT_EQ(next_frame().frame.seq(), 2u);
  EXPECT_EQ(next_frame().frame.seq(), 3u);
  EXPECT_EQ(r().stats().drops, 0u);
}

TEST_F(RoundTrip, MetadataTravelsAndTooMuchIsRefusedNotTruncated) {
  WriterOptions o = small_options();
  o.metadata_capacity = 8;
  start(o);
  const char text[] = "0123456789";
  WriteSlot s = w().acquire();
  ASSERT_TRUE(s);
  const CommitResult too_much = w().commit(s, 1, std::as_bytes(std::span(text, 10)));
  EXPECT_EQ(too_much.status, CommitStatus::metadata_too_large);
  ASSERT_TRUE(s) << "a refused commit leaves the slot acquired";
  EXPECT_EQ(w().commit(s, 1, std::as_bytes(std::span(text, 8))).seq, 1u);
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  ASSERT_EQ(e.frame.metadata().size(), 8u);
  EXPECT_EQ(std::memcmp(e.frame.metadata().data(), text, 8), 0);
}

// Every slot held (two slots, two readers): the writer never waits, so the next frame
// overwrites the oldest held one, and its holder finds out.
TEST_F(RoundTrip, AHeldFrameOverwrittenIsDetectedAndCounted) {
  start(small_options({.slots = 2}));
  Reader other(name());
  other.attach(1s);
  put(1);
  Frame f = r().latest();
  ASSERT_TRUE(f);
  put(2);  // goes to the other slot
  Frame g = other.latest();
  ASSERT_TRUE(g);
  ASSERT_EQ(g.seq(), 2u);
  ASSERT_TRUE(g.held());
  EXPECT_TRUE(f.still_valid());
  put(3);  // both slots held: takes the oldest anyway
  EXPECT_FALSE(f.still_valid());
  EXPECT_TRUE(g.still_valid());
  f.release();
  EXPECT_EQ(r().stats().overruns, 1u);
  EXPECT_EQ(other.stats().overruns, 0u);
  EXPECT_EQ(w().stats().forced_overwrites, 1u);
}

TEST_F(RoundTrip, AHoldSteersTheWriterToAnotherSlot) {
  start(small_options({.slots = 3}));
  put(1);
  Frame f = r().latest();  // holds frame 1's slot
  for (std::uint64_t i = 2; i <= 10; ++i) put(i);
  EXPECT_TRUE(f.still_valid());
  EXPECT_TRUE(testkit::check_pattern(f.data(), kSmallBytes, 1));
  EXPECT_EQ(w().stats().forced_overwrites, 0u);
}

TEST_F(RoundTrip, CopyLatestValidatesTheCopy) {
  start();
  std::vector<std::byte> out(kSmallBytes);
  std::uint64_t seq = 0;
  EXPECT_FALSE(r().copy_latest(out.data(), 64, &seq));
  put(1);
  put(2);
  EXPECT_FALSE(r().copy_latest(out.data(), 63, &seq)) << "a destination row shorter than a frame row";
  ASSERT_TRUE(r().copy_latest(out.data(), 64, &seq));
  EXPECT_EQ(seq, 2u);
  EXPECT_TRUE(testkit::check_pattern(out.data(), kSmallBytes, 2));
}

TEST_F(RoundTrip, PublishCopiesAnImageAndRejectsAMismatch) {
  WriterOptions o;
  o.format = FrameFormat{16, 8, PixelFormat::bgr8, 0};
  start(o);
  std::vector<std::uint8_t> img(16 * 3 * 8);
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint8_t>(i * 7);
  const ImageView view{img.data(), 48, 16, 8, 3};
  EXPECT_EQ(w().publish(view, 5).seq, 1u);
  ImageView narrow = view;
  narrow.width = 15;
  EXPECT_EQ(w().publish(narrow, 5).status, CommitStatus::format_mismatch);
  ImageView gray = view;
  gray.bytes_per_pixel = 1;
  EXPECT_EQ(w().publish(gray, 5).status, CommitStatus::format_mismatch);
  ImageView short_rows = view;
  short_rows.stride = 47;
  EXPECT_EQ(w().publish(short_rows, 5).status, CommitStatus::format_mismatch);
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  EXPECT_EQ(std::memcmp(e.frame.data(), img.data(), img.size()), 0);
}

TEST_F(RoundTrip, AbandonedSlotIsNeverDelivered) {
  start();
  put(1);
  ASSERT_EQ(next_frame().frame.seq(), 1u);
  {
    WriteSlot s = w().acquire();
    ASSERT_TRUE(s);
    testkit::fill_pattern(s.data(), 100, 99);
  }  // dropped without commit
  EXPECT_EQ(r().wait(50ms).kind, EventKind::timeout);
  EXPECT_EQ(w().stats().commits_aborted, 1u);
  EXPECT_EQ(put(2), 2u);  // the abandoned number is reused: seq stays gapless
  EXPECT_EQ(next_frame().frame.seq(), 2u);
}

TEST_F(RoundTrip, CloseIsReportedAndRemovesTheSegment) {
  start();
  put(1);
  ASSERT_TRUE(next_frame().frame);
  stop_writer();
  Event e = r().wait(1s);
  EXPECT_EQ(e.kind, EventKind::closed);
  EXPECT_NE(access(guard().path().c_str(), F_OK), 0);
  EXPECT_EQ(r().wait(20ms).kind, EventKind::timeout);
}

// A producer that commits its last frames and closes at once (shmframe-producer --frames N):
// those frames still reach the reader, then the close.
TEST_F(RoundTrip, FramesCommittedJustBeforeTheCloseAreDeliveredBeforeIt) {
  for (Delivery d : {Delivery::every_frame, Delivery::lossless, Delivery::latest}) {
    SCOPED_TRACE(std::string(to_string(d)));
    ReaderOptions ro;
    ro.delivery = d;
    start(small_options(testkit::Small{4}), true, ro);
    put(1);
    ASSERT_EQ(next_frame().frame.seq(), 1u);
    put(2);
    put(3);
    stop_writer();
    std::vector<std::uint64_t> seqs;
    Event e = r().wait(1s);
    for (; e.kind == EventKind::frame; e = r().wait(1s)) {
      EXPECT_TRUE(testkit::check_pattern(e.frame.data(), kSmallBytes, e.frame.seq()));
      seqs.push_back(e.frame.seq());
    }
    EXPECT_EQ(e.kind, EventKind::closed);
    if (d == Delivery::latest) EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3}));
    else EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3}));
  }
}

TEST_F(RoundTrip, ReconfigureMakesANewGenerationReadersFollow) {
  start(small_options(), false);
  ASSERT_EQ(r().wait(1s).kind, EventKind::attached);
  put(1);
  ASSERT_TRUE(next_frame().frame);
  const auto g1 = w().generation();
  w().reconfigure(FrameFormat{128, 16, PixelFormat::gray8, 0});
  EXPECT_EQ(w().generation(), g1 + 1);
  EXPECT_EQ(put(1), 1u);  // seq restarts in the new generation
  Event a = r().wait(1s);
  ASSERT_EQ(a.kind, EventKind::attached);
  EXPECT_EQ(a.generation, g1 + 1);
  EXPECT_EQ(r().info().format.width, 128u);
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  EXPECT_EQ(e.frame.format().width, 128u);
  EXPECT_EQ(e.frame.width(), 128u);
  EXPECT_EQ(e.frame.stride(), 128u);
  EXPECT_TRUE(testkit::check_pattern(e.frame.data(), 128 * 16, 1));
}

TEST_F(RoundTrip, TooManyConsumersIsAClearError) {
  start(small_options({.max_consumers = 2}), false);
  Reader a(name()), b(name()), c(name());
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

TEST_F(RoundTrip, NotFoundAfterTheTimeout) {
  Reader r(name());
  try {
    r.attach(30ms);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::not_found);
    EXPECT_NE(std::string(e.what()).find("--name"), std::string::npos);
  }
  EXPECT_EQ(r.wait(30ms).kind, EventKind::timeout);
}

TEST_F(RoundTrip, SegmentHasTheRequestedMode) {
  WriterOptions o = small_options();
  o.mode = 0640;
  start(o, false);
  struct stat st {};
  ASSERT_EQ(stat(guard().path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  o.mode = 0444;
  testkit::StreamGuard other("mode-bad");
  EXPECT_THROW(Writer(other.name(), o), Error);
}

TEST_F(RoundTrip, ASlotOutlivingItsGenerationOrItsWriterIsHarmless) {
  start(small_options());
  WriteSlot stale = w().acquire();
  ASSERT_TRUE(stale);
  w().reconfigure(FrameFormat{32, 32, PixelFormat::gray8, 0});
  // Writes through the stale slot land in the retired segment, which it keeps mapped.
  testkit::fill_pattern(stale.data(), kSmallBytes, 77);
  EXPECT_EQ(w().commit(stale, 1).status, CommitStatus::stale_generation)
      << "a slot from a retired generation must not commit";
  EXPECT_EQ(put(1), 1u);  // the new generation works normally
  // The reader sees the new generation's frame, never the stale write.
  bool saw_new = false;
  for (int i = 0; i < 6 && !saw_new; ++i) {
    Event e = r().wait(200ms);
    if (e.kind == EventKind::frame) {
      EXPECT_EQ(e.frame.format().width, 32u);
      EXPECT_TRUE(testkit::check_pattern(e.frame.data(), 32 * 32, 1));
      saw_new = true;
    }
  }
  EXPECT_TRUE(saw_new);
  WriteSlot orphan = w().acquire();
  ASSERT_TRUE(orphan);
  stop_writer();  // the Writer is gone while `orphan` is alive (ASan: no use after free below)
  testkit::fill_pattern(orphan.data(), 32 * 32, 5);
  orphan = WriteSlot();
  EXPECT_FALSE(orphan);
}

// Moving a Reader or Writer leaves the source inert: every call is safe, none crashes.
TEST(MovedFrom, ReaderAndWriterAreInertNotCrashes) {
  testkit::StreamGuard g("moved");
  Writer w(g.name(), testkit::small_options());
  Writer w2(std::move(w));
  EXPECT_EQ(w.acquire().status(), CommitStatus::closed);  // NOLINT(bugprone-use-after-move): the point
  WriteSlot none;
  EXPECT_EQ(w.commit(none, 1).status, CommitStatus::closed);
  EXPECT_EQ(w.publish(ImageView{}, 1).status, CommitStatus::closed);
  EXPECT_THROW(w.reconfigure(FrameFormat{8, 8, PixelFormat::gray8, 0}), Error);
  EXPECT_TRUE(w.name().empty());
  EXPECT_EQ(w.generation(), 0u);
  EXPECT_EQ(w.stats().generation, 0u);
  w.close();

  Reader r(g.name());
  Reader r2(std::move(r));
  EXPECT_EQ(r.wait(std::chrono::milliseconds(10)).kind, EventKind::error);  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(r.latest());
  EXPECT_FALSE(r.read(1));
  EXPECT_FALSE(r.attached());
  EXPECT_EQ(r.hold_limit(), 0u);
  EXPECT_TRUE(r.name().empty());
  EXPECT_THROW(r.attach(std::chrono::milliseconds(10)), Error);
  r.detach();
  // The moved-to objects carry on.
  WriteSlot s = w2.acquire();
  ASSERT_TRUE(s);
  testkit::fill_pattern(s.data(), w2.format().frame_bytes(), 1);
  ASSERT_TRUE(w2.commit(s, 1));
  r2.attach(std::chrono::seconds(1));
  Frame f = r2.latest();
  ASSERT_TRUE(f);
  EXPECT_EQ(f.seq(), 1u);
}
