// samples/recorder/recorder.cpp: shmframe-record, a lossless consumer that records a stream to a
// video file with cv::VideoWriter (MJPG in .avi by default: OpenCV's built-in AVI writer, no
// codec packages needed). A jpeg stream (a camera's MJPEG) is stored as it comes, each frame's
// bytes unchanged, through GStreamer's avimux (jpeg_avi.hpp), when built with GStreamer.
//   shmframe-record --name cam0 --output cam0.avi [--fps 30] [--frames N] [--fourcc MJPG] [--follow]
//
// - Every frame, in order (Delivery::lossless): the producer waits for us up to its max block
//   (--max-block-ms, default 100 ms) and demotes us if we are slower; demotions and the frames
//   lost to them are printed at exit.
// - Ends cleanly (the file is finalized and playable) on Ctrl-C / SIGTERM, after --frames N, or
//   when the producer closes the stream (unless --follow).
// - Generation changes: the same frame size records on into the same file (a producer restart
//   is a cut in the video); a new size closes the file and starts NAME-2.avi, NAME-3.avi, ...
//   because a video file has one frame size.
// - Frames are written at a constant --fps (the stream's own timing is not kept).
// Exit codes: 0 done, 1 the stream failed, 2 bad arguments or the output cannot be written.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <opencv2/videoio.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

#include <shmframe/opencv_convert.hpp>

#ifdef SHMFRAME_RECORD_GST
#include "jpeg.hpp"  // common/: the header check of stored JPEGs
#include "jpeg_avi.hpp"
#endif

namespace {

struct Options {
  std::string name, output, fourcc = "MJPG";
  double fps = 30;
  std::uint64_t frames = 0;
  bool follow = false;
};

void log_line(const std::string& msg) { std::fprintf(stderr, "shmframe-record: %s\n", msg.c_str()); }

// "out.avi" -> "out-2.avi": the file for the n-th frame size of a recording.
std::string part_path(const std::string& base, int part) {
  if (part == 1) return base;
  const std::size_t slash = base.rfind('/');
  const std::size_t dot = base.rfind('.');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
  // Appends, not operator+ on temporaries: GCC 12 at -O3 warns (-Wrestrict) inside the latter.
  std::string out = has_ext ? base.substr(0, dot) : base;
  out.append("-").append(std::to_string(part));
  if (has_ext) out.append(base, dot, std::string::npos);
  return out;
}

// Fails early, before waiting for a stream, if `path` cannot be created or written.
bool check_writable(const std::string& path, std::string& why) {
  struct stat st {};
  const bool existed = ::stat(path.c_str(), &st) == 0;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    why = "cannot write '" + path + "': " + std::strerror(err) +
          (err == ENOENT   ? " (create its directory first, or give --output a path in an existing one)"
           : err == EACCES ? " (no permission: choose a directory you can write, e.g. --output /tmp/out.avi)"
           : err == EISDIR ? " (that is a directory: give a file name, e.g. --output " + path + "/out.avi)"
                           : " (give --output a writable file path)");
    return false;
  }
  ::close(fd);
  if (!existed) ::unlink(path.c_str());  // created only to check: the writer creates it on the first frame
  return true;
}

// Why a stream of `format` is re-encoded rather than stored as it comes ("" = stored as is: a
// jpeg stream, MJPG asked for, and a GStreamer AVI writer built in).
std::string why_reencode(const shmframe::FrameFormat& format, const std::string& fourcc) {
  if (format.pixel_format != shmframe::PixelFormat::jpeg) return "raw frames";
  if (fourcc != "MJPG") return "--fourcc " + fourcc + " is not the stream's codec (MJPG)";
#ifdef SHMFRAME_RECORD_GST
  using shmframe::record::JpegAvi;
  const auto in_range = [](std::uint32_t v) { return v >= JpegAvi::kMinSide && v <= JpegAvi::kMaxSide; };
  if (!in_range(format.width) || !in_range(format.height))
    return "GStreamer's avimux takes 16 to 4096 pixels a side, not " + std::to_string(format.width) + "x" +
           std::to_string(format.height);
  return {};
#else
  return "built without GStreamer's app library (install libgstreamer-plugins-base1.0-dev and rebuild)";
#endif
}

class Recorder final : public shmframe::Processor {
 public:
  Recorder(const Options& o, std::atomic<bool>& stop) : opt_(o), stop_(stop) {}

