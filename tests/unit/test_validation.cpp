// Every value read from shared memory is untrusted: foreign, mismatched and corrupted
// segments must give a clean, typed error (or a harmless attach), never a crash. Run under
// ASan + UBSan in CI (scripts/test.sh).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <shmframe/detail/os.hpp>
#include <shmframe/detail/segment.hpp>
#include <shmframe/layout.hpp>
#include <shmframe/shmframe.hpp>
#include <vector>

#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;

namespace {

// Writes `bytes` as the shm object of `stream`.
void plant(const std::string& stream, const std::vector<std::byte>& bytes) {
  const std::string obj = detail::segment_object(stream);
  shm_unlink(obj.c_str());
  int fd = shm_open(obj.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(bytes.size())), 0);
  if (!bytes.empty()) {
    ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  close(fd);
}

std::vector<std::byte> snapshot(const std::string& stream) {
  const std::string obj = detail::segment_object(stream);
  int fd = shm_open(obj.c_str(), O_RDONLY, 0);
  EXPECT_GE(fd, 0);
  std::vector<std::byte> out(static_cast<std::size_t>(lseek(fd, 0, SEEK_END)));
  EXPECT_EQ(pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  close(fd);
  return out;
}

// Patches one field of a live segment through a separate mapping.
template <class T>
void patch(const std::string& stream, std::size_t offset, T value) {
  int fd = shm_open(detail::segment_object(stream).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)), static_cast<ssize_t>(sizeof value));
  close(fd);
}

WriterOptions tiny() {
  WriterOptions o;
  o.format = FrameFormat{32, 8, PixelFormat::gray8, 0};
  o.slots = 2;
  o.max_consumers = 4;
  o.metadata_capacity = 16;
  return o;
}

}  // namespace

// A producer that keeps its header as it is for longer than the READY timeout: a producer of
// another version, as far as a reader can tell. (One that restores its header within a heartbeat
// was written by someone else: Hostile.*, issue 22.)
WriterOptions steady() {
  WriterOptions o = tiny();
  o.heartbeat = std::chrono::milliseconds(30000);
  return o;
}
ReaderOptions impatient() {
  ReaderOptions o;
  o.ready_timeout = std::chrono::milliseconds(50);
  return o;
}

// A segment from an older or a newer producer: refused, both versions named (the segment's and
// ours), counted, and reported by the event API as an error, not a hang.
class AbiMismatch : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(AbiMismatch, IsRejectedNamingBothVersionsAndCounted) {
  const std::uint32_t theirs = GetParam();
  testkit::StreamGuard g("abi" + std::to_string(theirs));
  Writer w(g.name(), steady());
  patch<std::uint32_t>(g.name(), offsetof(layout::SegmentHeader, abi_version), theirs);
  Reader r(g.name(), impatient());
  try {
    r.attach(200ms);
    FAIL() << "attached to a segment of ABI version " << theirs;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.value(), errc::abi_mismatch);
    EXPECT_NE(what.find("ABI version " + std::to_string(theirs)), std::string::npos) << what;
    EXPECT_NE(what.find("ABI version " + std::to_string(layout::kAbiVersion)), std::string::npos) << what;
    EXPECT_NE(what.find(g.name()), std::string::npos) << what;
    EXPECT_NE(what.find("rebuild"), std::string::npos) << what;
  }
  EXPECT_EQ(r.stats().version_mismatches, 1u);
  Event e = r.wait(200ms);
  EXPECT_EQ(e.kind, EventKind::error);
  EXPECT_EQ(e.error, errc::abi_mismatch);
  EXPECT_NE(e.message.find("ABI version " + std::to_string(theirs)), std::string::npos) << e.message;
  EXPECT_EQ(r.stats().version_mismatches, 2u);
  EXPECT_EQ(r.stats().attaches, 0u);
}

static_assert(layout::kAbiVersion == 7, "AbiMismatch's cases are the versions either side of ours");
INSTANTIATE_TEST_SUITE_P(Validation, AbiMismatch, ::testing::Values(layout::kAbiVersion - 1, layout::kAbiVersion + 1),
                         [](const auto& p) {
                           return p.param < layout::kAbiVersion ? "OlderProducerAbi" + std::to_string(p.param)
                                                                : "NewerProducerAbi" + std::to_string(p.param);
                         });

