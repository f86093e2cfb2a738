// shmframe::run(): the processing loop (wait, dispatch, output, origin, signals) over a Reader.
#include "shmframe/processor.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "shmframe/clock.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {

ParsedMetadata parse_metadata(std::span<const std::byte> metadata) {
  ParsedMetadata p;
  p.user = metadata;
  layout::OriginRecord r{};
  if (metadata.size() < sizeof r) return p;
  std::memcpy(&r, metadata.data(), sizeof r);  // the bytes are in shared memory: copy, then check
  if (r.magic != layout::kOriginMagic || r.size != sizeof r || r.stream_length == 0 ||
      r.stream_length > sizeof r.stream) {
    return p;
  }
  Origin o;
  o.stream.assign(r.stream, r.stream_length);
  if (check_stream_name(o.stream)) return p;  // not a stream name: not a record of ours
  o.seq = r.seq;
  o.generation = r.generation;
  o.capture_ns = r.capture_ns;
  o.hops = r.hops;
  p.origin = std::move(o);
  p.user = metadata.subspan(sizeof r);
  return p;
}

bool write_origin_record(const Origin& o, std::span<std::byte> out) noexcept {
  static_assert(sizeof(layout::OriginRecord) == kOriginRecordSize);
  layout::OriginRecord r{};
  if (out.size() < sizeof r || o.stream.empty() || o.stream.size() > sizeof r.stream) return false;
  r.magic = layout::kOriginMagic;
  r.size = sizeof r;
  r.seq = o.seq;
  r.generation = o.generation;
  r.capture_ns = o.capture_ns;
  r.hops = o.hops;
  r.stream_length = static_cast<std::uint32_t>(o.stream.size());
  std::memcpy(r.stream, o.stream.data(), o.stream.size());
  std::memcpy(out.data(), &r, sizeof r);
  return true;
}

std::string_view to_string(RunEnd e) noexcept {
  switch (e) {
    case RunEnd::frames_done: return "frames_done";
    case RunEnd::stopped: return "stopped";
    case RunEnd::closed: return "closed";
    case RunEnd::timed_out: return "timed_out";
    case RunEnd::error: return "error";
  }
  return "unknown";
}

