// The viewer's drawing (viewer/render.cpp, pure functions) as the window shows it: with --sync,
// each member's overlay carries its set's spread (issue 21), one line more than a lone stream's.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <shmframe/clock.hpp>

#include "render.hpp"

using shmframe::viewer::compose;
using shmframe::viewer::kOverlayColor;
using shmframe::viewer::RenderOptions;
using shmframe::viewer::Shot;
using shmframe::viewer::Tile;

namespace {

// Rows of the overlay panel at the cell's left edge, from the top.
int panel_rows(const cv::Mat& canvas) {
  const cv::Vec3b panel(static_cast<std::uint8_t>(kOverlayColor[0]), static_cast<std::uint8_t>(kOverlayColor[1]),
                        static_cast<std::uint8_t>(kOverlayColor[2]));
  int y = 0;
  while (y < canvas.rows && canvas.at<cv::Vec3b>(y, 1) == panel) ++y;
  return y;
}

cv::Mat drawn(const Shot& shot) {
  Tile t{"left", &shot, {}};
  t.status.banner = shmframe::viewer::Banner::live;
  t.status.format = shmframe::FrameFormat{640, 480, shmframe::PixelFormat::bgr8, 0};
  const std::uint64_t now = shmframe::monotonic_ns();
  t.status.last_frame_ns = now;
  cv::Mat canvas;
  compose({t}, cv::Size(640, 480), RenderOptions{true, true, false, now}, canvas);
  return canvas;
}

}  // namespace

TEST(ViewerRender, ASetMembersOverlayShowsTheSetsSpread) {
  Shot shot;
  shot.pixels = cv::Mat(480, 640, CV_8UC3, cv::Scalar(0, 200, 0));
  const int alone = panel_rows(drawn(shot));
  shot.set_spread_ns = 3'000'000;
  const int member = panel_rows(drawn(shot));
  ASSERT_GT(alone, 0) << "no overlay panel";
  EXPECT_GT(member, alone) << "a set member's overlay has no line for the spread";
  EXPECT_LT(member, alone * 2) << "one line more, not a different panel";
}
