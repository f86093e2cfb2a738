// shmframe::run(): the processing loop (wait, dispatch, output, origin, signals) over a Reader.
#include "shmframe/processor.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "shmframe/clock.hpp"
#include "shmframe/detail/signal_router.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {

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

// The stage's output stream: created at the first acquire, reconfigured on a format change.
class StageOutput final : public Output {
 public:
  StageOutput(const RunOptions& o, RunStatus& status) : opt_(o), status_(status) {}

  void set_input(const Origin* origin, std::uint64_t capture_ns, const Frame* input) noexcept {
    origin_ = origin;
    capture_ns_ = capture_ns;
    input_ = input;
    slot_ = WriteSlot{};
  }
  // Results computed from an input the producer overwrote meanwhile, never published.
  std::uint64_t refused() const noexcept { return refused_; }
  void abandon() noexcept {
    slot_ = WriteSlot{};
    input_ = nullptr;  // the frame goes after this call: never validate against it again
  }
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
      } else if (!(FrameFormat{writer_->format().width, writer_->format().height, writer_->format().pixel_format, 0} ==
                   f)) {
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
    // A result is only as good as its input: one read from pixels that changed meanwhile (the
    // processor did not check) is not published. Checked here, at the last moment, once for
    // every stage and plugin.
    if (input_ != nullptr && !input_->still_valid()) {
      slot_ = WriteSlot{};
      ++refused_;
      return false;
    }
    Origin next = *origin_;
    ++next.hops;
    const CommitResult r = writer_->commit(slot_, capture_ns_, metadata, &next);
    if (r) ++status_.published;
    return static_cast<bool>(r);
  }

 private:
  const RunOptions& opt_;
  RunStatus& status_;
  std::unique_ptr<Writer> writer_;
  WriteSlot slot_;
  const Origin* origin_ = nullptr;
  const Frame* input_ = nullptr;
  std::uint64_t refused_ = 0;
  std::uint64_t capture_ns_ = 0;
  std::string failure_;
};

// One run(): the loop's state, and one method per kind of event.
class Runner {
 public:
  Runner(Reader& r, Processor& p, const RunOptions& o)
      : reader_(r), processor_(p), opt_(o), signals_(o.handle_signals, r), output_(o, result_.status),
        idle_ns_(static_cast<std::uint64_t>(std::chrono::nanoseconds(o.idle_period).count())),
        timeout_ns_(static_cast<std::uint64_t>(std::chrono::nanoseconds(o.idle_timeout).count())),
        last_frame_(monotonic_ns()), next_idle_(last_frame_ + idle_ns_) {}

  RunResult loop() {
    for (;;) {
      if (signals_.fired() || reader_.interrupt_requested() ||
          (opt_.stop != nullptr && opt_.stop->load(std::memory_order_relaxed))) {
        return finish(RunEnd::stopped);
      }
      std::uint64_t now = monotonic_ns();
      std::uint64_t until = next_idle_;
      if (timeout_ns_ != 0) until = std::min(until, last_frame_ + timeout_ns_);
      Event ev = reader_.wait(std::chrono::nanoseconds(until > now ? until - now : 0));
      now = monotonic_ns();
      if (std::optional<RunEnd> end = dispatch(ev, now)) return finish(*end, std::move(message_));
      if (now >= next_idle_) idle(now);
      if (timeout_ns_ != 0 && now - last_frame_ >= timeout_ns_) {
        return finish(RunEnd::timed_out, !reader_.attached()
                                             ? "the stream does not exist or is not ready"
                                             : "the producer is attached but sent nothing (lost or paused)");
      }
    }
  }

 private:
  std::optional<RunEnd> dispatch(Event& ev, std::uint64_t now) {
    switch (ev.kind) {
      case EventKind::frame: return frame(ev, now);
      case EventKind::attached: guarded("on_attached", [&] { processor_.on_attached(reader_.info()); }); break;
      case EventKind::producer_lost:
        log(LogLevel::warn, ev.message);
        guarded("on_producer_lost", [&] { processor_.on_producer_lost(reader_.info(), ev.message); });
        break;
      case EventKind::closed:
        guarded("on_closed", [&] { processor_.on_closed(ev.generation); });
        if (opt_.exit_on_close) return RunEnd::closed;
        break;
      case EventKind::error:
        if (!ev.fatal()) {
          log(LogLevel::warn, ev.message);  // e.g. a new producer will replace it: keep waiting
          break;
        }
        message_ = ev.message;
        return RunEnd::error;
      case EventKind::corrupt: log(LogLevel::warn, ev.message); break;  // the Reader recovered
      case EventKind::timeout:
      case EventKind::interrupted: break;
    }
    return std::nullopt;
  }