namespace {

std::atomic<int> g_run_signal{0};  // lock-free: set from the handler
static_assert(std::atomic<int>::is_always_lock_free);
void on_run_signal(int sig) { g_run_signal.store(sig, std::memory_order_relaxed); }

// SIGINT / SIGTERM handlers for the duration of run(), the previous ones restored after.
class SignalScope {
 public:
  explicit SignalScope(bool on) : on_(on) {
    if (!on_) return;
    g_run_signal.store(0, std::memory_order_relaxed);
    struct sigaction sa{};
    sa.sa_handler = on_run_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the reader's futex wait returns EINTR at once
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalScope() {
    if (!on_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
  bool fired() const noexcept { return on_ && g_run_signal.load(std::memory_order_relaxed) != 0; }

 private:
  bool on_;
  struct sigaction old_int_{}, old_term_{};
};

// The stage's output stream: created at the first acquire, reconfigured on a format change.
class StageOutput final : public Output {
 public:
  StageOutput(const RunOptions& o, RunStatus& status) : opt_(o), status_(status) {}

  void set_input(const Origin* origin, std::uint64_t capture_ns) noexcept {
    origin_ = origin;
    capture_ns_ = capture_ns;
    slot_ = WriteSlot{};
  }
  void abandon() noexcept { slot_ = WriteSlot{}; }
  const std::string& failure() const noexcept { return failure_; }

  bool enabled() const noexcept override { return !opt_.output.empty() && failure_.empty(); }

  OutputBuffer acquire(const FrameFormat& format) noexcept override {
    if (!enabled()) return {};
    slot_ = WriteSlot{};
    FrameFormat f = format;
    f.stride = 0;  // the stream's own padding (output_options.stride_align)
    try {
      if (!writer_) {
        WriterOptions wo = opt_.output_options;
        wo.format = f;
        wo.metadata_capacity += static_cast<std::uint32_t>(kOriginRecordSize);
        if (!wo.log) wo.log = opt_.log;
        writer_ = std::make_unique<Writer>(opt_.output, wo);
      } else if (!(FrameFormat{writer_->format().width, writer_->format().height, writer_->format().pixel_format, 0} == f)) {
        writer_->reconfigure(f);
      }
    } catch (const Error& e) {
      failure_ = e.what();  // ends the run: a stage that cannot publish is not a stage
      return {};
    }
    slot_ = writer_->acquire();
    if (!slot_) return {};
    return OutputBuffer{slot_.data(), slot_.format()};
  }

  bool commit(std::span<const std::byte> metadata) noexcept override {
    if (!slot_ || writer_ == nullptr || origin_ == nullptr) return false;
    const std::size_t cap = writer_->metadata_capacity();
    if (kOriginRecordSize + metadata.size() > cap) return false;
    buffer_.resize(kOriginRecordSize + metadata.size());
    Origin next = *origin_;
    ++next.hops;
    if (!write_origin_record(next, buffer_)) return false;
    if (!metadata.empty()) std::memcpy(buffer_.data() + kOriginRecordSize, metadata.data(), metadata.size());
    const CommitResult r = writer_->commit(slot_, capture_ns_, buffer_);
    if (r) ++status_.published;
    return static_cast<bool>(r);
  }

 private:
  const RunOptions& opt_;
  RunStatus& status_;
  std::unique_ptr<Writer> writer_;
  WriteSlot slot_;
  const Origin* origin_ = nullptr;
  std::uint64_t capture_ns_ = 0;
  std::vector<std::byte> buffer_;
  std::string failure_;
};

void log_to(const LogCallback& log, LogLevel level, const std::string& msg) noexcept {
  if (!log) return;
  try {
    log(level, msg);
  } catch (...) {  // a throwing log callback must not end the run
  }
}

}  // namespace

RunResult run(Reader& reader, Processor& processor, const RunOptions& opt) {
  RunResult result;
  RunStatus& st = result.status;
  SignalScope signals(opt.handle_signals);
  StageOutput output(opt, st);
  const std::uint64_t idle_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.idle_period).count());
  const std::uint64_t timeout_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.idle_timeout).count());
  std::uint64_t last_frame = monotonic_ns();
  std::uint64_t next_idle = last_frame + idle_ns;
  std::uint64_t dropped = 0;
  bool announced_wait = false;
  Origin origin;
  auto finish = [&](RunEnd end, std::string message = {}) {
    result.end = end;
    result.message = std::move(message);
    st.reader = reader.stats();
    st.stream = reader.info();
    st.now_ns = monotonic_ns();
    return result;
  };
  // Calls into the user's code; a throw is logged and counted, never propagated.
  auto guarded = [&](const char* what, auto&& call) {
    try {
      call();
      return true;
    } catch (const std::exception& e) {
      ++st.errors;
      log_to(opt.log, LogLevel::error, std::string("processor ") + what + " failed: " + e.what());
    } catch (...) {
      ++st.errors;
      log_to(opt.log, LogLevel::error, std::string("processor ") + what + " failed (unknown exception)");
    }
    return false;
  };

  for (;;) {
    if (signals.fired() || (opt.stop != nullptr && opt.stop->load(std::memory_order_relaxed))) {
      return finish(RunEnd::stopped);
    }
    std::uint64_t now = monotonic_ns();
    std::uint64_t until = next_idle;
    if (timeout_ns != 0) until = std::min(until, last_frame + timeout_ns);
    Event ev = reader.wait(std::chrono::nanoseconds(until > now ? until - now : 0));
    now = monotonic_ns();
    switch (ev.kind) {
      case EventKind::frame: {
        dropped += ev.dropped;
        last_frame = now;
        const Frame& f = ev.frame;
        const ParsedMetadata md = parse_metadata(f.metadata());
        if (md.origin) {
          origin = *md.origin;
        } else {
          origin = Origin{reader.name(), f.seq(), f.generation(), f.capture_ns(), 0};
        }
        const Input in(f.data(), f.format(), f.seq(), f.generation(), f.capture_ns(), f.commit_ns(), md.user, &origin,
                       now, dropped, [](const void* c) noexcept { return static_cast<const Frame*>(c)->still_valid(); },
                       &f);
        output.set_input(&origin, origin.capture_ns);
        bool accepted = false;
        if (guarded("on_frame", [&] { accepted = processor.on_frame(in, output); })) {
          if (accepted) ++st.processed;
          else ++st.discarded;
        }
        output.abandon();  // an acquired, uncommitted buffer is dropped
        ev.frame.release();
        if (!output.failure().empty()) return finish(RunEnd::error, "output stream '" + opt.output + "': " + output.failure());
        if (opt.max_frames != 0 && st.processed >= opt.max_frames) return finish(RunEnd::frames_done);
        break;
      }
      case EventKind::attached:
        guarded("on_attached", [&] { processor.on_attached(reader.info()); });
        break;
      case EventKind::producer_lost:
        log_to(opt.log, LogLevel::warn, ev.message);
        guarded("on_producer_lost", [&] { processor.on_producer_lost(reader.info(), ev.message); });
        break;
      case EventKind::closed:
        guarded("on_closed", [&] { processor.on_closed(ev.generation); });
        if (opt.exit_on_close) return finish(RunEnd::closed);
        break;
      case EventKind::error:
        if (ev.error == errc::init_timeout || ev.error == errc::creator_died) {
          log_to(opt.log, LogLevel::warn, ev.message);  // a new producer will replace it: keep waiting
          break;
        }
        return finish(RunEnd::error, ev.message);
      case EventKind::timeout:
      case EventKind::interrupted:
        break;
    }
    if (now >= next_idle) {
      if (!reader.attached() && !announced_wait) {
        announced_wait = true;
        log_to(opt.log, LogLevel::info,
               "waiting for stream '" + reader.name() + "' (start a producer with --name " + reader.name() + ")");
      }
      st.now_ns = now;
      st.reader = reader.stats();
      st.stream = reader.info();
      guarded("on_idle", [&] { processor.on_idle(st); });
      next_idle = now + idle_ns;
    }
    if (timeout_ns != 0 && now - last_frame >= timeout_ns) {
      return finish(RunEnd::timed_out, !reader.attached() ? "the stream does not exist or is not ready"
                                                          : "the producer is attached but sent nothing (lost or paused)");
    }
  }
}

}  // namespace shmframe
