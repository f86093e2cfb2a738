// viewer/web/encode.hpp: shmframe-web's pictures: one validated frame (a Feed's Shot) encoded
// for one variant (quality, width, JPEG or PNG), or the placeholder of a stream that has no
// live picture. Values; encode() and placeholder() are thread-safe given their own Jpeg.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "feed.hpp"
#include "jpeg.hpp"

namespace shmframe::web {

// What a client asked for. quality 0: the default (a jpeg stream's own bytes, else
// kDefaultQuality); width 0: the frame's own (a larger one is not enlarged).
struct Variant {
  int quality = 0;
  std::uint32_t width = 0;
  bool png = false;  // lossless, full size (quality and width ignored)
  auto operator<=>(const Variant&) const = default;
};
inline constexpr int kDefaultQuality = 80;

struct Picture {
  std::vector<std::uint8_t> bytes;  // a JPEG, or a PNG
  std::uint64_t seq = 0;            // 0: a placeholder
  std::uint64_t generation = 0;
  std::uint64_t capture_ns = 0;  // CLOCK_MONOTONIC, the frame's
  std::uint64_t wall_ns = 0;     // capture_ns on CLOCK_REALTIME (X-Timestamp), or when made
  std::uint32_t width = 0, height = 0;
  bool passthrough = false;  // a jpeg frame's own bytes
  std::string state;         // "live", or the placeholder's banner text
  const char* content_type() const { return bytes.size() > 3 && bytes[1] == 'P' ? "image/png" : "image/jpeg"; }
};

// The picture of `shot` for `v`. A jpeg frame with the default variant is passed through, not
// re-encoded; nv12/i420/yuyv/uyvy are encoded from their planes (no RGB on the way) unless
// scaled. Null when the frame does not decode (a corrupt JPEG): the caller shows a placeholder.
std::shared_ptr<const Picture> encode(const viewer::Shot& shot, const Variant& v, app::Jpeg& jpeg);

// What a stream's pictures say of it: "live", else the window viewer's banner text ("waiting for
// producer", "producer lost (...)", "closed") or the reason it cannot be used. One spelling for the
// placeholders, X-Stream-State and /api/streams.
std::string state_text(const viewer::FeedStatus& status, std::uint64_t now_ns);

// A stream's placeholder: the window viewer's banner over an empty picture of `size` (the
// stream's, or 640x360 before any), saying `status`'s state.
std::shared_ptr<const Picture> placeholder(const viewer::FeedStatus& status, const Variant& v, app::Jpeg& jpeg,
                                           std::uint64_t now_ns);

}  // namespace shmframe::web
