// tests/gst/gst_check.cpp: shmframe-gst-check, the small checker the GStreamer tests
// (tests/gst/*.sh) use to compare frames without GStreamer: CRCs of raw dumps (the same CRC-32
// over tight rows as shmframe-consumer's probe), CRCs of the producer's test pattern, a
// subsequence check between two CRC lists, and PSNR of a live stream against a reference frame.
//
//   crc FILE WIDTH HEIGHT FORMAT        one CRC per frame of a raw GStreamer dump (filesink of
//                                       video/x-raw: rows at GStreamer's default stride)
//   pattern WIDTH HEIGHT FORMAT COUNT   CRCs of shmframe-producer's test pattern, frames 0..COUNT
//   subseq LIST REFERENCE               every CRC of LIST is in REFERENCE, in the same order
//                                       (REFERENCE may have more); prints how many matched
//   psnr STREAM REF WIDTH HEIGHT FORMAT FRAMES TIMEOUT_MS MIN_DB
//                                       reads FRAMES frames of STREAM (the C++ Reader), checks
//                                       their size and format, prints each one's PSNR against
//                                       REF (one raw frame as in `crc`); fails below MIN_DB
// FORMAT: gray8 | bgr8 | rgb8 | bgra8. Exit 0 when the check holds, 1 when it fails (the
// message says what differs), 2 on bad usage. Single-threaded.
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <shmframe/reader.hpp>

#include <shmframe/pattern.hpp>

namespace {

struct Geometry {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  shmframe::PixelFormat format = shmframe::PixelFormat::bgr8;
  std::size_t row_bytes() const { return std::size_t{width} * shmframe::bytes_per_pixel(format); }
  std::size_t gst_stride() const { return (row_bytes() + 3) / 4 * 4; }  // GStreamer pads rows to 4 bytes
  std::size_t gst_frame_bytes() const { return gst_stride() * height; }
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "shmframe-gst-check: " << why << "\n(see tests/gst/gst_check.cpp for the commands)\n";
  std::exit(2);
}

Geometry geometry(char** argv) {
  Geometry g;
  g.width = static_cast<std::uint32_t>(std::stoul(argv[0]));
  g.height = static_cast<std::uint32_t>(std::stoul(argv[1]));
  const auto f = shmframe::parse_pixel_format(argv[2]);
  if (!f) usage(std::string("unknown format ") + argv[2]);
  g.format = *f;
  return g;
}

std::string crc_hex(const std::uint8_t* data, std::size_t stride, std::size_t row_bytes, std::uint32_t rows) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::uint32_t y = 0; y < rows; ++y) crc = crc32(crc, data + y * stride, static_cast<uInt>(row_bytes));
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
  return hex;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    std::exit(1);
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

int cmd_crc(const std::string& path, const Geometry& g) {
  const auto data = read_file(path);
  if (data.size() % g.gst_frame_bytes() != 0) {
    std::cerr << path << ": " << data.size() << " bytes is not a whole number of " << g.gst_frame_bytes()
              << "-byte frames\n";
    return 1;
  }
  for (std::size_t off = 0; off < data.size(); off += g.gst_frame_bytes()) {
    std::cout << crc_hex(data.data() + off, g.gst_stride(), g.row_bytes(), g.height) << "\n";
  }
  return 0;
}

int cmd_pattern(const Geometry& g, std::uint64_t count) {
  const shmframe::FrameFormat f{g.width, g.height, g.format, 0};
  std::vector<std::uint8_t> m(f.frame_bytes());
  for (std::uint64_t i = 0; i <= count; ++i) {
    shmframe::fill_test_pattern(i, f, reinterpret_cast<std::byte*>(m.data()), f.row_bytes());
    std::cout << crc_hex(m.data(), f.row_bytes(), g.row_bytes(), g.height) << "\n";
  }
  return 0;
}

int cmd_subseq(const std::string& list_path, const std::string& ref_path) {
  const auto list = read_lines(list_path);
  const auto ref = read_lines(ref_path);
  std::size_t at = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    while (at < ref.size() && ref[at] != list[i]) ++at;
    if (at == ref.size()) {
      std::cerr << list_path << ": frame " << i << " (crc " << list[i] << ") is not in " << ref_path
                << " after the previous match: torn, corrupt or out of order\n";
      return 1;
    }
    ++at;
  }
  std::cout << list.size() << " frames matched\n";
  return 0;
}

double psnr(const shmframe::Frame& f, const std::vector<std::uint8_t>& ref, const Geometry& g) {
  double sum = 0;
  for (std::uint32_t y = 0; y < g.height; ++y) {
    const auto* a = reinterpret_cast<const std::uint8_t*>(f.row(y));
    const std::uint8_t* b = ref.data() + y * g.gst_stride();
    for (std::size_t x = 0; x < g.row_bytes(); ++x) {
      const double d = double(a[x]) - double(b[x]);
      sum += d * d;
    }
  }
  const double mse = sum / double(g.row_bytes() * g.height);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

int cmd_psnr(char** argv) {
  const std::string stream = argv[0];
  const auto ref = read_file(argv[1]);
  const Geometry g = geometry(argv + 2);
  const auto frames = std::stoul(argv[5]);
  const auto timeout = std::chrono::milliseconds(std::stoul(argv[6]));
  const double min_db = std::stod(argv[7]);
  if (ref.size() < g.gst_frame_bytes()) {
    std::cerr << argv[1] << ": " << ref.size() << " bytes, less than one " << g.gst_frame_bytes() << "-byte frame\n";
    return 1;
  }
  shmframe::Reader reader(stream);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  unsigned long got = 0;
  while (got < frames) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0)) {
      std::cerr << stream << ": " << got << " of " << frames << " frames within " << timeout.count() << " ms\n";
      return 1;
    }
    shmframe::Event ev = reader.wait(left);
    if (ev.kind == shmframe::EventKind::error) {
      std::cerr << stream << ": " << ev.message << "\n";
      return 1;
    }
    if (ev.kind != shmframe::EventKind::frame) continue;
    const shmframe::Frame& f = ev.frame;
    if (f.width() != g.width || f.height() != g.height || f.pixel_format() != g.format) {
      std::cerr << stream << ": frame " << f.seq() << " is " << shmframe::to_string(f.format()) << ", expected "
                << g.width << "x" << g.height << " " << shmframe::to_string(g.format) << "\n";
      return 1;
    }
    const double db = psnr(f, ref, g);
    if (!f.still_valid()) continue;  // overwritten while compared: not a verdict
    std::cout << "frame " << f.seq() << ": PSNR " << db << " dB\n";
    if (db < min_db) {
      std::cerr << stream << ": frame " << f.seq() << " has PSNR " << db << " dB against " << argv[1] << ", below "
                << min_db << " dB\n";
      return 1;
    }
    ++got;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "crc" && argc == 6) return cmd_crc(argv[2], geometry(argv + 3));
    if (cmd == "pattern" && argc == 6) return cmd_pattern(geometry(argv + 2), std::stoull(argv[5]));
    if (cmd == "subseq" && argc == 4) return cmd_subseq(argv[2], argv[3]);
    if (cmd == "psnr" && argc == 10) return cmd_psnr(argv + 2);
  } catch (const std::exception& e) {
    std::cerr << "shmframe-gst-check " << cmd << ": " << e.what() << "\n";
    return 1;
  }
  usage("bad command or argument count");
}
