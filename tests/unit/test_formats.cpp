// Camera-native formats (issue 19): the format table, plane layouts, their validation in a
// header written by someone else, every format through a Writer and a Reader, JPEG payloads and
// their capacity, and the test pattern's storage rule of each format pinned byte by byte.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <shmframe/detail/segment.hpp>
#include <shmframe/layout.hpp>
#include <shmframe/names.hpp>
#include <shmframe/pattern.hpp>
#include <shmframe/shmframe.hpp>
#include <vector>

#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;

namespace {

template <class T>
void patch(const std::string& stream, std::size_t offset, T value) {
  int fd = shm_open(detail::segment_object(stream).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)), static_cast<ssize_t>(sizeof value));
  close(fd);
}

WriterOptions options(FrameFormat f, std::uint32_t align = 1) {
  WriterOptions o;
  o.format = f;
  o.slots = 3;
  o.max_consumers = 4;
  o.stride_align = align;
  o.heartbeat = 30s;  // nothing restores a patched header during a test
  return o;
}

}  // namespace

TEST(Formats, EveryFormatHasOneNameThatParsesBackAndUnknownNamesListThemAll) {
  for (PixelFormat f : kPixelFormats) {
    const std::string_view name = to_string(f);
    ASSERT_NE(name, "unknown");
    EXPECT_EQ(parse_pixel_format(name), f) << name;
    EXPECT_TRUE(is_known(f));
    EXPECT_GE(plane_count(f), 1u);
  }
  EXPECT_EQ(parse_pixel_format("bayer-rggb8"), PixelFormat::bayer_rggb8);  // '-' for '_', as every option
  EXPECT_EQ(parse_pixel_format("NV12"), std::nullopt);
  EXPECT_EQ(parse_pixel_format("yuy2"), std::nullopt);
  const std::string all = pixel_format_names();
  for (PixelFormat f : kPixelFormats) EXPECT_NE(all.find(to_string(f)), std::string::npos) << all;
  testkit::StreamGuard g("badfmt");
  try {
    Writer w(g.name(), options(FrameFormat{64, 64, static_cast<PixelFormat>(99), 0}));
    ADD_FAILURE() << "accepted pixel format 99";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("nv12"), std::string::npos) << e.what();
  }
}

TEST(Formats, PlanesAreLaidOutBackToBackWithTheirOwnStrides) {
  const FrameFormat nv12{640, 480, PixelFormat::nv12, 0};
  ASSERT_EQ(nv12.plane_count(), 2u);
  EXPECT_EQ(nv12.plane(0).row_bytes, 640u);
  EXPECT_EQ(nv12.plane(1).offset, 640u * 480);
  EXPECT_EQ(nv12.plane(1).stride, 640u);
  EXPECT_EQ(nv12.plane(1).rows, 240u);
  EXPECT_EQ(nv12.frame_bytes(), 640u * 480 * 3 / 2);

  const FrameFormat i420{640, 480, PixelFormat::i420, 704};  // padded Y rows: chroma half of them
  EXPECT_EQ(i420.plane(1).offset, 704u * 480);
  EXPECT_EQ(i420.plane(1).stride, 352u);
  EXPECT_EQ(i420.plane(1).row_bytes, 320u);
  EXPECT_EQ(i420.plane(2).offset, 704u * 480 + 352u * 240);
  EXPECT_EQ(i420.frame_bytes(), 704u * 480 + 2u * 352 * 240);

  const FrameFormat yuyv{640, 480, PixelFormat::yuyv, 0};
  EXPECT_EQ(yuyv.row_bytes(), 1280u);
  EXPECT_EQ(yuyv.frame_bytes(), 1280u * 480);
  const FrameFormat depth{640, 480, PixelFormat::gray16, 0};
  EXPECT_EQ(depth.frame_bytes(), 640u * 480 * 2);
  const FrameFormat jpeg{1920, 1080, PixelFormat::jpeg, 0};
  EXPECT_EQ(jpeg.frame_bytes(), default_max_payload(1920, 1080));
  EXPECT_EQ(jpeg.plane(0).rows, 1u);
  // The same layout spelled with and without explicit defaults is the same format.
  FrameFormat explicit_nv12 = nv12;
  explicit_nv12.chroma_stride = 640;
  explicit_nv12.chroma_offset[0] = 640u * 480;
  EXPECT_EQ(explicit_nv12, nv12);
  explicit_nv12.chroma_offset[0] += 64;
  EXPECT_FALSE(explicit_nv12 == nv12);
}