  std::optional<RunEnd> frame(Event& ev, std::uint64_t now) {
    RunStatus& st = result_.status;
    dropped_ += ev.dropped;
    last_frame_ = now;
    const Frame& f = ev.frame;
    std::optional<Origin> carried = f.origin();
    origin_ = carried ? std::move(*carried) : Origin{reader_.name(), f.seq(), f.generation(), f.capture_ns(), 0};
    const Input in(Input::Parts{
        .data = f.data(),
        .format = f.format(),
        .seq = f.seq(),
        .generation = f.generation(),
        .capture_ns = f.capture_ns(),
        .commit_ns = f.commit_ns(),
        .metadata = f.metadata(),
        .payload_bytes = f.payload_bytes(),
        .origin = &origin_,
        .now_ns = now,
        .dropped = dropped_,
        .valid = [](const void* c) noexcept { return static_cast<const Frame*>(c)->still_valid(); },
        .valid_ctx = &f,
    });
    output_.set_input(&origin_, origin_.capture_ns, &f);
    bool accepted = false;
    const std::uint64_t refused = output_.refused();
    if (guarded("on_frame", [&] { accepted = processor_.on_frame(in, output_); })) {
      // A result refused for an overwritten input makes the frame a discarded one.
      ++(accepted && output_.refused() == refused ? st.processed : st.discarded);
    }
    output_.abandon();  // an acquired, uncommitted buffer is dropped
    ev.frame.release();
    if (!output_.failure().empty()) {
      message_ = "output stream '" + opt_.output + "': " + output_.failure();
      return RunEnd::error;
    }
    if (opt_.max_frames != 0 && st.processed >= opt_.max_frames) return RunEnd::frames_done;
    return std::nullopt;
  }

  void idle(std::uint64_t now) {
    if (!reader_.attached() && !announced_wait_) {
      announced_wait_ = true;
      log(LogLevel::info,
          "waiting for stream '" + reader_.name() + "' (start a producer with --name " + reader_.name() + ")");
    }
    RunStatus& st = result_.status;
    st.now_ns = now;
    st.reader = reader_.stats();
    st.stream = reader_.info();
    guarded("on_idle", [&] { processor_.on_idle(st); });
    next_idle_ = now + idle_ns_;
  }

  // Calls into the user's code; a throw is logged and counted, never propagated.
  template <class F>
  bool guarded(const char* what, F&& call) {
    try {
      call();
      return true;
    } catch (const std::exception& e) {
      ++result_.status.errors;
      log(LogLevel::error, std::string("processor ") + what + " failed: " + e.what());
    } catch (...) {
      ++result_.status.errors;
      log(LogLevel::error, std::string("processor ") + what + " failed (unknown exception)");
    }
    return false;
  }

  void log(LogLevel level, const std::string& msg) const noexcept {
    if (!opt_.log) return;
    try {
      opt_.log(level, msg);
    } catch (...) {  // a throwing log callback must not end the run
    }
  }

  RunResult finish(RunEnd end, std::string message = {}) {
    result_.end = end;
    result_.message = std::move(message);
    result_.status.reader = reader_.stats();
    result_.status.stream = reader_.info();
    result_.status.now_ns = monotonic_ns();
    return result_;
  }

  Reader& reader_;
  Processor& processor_;
  const RunOptions& opt_;
  RunResult result_;
  detail::SignalScope signals_;
  StageOutput output_;
  const std::uint64_t idle_ns_, timeout_ns_;
  std::uint64_t last_frame_, next_idle_;
  std::uint64_t dropped_ = 0;
  bool announced_wait_ = false;
  Origin origin_;
  std::string message_;
};

}  // namespace

RunResult run(Reader& reader, Processor& processor, const RunOptions& options) {
  Runner runner(reader, processor, options);
  return runner.loop();
}

}  // namespace shmframe
