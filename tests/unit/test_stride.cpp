// Padded rows (WriterOptions::stride_align): the stream's stride is the row rounded up to the
// alignment, frames travel row by row at that pitch, and the padding bytes never matter to a
// reader (row(y), copy_latest and publish only ever touch the visible bytes of each row).
#include <gtest/gtest.h>

#include <cstring>
#include <shmframe/shmframe.hpp>
#include <vector>

#include "padded_cases.hpp"
#include "stream_test.hpp"
#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;

using testkit::PaddedCase;

class PaddedStride : public testkit::StreamTest, public ::testing::WithParamInterface<PaddedCase> {
 protected:
  void start_padded() {
    WriterOptions o = testkit::small_options({.slots = 3});
    o.format = GetParam().format();
    o.stride_align = GetParam().align;
    start(o);
  }
  // Commits frame `tag` row by row; padding gets bytes that differ every frame.
  std::uint64_t put_rows(std::uint64_t tag) {
    WriteSlot s = w().acquire();
    EXPECT_TRUE(s);
    if (!s) return 0;
    const FrameFormat& f = s.format();
    for (std::uint32_t y = 0; y < f.height; ++y) {
      testkit::fill_row(s.row(y), f.row_bytes(), tag, y);
      std::memset(s.row(y) + f.row_bytes(), static_cast<int>(0xA5 ^ tag), s.stride() - f.row_bytes());
    }
    return w().commit(s, tag).seq;
  }
};

TEST_P(PaddedStride, TheStrideIsTheRowRoundedUpToTheAlignment) {
  const PaddedCase& c = GetParam();
  start_padded();
  EXPECT_EQ(w().format().stride, c.expected_stride);
  EXPECT_EQ(w().format().effective_stride(), c.expected_stride);
  EXPECT_EQ(w().format().row_bytes(), c.width * bytes_per_pixel(c.pixel_format));
  EXPECT_EQ(w().format().frame_bytes(), std::uint64_t{c.expected_stride} * c.height);
  EXPECT_EQ(r().info().format.stride, c.expected_stride);
  EXPECT_EQ(r().info().format.width, c.width);
}

TEST_P(PaddedStride, RowsArriveAtThatPitchAndPaddingNeverMatters) {
  const PaddedCase& c = GetParam();
  start_padded();
  for (std::uint64_t tag = 1; tag <= 5; ++tag) {
    ASSERT_EQ(put_rows(tag), tag);
    Event e = next_frame();
    ASSERT_TRUE(e.frame);
    const Frame& f = e.frame;
    EXPECT_EQ(f.stride(), c.expected_stride);
    for (std::uint32_t y = 0; y < c.height; ++y) {
      EXPECT_EQ(f.row(y), f.data() + std::size_t{y} * c.expected_stride);
      EXPECT_TRUE(testkit::check_row(f.row(y), f.format().row_bytes(), tag, y)) << "frame " << tag << " row " << y;
    }
    EXPECT_TRUE(f.still_valid());
  }
}

TEST_P(PaddedStride, CopyLatestGivesTightRows) {
  const PaddedCase& c = GetParam();
  start_padded();
  ASSERT_EQ(put_rows(7), 1u);
  const std::size_t row = std::size_t{c.width} * bytes_per_pixel(c.pixel_format);
  std::vector<std::byte> tight(row * c.height, std::byte{0xEE});
  std::uint64_t seq = 0;
  ASSERT_TRUE(r().copy_latest(tight.data(), row, &seq));
  EXPECT_EQ(seq, 1u);
  for (std::uint32_t y = 0; y < c.height; ++y) {
    EXPECT_TRUE(testkit::check_row(tight.data() + y * row, row, 7, y)) << "row " << y;
  }
}

TEST_P(PaddedStride, PublishCopiesTightRowsIntoPaddedSlots) {
  const PaddedCase& c = GetParam();
  start_padded();
  const std::size_t row = std::size_t{c.width} * bytes_per_pixel(c.pixel_format);
  std::vector<std::byte> img(row * c.height);
  for (std::uint32_t y = 0; y < c.height; ++y) testkit::fill_row(img.data() + y * row, row, 9, y);
  const CommitResult res = w().publish(ImageView{img.data(), row, c.width, c.height, bytes_per_pixel(c.pixel_format)},
                                       1);
  ASSERT_TRUE(res) << to_string(res.status);
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  for (std::uint32_t y = 0; y < c.height; ++y) {
    EXPECT_EQ(std::memcmp(e.frame.row(y), img.data() + y * row, row), 0) << "row " << y;
  }
}

INSTANTIATE_TEST_SUITE_P(Stride, PaddedStride, ::testing::ValuesIn(testkit::kPaddedCases),
                         [](const auto& p) { return p.param.label(); });

TEST(StrideAlign, MustBeAPowerOfTwoUpTo4096) {
  testkit::StreamGuard g("align-bad");
  for (std::uint32_t bad : {0u, 3u, 48u, 8192u}) {
    WriterOptions o = testkit::small_options();
    o.stride_align = bad;
    try {
      Writer w(g.name(), o);
      ADD_FAILURE() << "accepted stride_align " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("stride-align="), std::string::npos) << e.what();
    }
  }
}

TEST(StrideAlign, AnExplicitStrideWins) {
  testkit::StreamGuard g("align-explicit");
  WriterOptions o = testkit::small_options();
  o.format = FrameFormat{30, 7, PixelFormat::gray8, 40};
  o.stride_align = 64;
  Writer w(g.name(), o);
  EXPECT_EQ(w.format().stride, 40u);
}