TEST(Formats, LayoutsThatCannotWorkAreRefusedNamingTheFix) {
  struct Case {
    FrameFormat f;
    const char* says;
  };
  FrameFormat overlap{64, 32, PixelFormat::i420, 0};
  overlap.chroma_offset = {64 * 32, 64 * 32 + 10};  // V starts inside U
  FrameFormat thin{64, 32, PixelFormat::nv12, 0};
  thin.chroma_stride = 32;  // UV rows are 64 bytes
  FrameFormat early{64, 32, PixelFormat::nv12, 0};
  early.chroma_offset[0] = 100;  // inside the Y plane
  FrameFormat capped{64, 32, PixelFormat::jpeg, 0};
  capped.max_payload = 100;
  const Case cases[] = {
      {FrameFormat{641, 480, PixelFormat::yuyv, 0}, "even width"},
      {FrameFormat{640, 481, PixelFormat::nv12, 0}, "even height"},
      {FrameFormat{641, 480, PixelFormat::i420, 0}, "even width"},
      {FrameFormat{64, 32, PixelFormat::gray16, 100}, "stride"},
      {overlap, "overlaps"},
      {thin, "stride"},
      {early, "overlaps"},
      {capped, "max payload"},
      {FrameFormat{64, 32, PixelFormat::jpeg, 64}, "jpeg"},
  };
  testkit::StreamGuard g("badlayout");
  for (const auto& c : cases) {
    const auto why = c.f.check();
    ASSERT_TRUE(why) << to_string(c.f);
    EXPECT_NE(why->find(c.says), std::string::npos) << *why;
    EXPECT_THROW(Writer(g.name(), options(c.f)), Error) << *why;
  }
  // Odd sizes are fine where nothing is subsampled.
  EXPECT_FALSE((FrameFormat{641, 481, PixelFormat::bayer_rggb8, 0}.check()));
  EXPECT_FALSE((FrameFormat{641, 481, PixelFormat::gray16, 0}.check()));
}

