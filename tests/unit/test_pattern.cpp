// The test pattern (shmframe/pattern.hpp, issue 10): a documented pure function of (seq, width,
// height, format) that the producer draws and `shmframe-consumer --verify` checks. These tests
// pin the documented formula pixel by pixel, so a change to it is a visible contract change.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <shmframe/pattern.hpp>
#include <vector>

using namespace shmframe;

namespace {

struct Image {
  FrameFormat f;
  std::size_t stride;
  std::vector<std::byte> bytes;
  Image(FrameFormat fmt, std::size_t pad) : f(fmt), stride(fmt.row_bytes() + pad), bytes(stride * fmt.height) {}
  std::uint8_t at(std::uint32_t x, std::uint32_t y, std::uint32_t ch) const {
    return static_cast<std::uint8_t>(bytes[y * stride + x * bytes_per_pixel(f.pixel_format) + ch]);
  }
};

}  // namespace

// 640x480: bar 16 wide at x = seq * 5 mod 640; seq code in rows 0..4, cells 5 pixels wide.
TEST(Pattern, PixelsFollowTheDocumentedFormula) {
  Image img(FrameFormat{640, 480, PixelFormat::bgr8, 0}, 0);
  fill_test_pattern(1, img.f, img.bytes.data(), img.stride);
  auto bgr = [&](std::uint32_t x, std::uint32_t y) {
    return std::array<int, 3>{img.at(x, y, 0), img.at(x, y, 1), img.at(x, y, 2)};
  };
  EXPECT_EQ(bgr(0, 100), (std::array<int, 3>{0, 100 * 255 / 479, 128}));  // gradient
  EXPECT_EQ(bgr(639, 479), (std::array<int, 3>{255, 255, 128}));          // gradient, far corner
  EXPECT_EQ(bgr(320, 240), (std::array<int, 3>{320 * 255 / 639, 240 * 255 / 479, 128}));
  EXPECT_EQ(bgr(5, 100), (std::array<int, 3>{255, 255, 255}));   // bar starts at 1 * 5
  EXPECT_EQ(bgr(20, 100), (std::array<int, 3>{255, 255, 255}));  // ... and is 16 wide
  EXPECT_EQ(bgr(21, 100), (std::array<int, 3>{21 * 255 / 639, 100 * 255 / 479, 128}));
  EXPECT_EQ(bgr(0, 0), (std::array<int, 3>{255, 255, 255}));              // seq bit 0 = 1
  EXPECT_EQ(bgr(5, 4), (std::array<int, 3>{0, 0, 0}));                    // bit 1 = 0 (over the bar)
  EXPECT_EQ(bgr(319, 0), (std::array<int, 3>{0, 0, 0}));                  // bit 63
  EXPECT_EQ(bgr(320, 0), (std::array<int, 3>{320 * 255 / 639, 0, 128}));  // past the code
  EXPECT_EQ(bgr(0, 5), (std::array<int, 3>{0, 5 * 255 / 479, 128}));      // below the code
}

TEST(Pattern, FormatsStoreTheSamePixelAsDocumented) {
  const FrameFormat base{640, 480, PixelFormat::bgr8, 0};
  Image bgr(base, 0);
  fill_test_pattern(7, base, bgr.bytes.data(), bgr.stride);
  for (PixelFormat pf : {PixelFormat::rgb8, PixelFormat::bgra8, PixelFormat::gray8}) {
    FrameFormat f = base;
    f.pixel_format = pf;
    Image img(f, 0);
    fill_test_pattern(7, f, img.bytes.data(), img.stride);
    for (std::uint32_t y = 0; y < 480; y += 7) {
      for (std::uint32_t x = 0; x < 640; x += 3) {
        const unsigned b = bgr.at(x, y, 0), g = bgr.at(x, y, 1), r = bgr.at(x, y, 2);
        if (pf == PixelFormat::rgb8) {
          ASSERT_EQ(img.at(x, y, 0), r);
          ASSERT_EQ(img.at(x, y, 2), b);
        } else if (pf == PixelFormat::bgra8) {
          ASSERT_EQ(img.at(x, y, 0), b);
          ASSERT_EQ(img.at(x, y, 3), 255);
        } else {
          ASSERT_EQ(img.at(x, y, 0), (114 * b + 587 * g + 299 * r + 500) / 1000) << x << "," << y;
        }
      }
    }
  }
}

TEST(Pattern, CheckAcceptsItsOwnFramesAndNamesTheFirstDifference) {
  for (PixelFormat pf : {PixelFormat::gray8, PixelFormat::bgr8, PixelFormat::rgb8, PixelFormat::bgra8}) {
    for (std::size_t pad : {std::size_t{0}, std::size_t{13}}) {
      Image img(FrameFormat{100, 37, pf, 0}, pad);
      std::memset(img.bytes.data(), 0xAB, img.bytes.size());
      fill_test_pattern(123456789, img.f, img.bytes.data(), img.stride);
      EXPECT_TRUE(check_test_pattern(123456789, img.f, img.bytes.data(), img.stride))
          << to_string(pf) << " pad " << pad;
      if (pad != 0) {
        EXPECT_EQ(img.bytes[img.f.row_bytes()], std::byte{0xAB}) << "padding written";
      }
      EXPECT_FALSE(check_test_pattern(123456790, img.f, img.bytes.data(), img.stride)) << "another seq passed";
      const std::uint32_t bpp = bytes_per_pixel(pf);
      auto& b = img.bytes[20 * img.stride + 50 * bpp + (bpp - 1)];
      const auto old = static_cast<std::uint8_t>(b);
      b = static_cast<std::byte>(old ^ 0x10);
      const PatternCheck c = check_test_pattern(123456789, img.f, img.bytes.data(), img.stride);
      EXPECT_FALSE(c.ok);
      EXPECT_EQ(c.x, 50u);
      EXPECT_EQ(c.y, 20u);
      EXPECT_EQ(c.channel, bpp - 1);
      EXPECT_EQ(c.expected, old);
      EXPECT_EQ(c.found, old ^ 0x10);
    }
  }
}

TEST(Pattern, TinyAndOddSizesAreFine) {
  for (std::uint32_t w : {1u, 2u, 3u, 127u, 129u}) {
    for (std::uint32_t h : {1u, 2u, 5u}) {
      Image img(FrameFormat{w, h, PixelFormat::bgr8, 0}, 0);
      fill_test_pattern(~std::uint64_t{0}, img.f, img.bytes.data(), img.stride);
      EXPECT_TRUE(check_test_pattern(~std::uint64_t{0}, img.f, img.bytes.data(), img.stride)) << w << "x" << h;
    }
  }
}
