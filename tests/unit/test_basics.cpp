// Names, formats and the segment geometry: pure functions, no shared memory.
#include <gtest/gtest.h>

#include <cstring>
#include <shmframe/detail/segment.hpp>
#include <shmframe/shmframe.hpp>

using namespace shmframe;

TEST(StreamName, AcceptsTheDocumentedAlphabet) {
  EXPECT_FALSE(check_stream_name("cam0"));
  EXPECT_FALSE(check_stream_name("A-b_c.9"));
  EXPECT_FALSE(check_stream_name(std::string(64, 'x')));
}

TEST(StreamName, RejectsEverythingElseWithAReason) {
  for (const char* bad : {"", ".", "..", "a/b", "a b", "caméra", "x\n"}) {
    auto why = check_stream_name(bad);
    ASSERT_TRUE(why) << bad;
    EXPECT_FALSE(why->empty());
  }
  EXPECT_TRUE(check_stream_name(std::string(65, 'x')));
  try {
    Writer w("../etc", WriterOptions{});
    FAIL() << "accepted an invalid name";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_name);
    EXPECT_NE(std::string(e.what()).find("../etc"), std::string::npos);
  }
  EXPECT_THROW(Reader("a/b"), Error);
}

TEST(PixelFormat, RoundTripsNamesAndSizes) {
  for (auto f : {PixelFormat::gray8, PixelFormat::bgr8, PixelFormat::rgb8, PixelFormat::bgra8}) {
    auto parsed = parse_pixel_format(to_string(f));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_EQ(bytes_per_pixel(PixelFormat::gray8), 1u);
  EXPECT_EQ(bytes_per_pixel(PixelFormat::bgr8), 3u);
  EXPECT_EQ(bytes_per_pixel(PixelFormat::bgra8), 4u);
  EXPECT_FALSE(parse_pixel_format("yuv420"));
}

TEST(Geometry, IsAlignedAndFitsTheFrame) {
  auto g = detail::plan_geometry("g", FrameFormat{1920, 1080, PixelFormat::bgr8, 0}, 3, 16, 100);
  EXPECT_EQ(g.frame_bytes, 1920u * 1080u * 3u);
  EXPECT_EQ(g.slots_offset % layout::kPage, 0u);
  EXPECT_EQ(g.pixel_offset % layout::kPage, 0u);
  EXPECT_EQ(g.slot_stride % layout::kPage, 0u);
  EXPECT_GE(g.slot_stride, g.pixel_offset + g.frame_bytes);
  EXPECT_GE(g.pixel_offset, sizeof(layout::SlotHeader) + 100);
  EXPECT_EQ(g.total_size, g.slots_offset + 3 * g.slot_stride);
}

TEST(Geometry, RejectsBadOptionsNamingThem) {
  auto expect_bad = [](FrameFormat f, std::uint32_t slots, std::uint32_t consumers, const char* word) {
    try {
      (void)detail::plan_geometry("g", f, slots, consumers, 0);
      ADD_FAILURE() << "accepted " << word;
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_bad(FrameFormat{0, 10, PixelFormat::bgr8, 0}, 2, 4, "frame size");
  expect_bad(FrameFormat{40000, 10, PixelFormat::bgr8, 0}, 2, 4, "frame size");
  expect_bad(FrameFormat{10, 10, PixelFormat::bgr8, 5}, 2, 4, "stride");
  expect_bad(FrameFormat{10, 10, static_cast<PixelFormat>(99), 0}, 2, 4, "pixel format");
  expect_bad(FrameFormat{10, 10, PixelFormat::bgr8, 0}, 0, 4, "slot count");
  expect_bad(FrameFormat{10, 10, PixelFormat::bgr8, 0}, 65, 4, "slot count");
  expect_bad(FrameFormat{10, 10, PixelFormat::bgr8, 0}, 2, 0, "max consumers");
}

#include <shmframe/detail/copy.hpp>
#include <vector>

TEST(StreamCopy, CopiesEveryByteAtEveryAlignmentAndLength) {
  std::vector<unsigned char> src(5000), dst(5100);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 7 + 3);
  for (std::size_t dst_off : {0u, 1u, 7u, 15u, 16u, 33u}) {
    for (std::size_t src_off : {0u, 3u, 16u}) {
      for (std::size_t n : {0u, 1u, 15u, 16u, 63u, 64u, 65u, 1000u, 4900u}) {
        std::fill(dst.begin(), dst.end(), 0xEE);
        detail::stream_copy(dst.data() + dst_off, src.data() + src_off, n);
        ASSERT_EQ(std::memcmp(dst.data() + dst_off, src.data() + src_off, n), 0)
            << dst_off << " " << src_off << " " << n;
        EXPECT_EQ(dst[dst_off + n], 0xEE) << "wrote past the end";
        if (dst_off > 0) {
          EXPECT_EQ(dst[dst_off - 1], 0xEE) << "wrote before the start";
        }
      }
    }
  }
}

// --expect-owner / expect_owner: one rule for the apps and Python (the library's).
TEST(Basics, ParseOwnerTakesAUidOrAUserName) {
  EXPECT_EQ(parse_owner("0"), std::optional<std::uint32_t>(0));
  EXPECT_EQ(parse_owner("root"), std::optional<std::uint32_t>(0));
  EXPECT_EQ(parse_owner("4294967294"), std::optional<std::uint32_t>(4294967294u));
  EXPECT_EQ(parse_owner("4294967295"), std::nullopt) << "(uid_t)-1 is no user";
  EXPECT_EQ(parse_owner("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_owner(""), std::nullopt);
  EXPECT_EQ(parse_owner("no-such-user-shmframe"), std::nullopt);
}