// A crafted header whose planes overlap, leave the pixel area or disagree with the format is
// corrupt, named, before anything is read through it.
TEST(Formats, AHeaderWithBadPlanesIsCorruptNamingThePlane) {
  using H = layout::SegmentHeader;
  struct Case {
    std::size_t offset;
    std::uint64_t value;
    bool wide;
    const char* says;
  };
  const std::size_t plane1 = offsetof(H, planes) + sizeof(layout::PlaneEntry);
  const Case cases[] = {
      {plane1 + offsetof(layout::PlaneEntry, offset), 100, true, "plane 1"},              // inside plane 0
      {plane1 + offsetof(layout::PlaneEntry, offset), 1ull << 40, true, "plane 1"},       // past the slot
      {plane1 + offsetof(layout::PlaneEntry, stride), 16, false, "plane 1"},              // below its row
      {plane1 + offsetof(layout::PlaneEntry, rows), 1000, false, "plane 1"},              // not h / 2
      {offsetof(H, plane_count), 1, false, "plane_count"},                                // nv12 has 2
      {offsetof(H, planes) + offsetof(layout::PlaneEntry, offset), 64, true, "plane 0"},  // plane 0 at 0
      {offsetof(H, frame_bytes), 64ull * 48 - 1, true, "frame_bytes"},                    // plane 1 leaves it
      {offsetof(H, pixel_format), 10, false, "plane_count"},                              // i420 needs 3
  };
  // The header of a real nv12 stream, patched and planted under a name no producer owns.
  testkit::StreamGuard g("planes");
  std::vector<std::byte> good;
  {
    Writer w(g.name(), options(FrameFormat{64, 32, PixelFormat::nv12, 0}));
    int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    good.resize(static_cast<std::size_t>(lseek(fd, 0, SEEK_END)));
    ASSERT_EQ(pread(fd, good.data(), good.size(), 0), static_cast<ssize_t>(good.size()));
    close(fd);
  }
  testkit::StreamGuard bad("badplanes");
  for (const auto& c : cases) {
    auto bytes = good;
    if (c.wide) std::memcpy(bytes.data() + c.offset, &c.value, 8);
    else {
      const auto v = static_cast<std::uint32_t>(c.value);
      std::memcpy(bytes.data() + c.offset, &v, 4);
    }
    const std::string obj = detail::segment_object(bad.name());
    shm_unlink(obj.c_str());
    int fd = shm_open(obj.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    close(fd);
    Reader r(bad.name());
    try {
      r.attach(200ms);
      ADD_FAILURE() << "accepted " << c.says << " = " << c.value;
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::corrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
    }
  }
}

// Every raw format through a padded Writer: the Reader's planes are the Writer's, the test pattern
// drawn in place checks out on the Reader's side, and copy_to() gives the same bytes in any layout.
class EveryRawFormat : public ::testing::TestWithParam<PixelFormat> {};

TEST_P(EveryRawFormat, TravelsPlaneByPlaneThroughPaddedSlots) {
  const PixelFormat pf = GetParam();
  testkit::StreamGuard g(std::string("fmt-") + std::string(to_string(pf)));
  Writer w(g.name(), options(FrameFormat{96, 34, pf, 0}, 64));
  Reader r(g.name());
  r.attach(1s);
  for (std::uint64_t i = 0; i < 3; ++i) {
    WriteSlot s = w.acquire();
    ASSERT_TRUE(s);
    MutablePlane planes[kMaxPlanes];
    for (std::uint32_t p = 0; p < s.plane_count(); ++p) {
      planes[p] = s.plane(p);
      EXPECT_EQ(planes[p].stride % 64, 0u) << "plane " << p << " is not padded to the alignment";
    }
    fill_test_pattern(s.seq(), s.format(), std::span<const MutablePlane>(planes, s.plane_count()));
    ASSERT_TRUE(w.commit(s, monotonic_ns()));
  }
  Event e = r.wait(1s);
  ASSERT_EQ(e.kind, EventKind::frame);
  const Frame& f = e.frame;
  ASSERT_EQ(f.plane_count(), plane_count(pf));
  EXPECT_EQ(f.payload_bytes(), f.format().frame_bytes());
  PlaneView views[kMaxPlanes];
  for (std::uint32_t p = 0; p < f.plane_count(); ++p) {
    views[p] = f.plane(p);
    EXPECT_EQ(views[p].row_bytes, w.format().plane(p).row_bytes);
    EXPECT_EQ(views[p].data, f.data() + w.format().plane(p).offset);
  }
  const PatternCheck check = check_test_pattern(f.seq(), f.format(),
                                                std::span<const PlaneView>(views, f.plane_count()));
  EXPECT_TRUE(check) << "plane " << check.plane << " x " << check.x << " y " << check.y;
  // copy_to() into a tight layout: the pattern, laid out as FrameFormat{w, h, pf, row} says.
  const FrameFormat tight{96, 34, pf, 0};
  std::vector<std::byte> copy(tight.frame_bytes());
  ASSERT_TRUE(f.copy_to(copy.data(), tight.row_bytes()));
  EXPECT_TRUE(check_test_pattern(f.seq(), tight, copy.data(), tight.row_bytes()));
  // publish_planes() from that copy makes the same frame again.
  PlaneView from[kMaxPlanes];
  for (std::uint32_t p = 0; p < tight.plane_count(); ++p) {
    const PlaneLayout l = tight.plane(p);
    from[p] = {copy.data() + l.offset, l.stride, l.row_bytes, l.rows};
  }
  const std::uint64_t drawn = f.seq();
  e = Event{};  // releases f
  const CommitResult again = w.publish_planes(std::span<const PlaneView>(from, tight.plane_count()), monotonic_ns());
  ASSERT_TRUE(again) << to_string(again.status);
  Frame f2 = r.read(again.seq);
  ASSERT_TRUE(f2);
  EXPECT_TRUE(check_test_pattern(drawn, f2.format(), f2.data(), f2.stride()));
  // A plane of the wrong shape is refused, not copied.
  from[0].rows -= 1;
  EXPECT_EQ(w.publish_planes(std::span<const PlaneView>(from, tight.plane_count()), 0).status,
            CommitStatus::format_mismatch);
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryRawFormat,
                         ::testing::Values(PixelFormat::gray8, PixelFormat::gray16, PixelFormat::bgr8,
                                           PixelFormat::rgb8, PixelFormat::bgra8, PixelFormat::rgba8, PixelFormat::yuyv,
                                           PixelFormat::uyvy, PixelFormat::nv12, PixelFormat::i420,
                                           PixelFormat::bayer_rggb8, PixelFormat::bayer_bggr8, PixelFormat::bayer_grbg8,
                                           PixelFormat::bayer_gbrg8),
                         [](const auto& p) { return std::string(to_string(p.param)); });

TEST(Formats, AJpegIsItsOwnSizeAndNeverTruncated) {
  testkit::StreamGuard g("jpeg");
  FrameFormat f{64, 32, PixelFormat::jpeg, 0};
  f.max_payload = 4096;
  Writer w(g.name(), options(f));
  EXPECT_EQ(w.format().frame_bytes(), 4096u);
  Reader r(g.name());
  r.attach(1s);
  std::vector<std::byte> jpeg(1000);
  for (std::size_t i = 0; i < jpeg.size(); ++i) jpeg[i] = static_cast<std::byte>(i * 7);
  const CommitResult ok = w.publish_payload(jpeg, monotonic_ns());
  ASSERT_TRUE(ok) << to_string(ok.status);
  Frame frame = r.read(ok.seq);
  ASSERT_TRUE(frame);
  ASSERT_EQ(frame.payload_bytes(), 1000u);
  EXPECT_EQ(std::memcmp(frame.payload().data(), jpeg.data(), 1000), 0);
  EXPECT_EQ(frame.plane(0).row_bytes, 1000u);
  std::vector<std::byte> copy(1000);
  EXPECT_TRUE(frame.copy_to(copy.data(), copy.size()));
  EXPECT_EQ(copy, jpeg);
  EXPECT_FALSE(frame.copy_to(copy.data(), 999)) << "a destination smaller than the payload";
  frame.release();

  // Over the capacity: refused with a status naming the fix; nothing published.
  std::vector<std::byte> big(4097);
  const CommitResult refused = w.publish_payload(big, monotonic_ns());
  EXPECT_EQ(refused.status, CommitStatus::payload_too_large);
  EXPECT_NE(std::string(explain(refused.status)).find("--max-payload"), std::string::npos);
  EXPECT_EQ(w.stats().last_seq, ok.seq);
  WriteSlot s = w.acquire();
  ASSERT_TRUE(s);
  EXPECT_EQ(s.capacity(), 4096u);
  EXPECT_EQ(w.commit(s, 0).status, CommitStatus::payload_missing);
  s.set_payload_bytes(5000);
  EXPECT_EQ(w.commit(s, 0).status, CommitStatus::payload_too_large);
  s.set_payload_bytes(10);
  EXPECT_TRUE(w.commit(s, 0));
  // Raw-only calls refuse a jpeg stream.
  const std::uint8_t px[64 * 32] = {};
  EXPECT_EQ(w.publish(ImageView{px, 64, 64, 32, 1}, 0).status, CommitStatus::format_mismatch);
}

// payload_bytes is untrusted: a forged value beyond the capacity is clamped, never read past.
TEST(Formats, AForgedPayloadSizeIsClampedToTheCapacity) {
  testkit::StreamGuard g("jpeg-forged");
  FrameFormat f{64, 32, PixelFormat::jpeg, 0};
  f.max_payload = 4096;
  Writer w(g.name(), options(f));
  Reader r(g.name());
  r.attach(1s);
  const std::vector<std::byte> jpeg(100);
  const CommitResult ok = w.publish_payload(jpeg, monotonic_ns());
  ASSERT_TRUE(ok);
  Frame frame = r.read(ok.seq);
  ASSERT_TRUE(frame);
  frame.release();
  // Find the slot that holds it and forge its payload_bytes.
  const auto info = r.info();
  std::uint64_t base = 0;
  {
    int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    layout::SegmentHeader h{};
    ASSERT_EQ(pread(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
    for (std::uint32_t i = 0; i < h.slot_count; ++i) {
      std::uint64_t state = 0;
      const std::uint64_t at = h.slots_offset + i * h.slot_stride;
      ASSERT_EQ(pread(fd, &state, sizeof state, static_cast<off_t>(at)), 8);
      if (state == layout::slot_committed(ok.seq)) base = at;
    }
    close(fd);
  }
  ASSERT_NE(base, 0u);
  patch<std::uint64_t>(g.name(), base + offsetof(layout::SlotHeader, payload_bytes), 1ull << 40);
  Frame again = r.read(ok.seq);
  ASSERT_TRUE(again);
  EXPECT_EQ(again.payload_bytes(), info.format.frame_bytes());
}

// The storage rules of pattern.hpp, pinned on a few pixels: what a checker in another language
// must reproduce.
TEST(Formats, ThePatternStoresEachFormatAsDocumented) {
  const std::uint32_t W = 640, H = 480;
  const std::uint64_t seq = 5;
  std::vector<std::uint8_t> bgr(W * 3);
  auto fill = [&](PixelFormat pf) {
    const FrameFormat f{W, H, pf, 0};
    std::vector<std::byte> out(f.frame_bytes());
    fill_test_pattern(seq, f, out.data(), f.row_bytes());
    return out;
  };
  auto at = [](const std::vector<std::byte>& v, std::size_t i) { return static_cast<int>(v[i]); };
  // Row 100 of the picture, pixels 320 and 321 (gradient: B = x * 255 / 639, G = 100 * 255 / 479, R = 128).
  test_pattern_bgr_row(seq, W, H, 100, bgr.data());
  const int b0 = bgr[320 * 3], g0 = bgr[320 * 3 + 1], r0 = bgr[320 * 3 + 2];
  const int b1 = bgr[321 * 3], g1 = bgr[321 * 3 + 1], r1 = bgr[321 * 3 + 2];
  ASSERT_EQ(b0, 320 * 255 / 639);
  ASSERT_EQ(g0, 100 * 255 / 479);
  ASSERT_EQ(r0, 128);
  const auto Y = [](int b, int g, int r) { return (66 * r + 129 * g + 25 * b + 4224) >> 8; };
  const auto U = [](int b, int g, int r) { return (112 * b - 38 * r - 74 * g + 32896) >> 8; };
  const auto V = [](int b, int g, int r) { return (112 * r - 94 * g - 18 * b + 32896) >> 8; };
  const std::size_t yuyv_at = 100u * W * 2 + 320 * 2;
  const auto yuyv = fill(PixelFormat::yuyv);
  EXPECT_EQ(at(yuyv, yuyv_at + 0), Y(b0, g0, r0));
  EXPECT_EQ(at(yuyv, yuyv_at + 1), U(b0, g0, r0));
  EXPECT_EQ(at(yuyv, yuyv_at + 2), Y(b1, g1, r1));
  EXPECT_EQ(at(yuyv, yuyv_at + 3), V(b0, g0, r0));
  const auto uyvy = fill(PixelFormat::uyvy);
  EXPECT_EQ(at(uyvy, yuyv_at + 0), U(b0, g0, r0));
  EXPECT_EQ(at(uyvy, yuyv_at + 1), Y(b0, g0, r0));
  // nv12: chroma of block (320, 100) is in UV row 50 at byte 320.
  const auto nv12 = fill(PixelFormat::nv12);
  EXPECT_EQ(at(nv12, 100u * W + 320), Y(b0, g0, r0));
  EXPECT_EQ(at(nv12, W * H + 50u * W + 320), U(b0, g0, r0));
  EXPECT_EQ(at(nv12, W * H + 50u * W + 321), V(b0, g0, r0));
  const auto i420 = fill(PixelFormat::i420);
  EXPECT_EQ(at(i420, W * H + 50u * (W / 2) + 160), U(b0, g0, r0));
  EXPECT_EQ(at(i420, W * H + (W / 2) * (H / 2) + 50u * (W / 2) + 160), V(b0, g0, r0));
  // gray16: little-endian luma * 256 + (x + y) mod 256.
  const auto g16 = fill(PixelFormat::gray16);
  const int luma = (114 * b0 + 587 * g0 + 299 * r0 + 500) / 1000;
  EXPECT_EQ(at(g16, 100u * W * 2 + 320 * 2), (320 + 100) % 256);
  EXPECT_EQ(at(g16, 100u * W * 2 + 320 * 2 + 1), luma);
  // Bayer: row 100 is even; rggb: R at even x, G at odd x; bggr: B, G; grbg: G, R; gbrg: G, B.
  EXPECT_EQ(at(fill(PixelFormat::bayer_rggb8), 100u * W + 320), r0);
  EXPECT_EQ(at(fill(PixelFormat::bayer_rggb8), 100u * W + 321), g1);
  EXPECT_EQ(at(fill(PixelFormat::bayer_bggr8), 100u * W + 320), b0);
  EXPECT_EQ(at(fill(PixelFormat::bayer_grbg8), 100u * W + 321), r1);
  EXPECT_EQ(at(fill(PixelFormat::bayer_gbrg8), 100u * W + 321), b1);
  // rgba8: R, G, B, 255.
  const auto rgba = fill(PixelFormat::rgba8);
  EXPECT_EQ(at(rgba, 100u * W * 4 + 320 * 4 + 0), r0);
  EXPECT_EQ(at(rgba, 100u * W * 4 + 320 * 4 + 3), 255);
}

// --status, --list and Python's status() show the plane layout and the capacity.
TEST(Formats, StreamFieldsNameThePlanes) {
  testkit::StreamGuard g("fields");
  Writer w(g.name(), options(FrameFormat{64, 32, PixelFormat::nv12, 0}, 128));
  Reader r(g.name());
  r.attach(1s);
  std::string planes;
  std::uint64_t frame_bytes = 0;
  for (const auto& [key, value] : fields(r.info())) {
    if (key == "planes") planes = std::get<std::string>(value);
    if (key == "frame_bytes") frame_bytes = std::get<std::uint64_t>(value);
  }
  EXPECT_EQ(planes, "at 0: 32 rows of 64 bytes, stride 128; at 4096: 16 rows of 64 bytes, stride 128");
  EXPECT_EQ(frame_bytes, 128u * 48);
}