TEST(Validation, HeaderSizeMismatchIsAnAbiMismatch) {
  testkit::StreamGuard g("hsize");
  Writer w(g.name(), steady());
  patch<std::uint32_t>(g.name(), offsetof(layout::SegmentHeader, header_size), 256);
  Reader r(g.name(), impatient());
  EXPECT_THROW(r.attach(200ms), Error);
  EXPECT_EQ(r.stats().version_mismatches, 1u);
}

// Issue 22: a bad magic in the header of a stream whose producer lives (it holds the name's
// lock) was written by someone else; the producer restores it on its next heartbeat. A joiner
// waits for that instead of failing with "not a shmframe segment ... remove the object", advice
// that would have an operator delete a live stream.
TEST(Validation, ABadMagicWhileTheProducerOwnsTheNameIsWaitedOut) {
  testkit::StreamGuard g("magic");
  Writer w(g.name(), tiny());
  patch<std::uint64_t>(g.name(), 0, 0x1122334455667788ull);
  Reader r(g.name());
  try {
    r.attach(5s);
  } catch (const Error& e) {
    FAIL() << "a joiner gave up on a live producer's forged magic: " << e.what();
  }
  EXPECT_TRUE(r.attached());
  EXPECT_GE(w.stats().tampering, 1u) << "the producer restored its magic";
}

