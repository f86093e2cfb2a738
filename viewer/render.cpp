#include "render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <shmframe/opencv_convert.hpp>

namespace shmframe::viewer {
namespace {

// Scales first (in the stream's own format: fewer bytes for gray8) then converts into `dst`.
// Returns where the picture went in `cell`.
cv::Rect draw_fit(const Shot& shot, cv::Mat cell) {
  const cv::Mat& src = shot.pixels;
  const double k = std::min(static_cast<double>(cell.cols) / src.cols, static_cast<double>(cell.rows) / src.rows);
  const cv::Size size(std::max(1, static_cast<int>(std::lround(src.cols * k))),
                      std::max(1, static_cast<int>(std::lround(src.rows * k))));
  cv::Mat dst = cell(cv::Rect((cell.cols - size.width) / 2, (cell.rows - size.height) / 2, size.width, size.height));
  cv::Mat scaled = src;
  if (size != src.size()) cv::resize(src, scaled, size, 0, 0, k < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  const int code = bgr_conversion(shot.pixel_format);  // packed formats only here: the feed converted the rest
  if (code < 0) {
    scaled.copyTo(dst);
  } else {
    cv::cvtColor(scaled, dst, code);  // dst has the right size and type: written in place
  }
  return cv::Rect((cell.cols - size.width) / 2, (cell.rows - size.height) / 2, size.width, size.height);
}

// The gray16 value under the mouse, if it is over this cell's picture.
std::optional<std::uint16_t> depth_under(const Shot& shot, cv::Rect drawn, cv::Point mouse) {
  if (shot.source_format != PixelFormat::gray16 || shot.raw.empty() || !drawn.contains(mouse)) return std::nullopt;
  const int x = (mouse.x - drawn.x) * shot.raw.cols / std::max(1, drawn.width);
  const int y = (mouse.y - drawn.y) * shot.raw.rows / std::max(1, drawn.height);
  return shot.raw.at<std::uint16_t>(std::min(y, shot.raw.rows - 1), std::min(x, shot.raw.cols - 1));
}

double font_scale(cv::Size cell) { return std::clamp(cell.height / 700.0, 0.35, 0.6); }

void draw_overlay(const Tile& t, const RenderOptions& o, cv::Mat cell, std::optional<std::uint16_t> depth) {
  const FeedStatus& s = t.status;
  const bool stale = s.last_frame_ns == 0 || o.now_ns - s.last_frame_ns > 2'000'000'000ull;
  std::vector<std::string> lines{
      fmt::format("{}  gen {}  seq {}", t.name, s.generation, t.shot != nullptr ? t.shot->seq : 0),
      fmt::format("{}x{} {}  {:.1f} fps", s.format.width, s.format.height, to_string(s.format.pixel_format),
                  stale ? 0.0 : s.fps),
      fmt::format("hand-off {:.2f} ms  e2e {:.2f} ms", s.handoff_ms, s.e2e_ms),
      fmt::format("drops {}  overruns {}", s.drops, s.overruns),
  };
  if (t.shot != nullptr && t.shot->set_spread_ns) {
    lines.push_back(fmt::format("set spread {:.3f} ms", static_cast<double>(*t.shot->set_spread_ns) / 1e6));
  }
  if (s.undecodable != 0) lines.push_back(fmt::format("undecodable frames {}", s.undecodable));

  if (t.shot != nullptr && t.shot->source_format == PixelFormat::gray16) {
    lines.push_back(depth ? fmt::format("depth {}..{}  value {}", t.shot->depth_min, t.shot->depth_max, *depth)
                          : fmt::format("depth {}..{}", t.shot->depth_min, t.shot->depth_max));
  }
  if (o.paused) lines.emplace_back("PAUSED (space)");
  const double scale = font_scale(cell.size());
  int base = 0;
  const cv::Size one = cv::getTextSize("Ag", cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
  const int line_h = one.height + base + 4, pad = 6;
  int width = 0;
  for (const auto& l : lines)
    width = std::max(width, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base).width);
  const cv::Rect panel = cv::Rect(0, 0, width + 2 * pad, static_cast<int>(lines.size()) * line_h + pad) &
                         cv::Rect(0, 0, cell.cols, cell.rows);
  cv::rectangle(cell, panel, kOverlayColor, cv::FILLED);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    cv::putText(cell, lines[i], cv::Point(pad, pad / 2 + static_cast<int>(i + 1) * line_h - base - 2),
                cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  }
}

void draw_banner(const std::string& text, cv::Mat cell) {
  const double scale = font_scale(cell.size()) * 1.3;
  int base = 0;
  const cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 2, &base);
  const int h = std::min(cell.rows, (ts.height + base) * 2 + 8);
  const cv::Rect bar(0, (cell.rows - h) / 2, cell.cols, h);
  cv::rectangle(cell, bar, kBannerColor, cv::FILLED);
  cv::putText(cell, text, cv::Point(std::max(4, (cell.cols - ts.width) / 2), bar.y + (h + ts.height) / 2),
              cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 2, cv::LINE_AA);
}

}  // namespace

std::string banner_text(const FeedStatus& s, std::uint64_t now_ns) {
  switch (s.banner) {
    case Banner::waiting: return "waiting for producer";
    case Banner::live: return "";
    case Banner::lost:
      return fmt::format("producer lost (pid {}, {:.1f} s ago)", s.producer_pid,
                         static_cast<double>(now_ns - std::min(now_ns, s.lost_at_ns)) / 1e9);
    case Banner::closed: return "closed";
  }
  return "";
}

cv::Size grid_for(std::size_t n) {
  const int cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))));
  const int rows = std::max(
      1, static_cast<int>((n + static_cast<std::size_t>(cols) - 1) / static_cast<std::size_t>(cols)));
  return {cols, rows};
}

