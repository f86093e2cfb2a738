// viewer/render.hpp: turning validated frames into what the viewer shows or saves: colour
// conversion to BGR, scaling to fit a cell (aspect kept), tiling several streams in a grid,
// the statistics overlay and the state banner. Pure functions over cv::Mat; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "feed.hpp"

namespace shmframe::viewer {

// Banners are a filled bar of this colour (BGR magenta): the test pattern never contains it,
// so a screenshot can find the banner by colour.
inline const cv::Scalar kBannerColor{255, 0, 255};
// The overlay's panel colour (opaque, so the text stays readable on any picture).
inline const cv::Scalar kOverlayColor{40, 40, 40};

// One stream's cell: its newest frame (may be null) and status.
struct Tile {
  std::string name;
  const Shot* shot = nullptr;
  FeedStatus status;
};

struct RenderOptions {
  bool overlay = true;  // statistics panel in each cell
  bool banners = true;  // state banner when the stream is not live
  bool paused = false;
  std::uint64_t now_ns = 0;  // CLOCK_MONOTONIC, for "T s ago"
  cv::Point mouse{-1, -1};   // on the canvas: the gray16 value under it goes in the overlay
};

// Columns and rows of the grid for `n` streams (1x1, 2x1, 2x2, 3x2, 3x3...).
cv::Size grid_for(std::size_t n);
// The largest frame size among the tiles (640x480 when none has a frame yet).
cv::Size native_cell(const std::vector<Tile>& tiles);
// Cell size so that the grid fits in `max_size`, aspect kept, never enlarged.
cv::Size fitted_cell(const std::vector<Tile>& tiles, cv::Size max_size);

// The cell of a --snapshot: native_cell(), unless the grid of them would exceed `max_pixels`
// (or 32767 pixels a side, OpenCV's and PNG encoders' practical limit): then scaled down to fit,
// aspect kept.
inline constexpr std::uint64_t kMaxSnapshotPixels = std::uint64_t{1} << 28;  // 256 Mpixels, 768 MiB in BGR
cv::Size snapshot_cell(const std::vector<Tile>& tiles, std::uint64_t max_pixels);

// Renders every tile into `canvas` (resized to the grid of `cell`s).
void compose(const std::vector<Tile>& tiles, cv::Size cell, const RenderOptions& options, cv::Mat& canvas);

// The banner text for a status ("" when live).
std::string banner_text(const FeedStatus& s, std::uint64_t now_ns);

}  // namespace shmframe::viewer