// With no live owner, a bad magic is what it says: refused at once, with the advice to remove it.
TEST(Validation, ForeignObjectsAreRejected) {
  testkit::StreamGuard g("foreign");
  plant(g.name(), std::vector<std::byte>(8192, std::byte{0x41}));
  Reader r(g.name());
  try {
    r.attach(200ms);
    FAIL() << "attached to a foreign object";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::bad_magic);
    EXPECT_NE(std::string(e.what()).find("not a shmframe segment"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("remove the object"), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.stats().bad_magic, 1u);
}

// Issue 10: a crafted 512 MiB sparse object with a valid READY header. A consumer used to
// pre-fault its holes (growing /dev/shm by 512 MiB; on a small /dev/shm, dying of SIGBUS). It is
// refused, naming the file and the fix, before anything touches the holes: the object is no
// larger afterwards than its header page.
TEST(Validation, ASparseSegmentIsRefusedBeforeItsHolesAreTouched) {
  testkit::StreamGuard g("sparse");
  detail::Geometry geo = detail::plan_geometry(g.name(), FrameFormat{8192, 8192, PixelFormat::bgra8, 0}, 2, 4, 0);
  ASSERT_GE(geo.total_size, 512ull << 20);
  layout::SegmentHeader h{};
  h.magic = layout::kMagic;
  h.abi_version = layout::kAbiVersion;
  h.header_size = sizeof h;
  h.state = static_cast<std::uint32_t>(layout::State::ready);
  h.total_size = geo.total_size;
  h.generation = 1;
  h.writer_pid = static_cast<std::int32_t>(getpid());
  h.writer_uid = geteuid();
  h.writer_start_ticks = detail::process_start_ticks(getpid());
  h.heartbeat_ns = detail::monotonic_ns();
  h.width = geo.format.width;
  h.height = geo.format.height;
  h.stride = geo.format.stride;
  h.pixel_format = static_cast<std::uint32_t>(geo.format.pixel_format);
  h.bytes_per_pixel = geo.bytes_per_pixel;
  h.slot_count = geo.slot_count;
  h.max_consumers = geo.max_consumers;
  h.metadata_capacity = geo.metadata_capacity;
  h.frame_bytes = geo.frame_bytes;
  h.slots_offset = geo.slots_offset;
  h.slot_stride = geo.slot_stride;
  h.pixel_offset = geo.pixel_offset;
  h.consumers_offset = geo.consumers_offset;
  h.consumer_stride = geo.consumer_stride;
  h.heartbeat_interval_ns = 100'000'000;
  h.plane_count = geo.format.plane_count();
  const PlaneLayout p0 = geo.format.plane(0);
  h.planes[0] = layout::PlaneEntry{p0.offset, p0.stride, p0.row_bytes, p0.rows, 0};
  const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(geo.total_size)), 0);  // holes all the way
  ASSERT_EQ(pwrite(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
  auto backed = [fd] {
    struct stat st = {};
    EXPECT_EQ(fstat(fd, &st), 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
  };
  ASSERT_LE(backed(), 64u << 10) << "precondition: the object is sparse";

  Reader r(g.name());
  try {
    r.attach(1s);
    ADD_FAILURE() << "attached to a sparse segment";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.value(), errc::corrupt) << msg;
    EXPECT_NE(msg.find(g.path()), std::string::npos) << msg;
    EXPECT_NE(msg.find("sparse"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Remove " + g.path()), std::string::npos) << msg;
  }
  EXPECT_EQ(r.stats().corrupt, 1u);
  EXPECT_LE(backed(), 64u << 10) << "the reader faulted the holes in";
  // The event API says the same, without touching it either.
  Event e = r.wait(200ms);
  EXPECT_EQ(e.kind, EventKind::error);
  EXPECT_EQ(e.error, errc::corrupt) << e.message;
  EXPECT_LE(backed(), 64u << 10);
  close(fd);
}

TEST(Validation, OffsetsOutOfRangeAreCorruptionNamingTheField) {
  testkit::StreamGuard g("offsets");
  Writer w(g.name(), tiny());
  const auto good = snapshot(g.name());
  struct Case {
    std::size_t offset;
    std::uint64_t value;
    const char* field;
  };
  const Case cases[] = {
      {offsetof(layout::SegmentHeader, slots_offset), 1ull << 40, "slots"},
      {offsetof(layout::SegmentHeader, slots_offset), 512, "slots"},  // overlaps the consumer table
      {offsetof(layout::SegmentHeader, consumers_offset), ~0ull - 10, "consumer table"},
      {offsetof(layout::SegmentHeader, slot_stride), 1ull << 62, "slot"},
      {offsetof(layout::SegmentHeader, pixel_offset), 64, "slot layout"},
      {offsetof(layout::SegmentHeader, frame_bytes), 1ull << 50, "frame_bytes"},
      {offsetof(layout::SegmentHeader, total_size), 1ull << 33, "total_size"},
      {offsetof(layout::SegmentHeader, consumer_stride), 64, "consumer_stride"},
      {offsetof(layout::SegmentHeader, heartbeat_interval_ns), 0, "heartbeat"},
      {offsetof(layout::SegmentHeader, generation), 0, "generation"},
  };
  testkit::StreamGuard bad("offsets-bad");
  for (const auto& c : cases) {
    auto bytes = good;
    std::memcpy(bytes.data() + c.offset, &c.value, sizeof c.value);
    plant(bad.name(), bytes);
    Reader r(bad.name());
    try {
      r.attach(100ms);
      ADD_FAILURE() << "accepted " << c.field << " = " << c.value;
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::corrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.field), std::string::npos) << e.what();
    }
  }
}

TEST(Validation, FuzzedSegmentsNeverCrashTheReaderOrTheWriter) {
  testkit::StreamGuard g("fuzz-src");
  std::vector<std::byte> good;
  {
    Writer w(g.name(), tiny());
    for (int i = 0; i < 3; ++i) {
      WriteSlot s = w.acquire();
      testkit::fill_pattern(s.data(), 256, static_cast<std::uint64_t>(i + 1));
      (void)w.commit(s, 1);
    }
    good = snapshot(g.name());
  }
  testkit::StreamGuard f("fuzz");
  std::mt19937_64 rng(12345);
  const int iterations = 2000;
  int attached = 0, rejected = 0;
  std::uint64_t checksum = 0;
  for (int it = 0; it < iterations; ++it) {
    auto bytes = good;
    const int mode = static_cast<int>(rng() % 6);
    if (mode == 0) {  // bit flips in the header
      for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n; ++k) {
        bytes[rng() % 512] ^= static_cast<std::byte>(1u << (rng() % 8));
      }
    } else if (mode == 1) {  // random bytes over a random header word
      const std::size_t off = (rng() % 64) * 8;
      std::uint64_t v = rng();
      std::memcpy(bytes.data() + off, &v, 8);
    } else if (mode == 2) {  // random bytes anywhere past the header (tables, slots)
      for (int k = 0; k < 64; ++k) bytes[512 + rng() % (bytes.size() - 512)] = static_cast<std::byte>(rng());
    } else if (mode == 3) {  // the object is shorter or longer than the header says
      bytes.resize(rng() % (bytes.size() * 2));
    } else if (mode == 4) {  // consumer table and slot headers full of noise
      for (std::size_t k = 512; k < std::min<std::size_t>(bytes.size(), 512 + 4 * 128 + 8192); ++k) {
        bytes[k] = static_cast<std::byte>(rng());
      }
    } else {  // extreme values in the geometry block
      const std::size_t off = 128 + (rng() % 11) * 8;
      const std::uint64_t extremes[] = {0, 1, ~0ull, 1ull << 63, 4095, 4096, static_cast<std::uint64_t>(rng())};
      std::memcpy(bytes.data() + off, &extremes[rng() % 7], 8);
    }
    plant(f.name(), bytes);
    ReaderOptions ro;
    ro.ready_timeout = 1ms;
    Reader r(f.name(), ro);
    try {
      r.attach(5ms);
      ++attached;
      for (int k = 0; k < 3; ++k) {
        Event e = r.wait(1ms);
        if (e.frame) {
          // Touch the last pixel byte: ASan flags it if the geometry let it escape the mapping.
          checksum += static_cast<std::uint8_t>(e.frame.data()[e.frame.format().frame_bytes() - 1]);
          (void)e.frame.metadata();
          (void)e.frame.still_valid();
        }
      }
      (void)r.read(rng() % 8);
      const FrameFormat fmt = r.info().format;
      std::vector<std::byte> out(static_cast<std::size_t>(fmt.row_bytes()) * fmt.height);
      (void)r.copy_latest(out.data(), fmt.row_bytes());
      (void)inspect(f.name());
    } catch (const Error& e) {
      ++rejected;
      EXPECT_FALSE(std::string(e.what()).empty());
    }
    if (it % 10 == 0) {
      // A producer must take over whatever debris it finds under its name.
      try {
        Writer w(f.name(), tiny());
        EXPECT_GE(w.generation(), 1u);
      } catch (const Error& e) {
        ADD_FAILURE() << "writer could not replace a corrupt segment: " << e.what();
      }
    }
  }
  EXPECT_EQ(attached + rejected, iterations);
  EXPECT_GT(rejected, iterations / 4);
  RecordProperty("attached", attached);
  RecordProperty("rejected", rejected);
  RecordProperty("checksum", static_cast<int>(checksum));
}

// Issue 22: a writer grew the segment (ftruncate). Joiners used to be refused ("total_size ...
// but the object is ... bytes") until the producer restarted. They attach now, never touch (nor
// pre-fault) the bytes past total_size, and /dev/shm does not grow.
TEST(Validation, AGrownObjectIsStillAttachedAndItsExtraHolesStayHoles) {
  testkit::StreamGuard g("grown");
  Writer w(g.name(), tiny());
  const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  struct stat before = {};
  ASSERT_EQ(fstat(fd, &before), 0);
  ASSERT_EQ(ftruncate(fd, before.st_size + (64 << 20)), 0);
  Reader r(g.name());
  try {
    r.attach(2s);
  } catch (const Error& e) {
    close(fd);
    FAIL() << "a grown segment was refused: " << e.what();
  }
  WriteSlot s = w.acquire();
  ASSERT_TRUE(s);
  ASSERT_TRUE(w.commit(s, monotonic_ns()));
  EXPECT_EQ(r.wait(1s).kind, EventKind::frame);
  struct stat after = {};
  ASSERT_EQ(fstat(fd, &after), 0);
  close(fd);
  EXPECT_EQ(after.st_blocks, before.st_blocks) << "the holes past total_size were touched";
}