  void on_attached(const shmframe::StreamInfo& info) override {
    const shmframe::FrameFormat& f = info.format;
    const std::string reencode = why_reencode(f, opt_.fourcc);
    const bool passthrough = reencode.empty();
    const cv::Size size(static_cast<int>(f.width), static_cast<int>(f.height));
    const std::string what = "generation " + std::to_string(info.generation) + " (" + shmframe::to_string(f) + ")";
    if (file_open() && size == size_ && passthrough == passthrough_) {
      log_line(what + ": same size, recording on into " + path_);
      return;
    }
    if (file_open()) {
      finish_file();
      ++part_;
      log_line(what + (size != size_ ? " has a new frame size" : " changes between stored and re-encoded frames") +
               ": starting a new file");
    }
    open(f, passthrough);
    if (!file_open()) return;
    log_line("recording '" + opt_.name + "' " + what + " to " + path_ +
             (passthrough ? ": JPEG frames stored as they come"
              : f.pixel_format == shmframe::PixelFormat::jpeg
                  ? ": JPEG frames decoded and re-encoded (" + reencode + ")"
                  : ""));
  }

  bool on_frame(const shmframe::Input& input, shmframe::Output&) override {
    if (!file_open()) return true;  // the open failed: run() stops at once (stop_ is set)
    const Result r = passthrough_ ? store(input) : encode(input);
    if (r == Result::overwritten) {  // only after a demotion: a lossless frame is never overwritten
      ++overwritten_;
      return false;
    }
    if (r == Result::written) {
      if (written_ == 0) first_seq_ = input.seq();
      last_seq_ = input.seq();
      ++written_;
      ++file_frames_;
    }
    return true;
  }

  void on_producer_lost(const shmframe::StreamInfo&, std::string_view why) override {
    log_line(std::string(why) + "; the file stays open for a new producer (Ctrl-C to finish it)");
  }

  void on_idle(const shmframe::RunStatus&) override {
    if (file_open() && written_ != last_progress_) {
      last_progress_ = written_;
      log_line("progress: " + std::to_string(written_) + " frames");
    }
  }

  // Finalizes the open file (writes the AVI index); the destructor does it too.
  void finish_file() {
    if (!file_open()) return;
    writer_.release();
#ifdef SHMFRAME_RECORD_GST
    if (std::string why; !avi_.close(why)) fail(path_ + ": " + why);
#endif
    files_.push_back(path_ + " (" + std::to_string(file_frames_) + " frames)");
    file_frames_ = 0;
  }

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::uint64_t written() const { return written_; }
  std::uint64_t overwritten() const { return overwritten_; }
  std::uint64_t undecodable() const { return undecodable_; }
  std::uint64_t first_seq() const { return first_seq_; }
  std::uint64_t last_seq() const { return last_seq_; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  enum class Result { written, skipped, overwritten };

  bool file_open() const {
#ifdef SHMFRAME_RECORD_GST
    if (avi_.is_open()) return true;
#endif
    return writer_.isOpened();
  }

  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);  // the first failure is the one to report
    stop_.store(true);
  }

  // Any format to BGR, then the VideoWriter's codec (a jpeg stream is decoded here). A frame
  // that does not decode (a corrupt JPEG) is skipped and counted.
  Result encode(const shmframe::Input& input) {
    if (!shmframe::to_bgr(input.mat(), input.pixel_format(), bgr_)) {
      ++undecodable_;
      return Result::skipped;
    }
    if (!input.still_valid()) return Result::overwritten;
    if (bgr_.size() != size_) return Result::skipped;  // cannot happen: a new size is a new generation
    writer_.write(bgr_);
    return Result::written;
  }

  // A JPEG's bytes, unchanged, once the copy is known intact and a JPEG of the stream's size.
  Result store([[maybe_unused]] const shmframe::Input& input) {
#ifdef SHMFRAME_RECORD_GST
    bool torn = false;
    const auto accept = [&](const std::byte* data, std::size_t size) {
      if (!input.still_valid()) {
        torn = true;
        return false;
      }
      std::uint32_t w = 0;
      std::uint32_t h = 0;
      std::string why;
      return jpeg_.read_header(data, size, w, h, why) && w == input.format().width && h == input.format().height;
    };
    const auto payload = input.payload();
    std::string why;
    switch (avi_.write(payload.data(), payload.size(), accept, why)) {
      case shmframe::record::JpegAvi::Write::appended: return Result::written;
      case shmframe::record::JpegAvi::Write::failed: fail(path_ + ": " + why); return Result::skipped;
      case shmframe::record::JpegAvi::Write::refused: break;
    }
    if (torn) return Result::overwritten;
    ++undecodable_;
#endif
    return Result::skipped;
  }

  void open(const shmframe::FrameFormat& f, bool passthrough) {
    path_ = part_path(opt_.output, part_);
    const cv::Size size(static_cast<int>(f.width), static_cast<int>(f.height));
    size_ = size;
    passthrough_ = passthrough;
#ifdef SHMFRAME_RECORD_GST
    if (passthrough) {
      if (std::string why; !avi_.open(path_, f.width, f.height, opt_.fps, why)) fail(why);
      return;
    }
#endif
    const auto& c = opt_.fourcc;
    if (!writer_.open(path_, cv::VideoWriter::fourcc(c[0], c[1], c[2], c[3]), opt_.fps, size, true)) {
      fail("cannot open '" + path_ + "' for writing as " + c + " video at " + std::to_string(size.width) + "x" +
           std::to_string(size.height) +
           ": OpenCV has no writer for this codec and file type (use a .avi file "
           "with --fourcc MJPG, which OpenCV writes without extra packages)");
    }
  }

  Options opt_;
  std::atomic<bool>& stop_;
  cv::VideoWriter writer_;
