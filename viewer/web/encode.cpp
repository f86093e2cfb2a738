#include "encode.hpp"

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <shmframe/clock.hpp>
#include <shmframe/detail/os.hpp>
#include <shmframe/opencv_convert.hpp>

#include "render.hpp"

namespace shmframe::web {
namespace {

using shmframe::detail::realtime_ns;

// A CLOCK_MONOTONIC time on CLOCK_REALTIME (for X-Timestamp, which clients compare with theirs).
std::uint64_t to_wall(std::uint64_t mono_ns) {
  const std::uint64_t now_mono = monotonic_ns();
  const std::uint64_t now_wall = realtime_ns();
  return now_wall - std::min(now_wall, now_mono - std::min(now_mono, mono_ns));
}

// `size` scaled down to `width` pixels wide, aspect kept; as it is when `width` is 0 or not smaller.
cv::Size narrowed(cv::Size size, std::uint32_t width) {
  if (width == 0 || static_cast<int>(width) >= size.width) return size;
  return {static_cast<int>(width),
          std::max(1, static_cast<int>(std::lround(static_cast<double>(size.height) * width / size.width)))};
}

bool is_yuv(PixelFormat f) {
  return f == PixelFormat::nv12 || f == PixelFormat::i420 || f == PixelFormat::yuyv || f == PixelFormat::uyvy;
}

// BT.601 limited range (the camera's, and the test pattern's) to the full range a JPEG's YCbCr
// is read in: one table lookup a byte, instead of a conversion to RGB and back.
const cv::Mat& luma_to_full() {
  static const cv::Mat lut = [] {
    cv::Mat t(1, 256, CV_8U);
    for (int i = 0; i < 256; ++i) t.at<uchar>(i) = cv::saturate_cast<uchar>((i - 16) * 255.0 / 219.0);
    return t;
  }();
  return lut;
}
const cv::Mat& chroma_to_full() {
  static const cv::Mat lut = [] {
    cv::Mat t(1, 256, CV_8U);
    for (int i = 0; i < 256; ++i) t.at<uchar>(i) = cv::saturate_cast<uchar>((i - 128) * 255.0 / 224.0 + 128.0);
    return t;
  }();
  return lut;
}

// The Y, U and V planes of a raw YUV copy (cv_view()'s shape), full range; 4:2:2 for yuyv/uyvy.
void yuv_planes(const cv::Mat& raw, PixelFormat f, std::uint32_t w, std::uint32_t h, cv::Mat planes[3]) {
  const int wi = static_cast<int>(w);
  const int hi = static_cast<int>(h);
  cv::Mat y, u, v;
  if (f == PixelFormat::nv12 || f == PixelFormat::i420) {
    y = raw.rowRange(0, hi);
    const std::uint8_t* chroma = raw.ptr(hi);
    if (f == PixelFormat::nv12) {
      cv::Mat uv[2];
      cv::split(cv::Mat(hi / 2, wi / 2, CV_8UC2, const_cast<std::uint8_t*>(chroma), raw.step[0]), uv);
      u = uv[0];
      v = uv[1];
    } else {  // i420: U then V, each (h/2) x (w/2), tight, after Y (cv_view()'s I420 layout)
      const std::size_t plane = static_cast<std::size_t>(w / 2) * (h / 2);
      u = cv::Mat(hi / 2, wi / 2, CV_8UC1, const_cast<std::uint8_t*>(chroma));
      v = cv::Mat(hi / 2, wi / 2, CV_8UC1, const_cast<std::uint8_t*>(chroma + plane));
    }
  } else {  // yuyv: Y0 U Y1 V; uyvy: U Y0 V Y1 (as CV_8UC2: (luma, chroma) or (chroma, luma))
    const int luma = f == PixelFormat::yuyv ? 0 : 1;
    cv::Mat both[2];
    cv::split(raw, both);
    y = both[luma];
    cv::Mat uv[2];
    cv::split(both[1 - luma].reshape(2, hi), uv);  // U, V alternate along the row
    u = uv[0];
    v = uv[1];
  }
  cv::LUT(y, luma_to_full(), planes[0]);
  cv::LUT(u, chroma_to_full(), planes[1]);
  cv::LUT(v, chroma_to_full(), planes[2]);
}

// Packed pixels the encoder takes as they are (gray, BGR, RGB, with or without alpha), scaled to
// `width` (0 = as is); anything else converted to BGR first. False: the frame does not decode.
bool packed_picture(const viewer::Shot& shot, std::uint32_t width, cv::Mat& out, PixelFormat& format) {
  cv::Mat src;
  if (!shot.pixels.empty()) {
    src = shot.pixels;
    format = shot.pixel_format;
  } else {
    if (!to_bgr(shot.raw, shot.source_format, src)) return false;
    format = PixelFormat::bgr8;
  }
  const cv::Size size = narrowed(src.size(), width);
  if (size == src.size()) {
    out = src;
  } else {
    cv::resize(src, out, size, 0, 0, cv::INTER_AREA);
  }
  return true;
}

}  // namespace

std::shared_ptr<const Picture> encode(const viewer::Shot& shot, const Variant& v, app::Jpeg& jpeg) {
  auto p = std::make_shared<Picture>();
  p->seq = shot.seq;
  p->generation = shot.generation;
  p->capture_ns = shot.capture_ns;
  p->wall_ns = to_wall(shot.capture_ns);
  p->state = "live";
  const PixelFormat f = shot.source_format;
  const int quality = v.quality != 0 ? v.quality : kDefaultQuality;
  if (f == PixelFormat::jpeg && shot.pixels.empty() && !v.png && v.quality == 0 && v.width == 0) {
    const auto* data = reinterpret_cast<const std::byte*>(shot.raw.data);
    std::string why;
    if (!jpeg.read_header(data, shot.raw.total(), p->width, p->height, why)) return nullptr;
    p->bytes.assign(shot.raw.data, shot.raw.data + shot.raw.total());
    p->passthrough = true;
    return p;
  }
  // cv_view()'s shapes: yuyv / uyvy (h, w) 2-channel; nv12 / i420 (h * 3/2, w) 1-channel.
  const auto w = static_cast<std::uint32_t>(shot.raw.cols);
  const bool planar = f == PixelFormat::nv12 || f == PixelFormat::i420;
  const auto h = static_cast<std::uint32_t>(planar ? shot.raw.rows * 2 / 3 : shot.raw.rows);
  if (is_yuv(f) && shot.pixels.empty() && !v.png && (v.width == 0 || v.width >= w)) {
    cv::Mat planes[3];
    yuv_planes(shot.raw, f, w, h, planes);
    const std::uint8_t* ptrs[3] = {planes[0].data, planes[1].data, planes[2].data};
    const int strides[3] = {static_cast<int>(planes[0].step[0]), static_cast<int>(planes[1].step[0]),
                            static_cast<int>(planes[2].step[0])};
    jpeg.encode_yuv(ptrs, strides, w, h, f == PixelFormat::yuyv || f == PixelFormat::uyvy, quality, p->bytes);
    p->width = w;
    p->height = h;
    return p;
  }
  cv::Mat px;
  PixelFormat pf = PixelFormat::bgr8;
  if (!packed_picture(shot, v.png ? 0 : v.width, px, pf)) return nullptr;
  p->width = static_cast<std::uint32_t>(px.cols);
  p->height = static_cast<std::uint32_t>(px.rows);
  if (v.png) {
    cv::Mat bgr = px;
    if (pf == PixelFormat::rgb8) cv::cvtColor(px, bgr, cv::COLOR_RGB2BGR);
    if (pf == PixelFormat::rgba8) cv::cvtColor(px, bgr, cv::COLOR_RGBA2BGRA);
    cv::imencode(".png", bgr, p->bytes, {cv::IMWRITE_PNG_COMPRESSION, 1});
    return p;
  }
  jpeg.encode_packed(px.data, pf, p->width, p->height, px.step[0], quality, p->bytes);
  return p;
}

std::string state_text(const viewer::FeedStatus& status, std::uint64_t now_ns) {
  if (!status.fatal.empty()) return status.fatal;
  return status.banner == viewer::Banner::live ? "live" : viewer::banner_text(status, now_ns);
}

std::shared_ptr<const Picture> placeholder(const viewer::FeedStatus& status, const Variant& v, app::Jpeg& jpeg,
                                           std::uint64_t now_ns) {
  cv::Size size(640, 360);
  if (status.format.width != 0 && status.format.height != 0) {
    size = cv::Size(static_cast<int>(status.format.width), static_cast<int>(status.format.height));
  }
  if (!v.png) size = narrowed(size, v.width);
  viewer::FeedStatus shown = status;
  if (shown.banner == viewer::Banner::live) shown.banner = viewer::Banner::waiting;  // live, but no picture yet
  viewer::Tile tile{"", nullptr, shown};
  viewer::RenderOptions ro;
  ro.overlay = false;
  ro.now_ns = now_ns;
  cv::Mat canvas;
  viewer::compose({tile}, size, ro, canvas);
  auto p = std::make_shared<Picture>();
  p->state = state_text(shown, now_ns);
  p->wall_ns = realtime_ns();
  p->generation = status.generation;
  p->width = static_cast<std::uint32_t>(canvas.cols);
  p->height = static_cast<std::uint32_t>(canvas.rows);
  if (v.png) {
    cv::imencode(".png", canvas, p->bytes);
  } else {
    jpeg.encode_packed(canvas.data, PixelFormat::bgr8, p->width, p->height, canvas.step[0],
                       v.quality != 0 ? v.quality : kDefaultQuality, p->bytes);
  }
  return p;
}

}  // namespace shmframe::web