cv::Size native_cell(const std::vector<Tile>& tiles) {
  cv::Size cell(0, 0);
  for (const auto& t : tiles) {
    if (t.shot == nullptr || t.shot->pixels.empty()) continue;
    cell.width = std::max(cell.width, t.shot->pixels.cols);
    cell.height = std::max(cell.height, t.shot->pixels.rows);
  }
  return cell.area() > 0 ? cell : cv::Size(640, 480);
}

cv::Size fitted_cell(const std::vector<Tile>& tiles, cv::Size max_size) {
  const cv::Size cell = native_cell(tiles), grid = grid_for(tiles.size());
  const double k = std::min({1.0, static_cast<double>(max_size.width) / (cell.width * grid.width),
                             static_cast<double>(max_size.height) / (cell.height * grid.height)});
  return {std::max(1, static_cast<int>(cell.width * k)), std::max(1, static_cast<int>(cell.height * k))};
}

cv::Size snapshot_cell(const std::vector<Tile>& tiles, std::uint64_t max_pixels) {
  const cv::Size cell = native_cell(tiles), grid = grid_for(tiles.size());
  const double w = static_cast<double>(cell.width) * grid.width;
  const double h = static_cast<double>(cell.height) * grid.height;
  constexpr double kMaxSide = 32767;
  const double k = std::min({1.0, std::sqrt(static_cast<double>(max_pixels) / (w * h)), kMaxSide / w, kMaxSide / h});
  if (k >= 1.0) return cell;
  return {std::max(1, static_cast<int>(cell.width * k)), std::max(1, static_cast<int>(cell.height * k))};
}

void compose(const std::vector<Tile>& tiles, cv::Size cell, const RenderOptions& options, cv::Mat& canvas) {
  const cv::Size grid = grid_for(tiles.size());
  canvas.create(cell.height * grid.height, cell.width * grid.width, CV_8UC3);
  canvas.setTo(cv::Scalar::all(0));
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const Tile& t = tiles[i];
    const int col = static_cast<int>(i) % grid.width, row = static_cast<int>(i) / grid.width;
    const cv::Rect where(col * cell.width, row * cell.height, cell.width, cell.height);
    cv::Mat c = canvas(where);
    std::optional<std::uint16_t> depth;
    if (t.shot != nullptr && !t.shot->pixels.empty()) {
      const cv::Rect drawn = draw_fit(*t.shot, c);
      depth = depth_under(*t.shot, drawn, options.mouse - where.tl());
    } else if (t.shot != nullptr && t.shot->undecodable) {
      draw_banner("frame does not decode (corrupt JPEG)", c);
    }
    if (options.overlay) draw_overlay(t, options, c, depth);
    if (const std::string b = banner_text(t.status, options.now_ns); options.banners && !b.empty()) draw_banner(b, c);
  }
}

}  // namespace shmframe::viewer