#ifdef SHMFRAME_RECORD_GST
  shmframe::record::JpegAvi avi_;
  shmframe::app::Jpeg jpeg_;  // reads each stored JPEG's header
#endif
  bool passthrough_ = false;
  cv::Size size_;
  std::string path_, error_;
  int part_ = 1;
  cv::Mat bgr_;
  std::uint64_t written_ = 0, file_frames_ = 0, overwritten_ = 0, undecodable_ = 0, first_seq_ = 0, last_seq_ = 0,
                last_progress_ = 0;
  std::vector<std::string> files_;
};

int usage(const char* why) {
  std::fprintf(
      stderr,
      "shmframe-record: %s\n"
      "usage: shmframe-record --name STREAM --output FILE.avi [--fps 30] [--frames N] [--fourcc MJPG] [--follow]\n"
      "  --fps F      frame rate written into the file (default 30)\n"
      "  --frames N   stop after N frames (default: until Ctrl-C or the stream closes)\n"
      "  --fourcc C   four-character codec (default MJPG: a jpeg stream is then stored as it comes)\n"
      "  --follow     keep recording when the producer closes the stream (wait for a new one)\n",
      why);
  return 2;
}

// Parses the command line into `o`; returns the error, empty if none.
std::string parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--follow") {
      o.follow = true;
      continue;
    }
    if (a != "--name" && a != "--output" && a != "--fps" && a != "--frames" && a != "--fourcc")
      return "unknown option " + a;
    if (i + 1 >= argc) return a + " needs a value";
    const std::string v = argv[++i];
    char* end = nullptr;
    if (a == "--name") o.name = v;
    else if (a == "--output") o.output = v;
    else if (a == "--fourcc") o.fourcc = v;
    else if (a == "--fps") {
      o.fps = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(o.fps > 0 && o.fps <= 1000))
        return "--fps must be a number in (0, 1000]";
    } else {
      o.frames = std::strtoull(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || v[0] == '-') return "--frames must be a count (0 = no limit)";
    }
  }
  if (o.name.empty()) return "--name is required";
  if (o.output.empty()) return "--output is required";
  if (o.fourcc.size() != 4) return "--fourcc must be four characters, e.g. MJPG";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (const std::string err = parse(argc, argv, opt); !err.empty()) return usage(err.c_str());
  if (std::string why; !check_writable(opt.output, why)) {
    log_line(why);
    return 2;
  }

  std::atomic<bool> stop{false};
  Recorder rec(opt, stop);
  shmframe::RunOptions ro;
  ro.max_frames = opt.frames;
  ro.exit_on_close = !opt.follow;
  ro.stop = &stop;  // set by the recorder when the file cannot be opened; run() handles SIGINT/SIGTERM itself
  ro.log = [](shmframe::LogLevel, const std::string& m) { log_line(m); };
  shmframe::RunResult r;
  try {
    shmframe::ReaderOptions rdo;
    rdo.delivery = shmframe::Delivery::lossless;
    rdo.log = ro.log;
    shmframe::Reader reader(opt.name, rdo);
    log_line("waiting for stream '" + opt.name + "' (Ctrl-C to stop)");
    r = shmframe::run(reader, rec, ro);
  } catch (const shmframe::Error& e) {  // an invalid stream name
    log_line(e.what());
    return 2;
  }
  // A second Ctrl-C while the AVI index is written would cut the file: finish first.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  rec.finish_file();

  std::string files;
  for (const auto& f : rec.files()) files += (files.empty() ? "" : ", ") + f;
  const auto& s = r.status.reader;
  std::printf(
      "wrote %llu frames (seq %llu..%llu) to %s; %llu dropped, %llu demotions, %llu overwritten, %llu undecodable; "
      "ended: %s\n",
      static_cast<unsigned long long>(rec.written()), static_cast<unsigned long long>(rec.first_seq()),
      static_cast<unsigned long long>(rec.last_seq()), files.empty() ? "no file" : files.c_str(),
      static_cast<unsigned long long>(s.drops), static_cast<unsigned long long>(s.demotions),
      static_cast<unsigned long long>(rec.overwritten()), static_cast<unsigned long long>(rec.undecodable()),
      std::string(shmframe::to_string(r.end)).c_str());
  std::fflush(stdout);
  if (rec.failed()) {
    log_line(rec.error());
    return 2;
  }
  if (r.end == shmframe::RunEnd::error) {
    log_line(r.message);
    return 1;
  }
  return 0;
}
