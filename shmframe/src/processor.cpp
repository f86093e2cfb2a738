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
#include "shmframe/sync_reader.hpp"

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

  // `valid(ctx)`: whether the input (every frame of a set) is still unchanged.
  void set_input(const Origin* origin, std::uint64_t capture_ns, Input::ValidFn valid, const void* ctx) noexcept {
    origin_ = origin;
    capture_ns_ = capture_ns;
    valid_ = valid;
    valid_ctx_ = ctx;
    slot_ = WriteSlot{};
  }
  // Results computed from an input the producer overwrote meanwhile, never published.
  std::uint64_t refused() const noexcept { return refused_; }
  void abandon() noexcept {
    slot_ = WriteSlot{};
    valid_ = nullptr;  // the input goes after this call: never validate against it again
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
    if (valid_ != nullptr && !valid_(valid_ctx_)) {
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
  Input::ValidFn valid_ = nullptr;
  const void* valid_ctx_ = nullptr;
  std::uint64_t refused_ = 0;
  std::uint64_t capture_ns_ = 0;
  std::string failure_;
};

// What every run() shares: the loop (wait, idle ticks, timeout, stop), the output stream, and
// the guarded calls into the user's code. `Derived` waits on its source and dispatches its events
// (Runner over a Reader, SetRunner over a SyncReader).
template <class Derived, class Source>
class Loop {
 public:
  Loop(Source& source, const RunOptions& o)
      : source_(source), opt_(o), signals_(o.handle_signals, source), output_(o, result_.status),
        idle_ns_(static_cast<std::uint64_t>(std::chrono::nanoseconds(o.idle_period).count())),
        timeout_ns_(static_cast<std::uint64_t>(std::chrono::nanoseconds(o.idle_timeout).count())),
        last_frame_(monotonic_ns()), next_idle_(last_frame_ + idle_ns_) {}

  RunResult loop() {
    for (;;) {
      if (signals_.fired() || source_.interrupt_requested() ||
          (opt_.stop != nullptr && opt_.stop->load(std::memory_order_relaxed))) {
        return finish(RunEnd::stopped);
      }
      std::uint64_t now = monotonic_ns();
      std::uint64_t until = next_idle_;
      if (timeout_ns_ != 0) until = std::min(until, last_frame_ + timeout_ns_);
      auto ev = source_.wait(std::chrono::nanoseconds(until > now ? until - now : 0));
      now = monotonic_ns();
      if (std::optional<RunEnd> end = self().dispatch(ev, now)) return finish(*end, std::move(message_));
      if (now >= next_idle_) idle(now);
      if (timeout_ns_ != 0 && now - last_frame_ >= timeout_ns_) return finish(RunEnd::timed_out, self().silence());
    }
  }

 protected:
  Derived& self() { return static_cast<Derived&>(*this); }
  Source& source() { return source_; }
  const Source& source() const { return source_; }
  const RunOptions& options() const { return opt_; }
  StageOutput& output() { return output_; }
  void saw_input(std::uint64_t now) { last_frame_ = now; }  // for the idle timeout
  void fail_with(std::string message) { message_ = std::move(message); }

  // After the processor had an input: counts it, drops an uncommitted output buffer, and ends the
  // run when the output failed or enough were processed.
  std::optional<RunEnd> processed(bool called, bool accepted, std::uint64_t refused_before) {
    RunStatus& st = result_.status;
    // A result refused for an overwritten input makes the input a discarded one.
    if (called) ++(accepted && output_.refused() == refused_before ? st.processed : st.discarded);
    output_.abandon();  // an acquired, uncommitted buffer is dropped
    if (!output_.failure().empty()) {
      message_ = "output stream '" + opt_.output + "': " + output_.failure();
      return RunEnd::error;
    }
    if (opt_.max_frames != 0 && st.processed >= opt_.max_frames) return RunEnd::frames_done;
    return std::nullopt;
  }

  void idle(std::uint64_t now) {
    RunStatus& st = result_.status;
    st.now_ns = now;
    self().refresh(st);
    self().idle_call(st);
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
    result_.status.now_ns = monotonic_ns();
    self().refresh(result_.status);
    return result_;
  }

 private:
  Source& source_;
  const RunOptions& opt_;
  RunResult result_;
  detail::SignalScope signals_;
  StageOutput output_;
  const std::uint64_t idle_ns_, timeout_ns_;
  std::uint64_t last_frame_, next_idle_;
  std::string message_;  // why the run ends, for error
};

// An Input over a held frame, as run() hands it over.
Input input_of(const Frame& f, const Origin& origin, std::uint64_t now, std::uint64_t dropped) {
  return Input(Input::Parts{
      .data = f.data(),
      .format = f.format(),
      .seq = f.seq(),
      .generation = f.generation(),
      .capture_ns = f.capture_ns(),
      .commit_ns = f.commit_ns(),
      .metadata = f.metadata(),
      .payload_bytes = f.payload_bytes(),
      .origin = &origin,
      .now_ns = now,
      .dropped = dropped,
      .valid = [](const void* c) noexcept { return static_cast<const Frame*>(c)->still_valid(); },
      .valid_ctx = &f,
  });
}

// The frame's own origin record, or the frame itself when it comes from a producer.
Origin origin_of(const Frame& f, const std::string& stream) {
  std::optional<Origin> carried = f.origin();
  return carried ? std::move(*carried) : Origin{stream, f.seq(), f.generation(), f.capture_ns(), 0};
}

// run() over one Reader.
class Runner final : public Loop<Runner, Reader> {
 public:
  Runner(Reader& r, Processor& p, const RunOptions& o) : Loop(r, o), processor_(p) {}

  std::optional<RunEnd> dispatch(Event& ev, std::uint64_t now) {
    switch (ev.kind) {
      case EventKind::frame: return frame(ev, now);
      case EventKind::attached: guarded("on_attached", [&] { processor_.on_attached(source().info()); }); break;
      case EventKind::producer_lost:
        log(LogLevel::warn, ev.message);
        guarded("on_producer_lost", [&] { processor_.on_producer_lost(source().info(), ev.message); });
        break;
      case EventKind::closed:
        guarded("on_closed", [&] { processor_.on_closed(ev.generation); });
        if (options().exit_on_close) return RunEnd::closed;
        break;
      case EventKind::error:
        if (!ev.fatal()) {
          log(LogLevel::warn, ev.message);  // e.g. a new producer will replace it: keep waiting
          break;
        }
        fail_with(ev.message);
        return RunEnd::error;
      case EventKind::corrupt: log(LogLevel::warn, ev.message); break;  // the Reader recovered
      case EventKind::timeout:
      case EventKind::interrupted: break;
    }
    return std::nullopt;
  }

  void refresh(RunStatus& st) const {
    st.reader = source().stats();
    st.stream = source().info();
  }
  void idle_call(const RunStatus& st) {
    if (!source().attached() && !announced_wait_) {
      announced_wait_ = true;
      log(LogLevel::info,
          "waiting for stream '" + source().name() + "' (start a producer with --name " + source().name() + ")");
    }
    guarded("on_idle", [&] { processor_.on_idle(st); });
  }
  std::string silence() const {
    return !source().attached() ? "the stream does not exist or is not ready"
                                : "the producer is attached but sent nothing (lost or paused)";
  }

 private:
  std::optional<RunEnd> frame(Event& ev, std::uint64_t now) {
    dropped_ += ev.dropped;
    saw_input(now);
    const Frame& f = ev.frame;
    origin_ = origin_of(f, source().name());
    const Input in = input_of(f, origin_, now, dropped_);
    output().set_input(&origin_, origin_.capture_ns, in_valid, &in);
    bool accepted = false;
    const std::uint64_t refused = output().refused();
    const bool called = guarded("on_frame", [&] { accepted = processor_.on_frame(in, output()); });
    std::optional<RunEnd> end = processed(called, accepted, refused);
    ev.frame.release();
    return end;
  }
  static bool in_valid(const void* c) noexcept { return static_cast<const Input*>(c)->still_valid(); }

  Processor& processor_;
  std::uint64_t dropped_ = 0;
  bool announced_wait_ = false;
  Origin origin_;
};

// run() over a SyncReader: the same loop, a set per call.
class SetRunner final : public Loop<SetRunner, SyncReader> {
 public:
  SetRunner(SyncReader& r, SetProcessor& p, const RunOptions& o)
      : Loop(r, o), processor_(p), closed_(r.size(), false), origins_(r.size()) {}

  std::optional<RunEnd> dispatch(SyncEvent& ev, std::uint64_t now) {
    const std::size_t i = ev.stream;
    switch (ev.kind) {
      case SyncEventKind::set: return set(ev.set, now);
      case SyncEventKind::attached:
        closed_[i] = false;
        guarded("on_attached", [&] { processor_.on_attached(i, source().member(i).info()); });
        break;
      case SyncEventKind::producer_lost:
        log(LogLevel::warn, ev.event.message);
        guarded("on_producer_lost",
                [&] { processor_.on_producer_lost(i, source().member(i).info(), ev.event.message); });
        break;
      case SyncEventKind::closed:
        closed_[i] = true;
        guarded("on_closed", [&] { processor_.on_closed(i, ev.event.generation); });
        if (options().exit_on_close && std::all_of(closed_.begin(), closed_.end(), [](bool c) { return c; })) {
          return RunEnd::closed;
        }
        break;
      case SyncEventKind::error:
        if (!ev.event.fatal()) {
          log(LogLevel::warn, ev.event.message);
          break;
        }
        fail_with(ev.event.message);
        return RunEnd::error;
      case SyncEventKind::corrupt: log(LogLevel::warn, ev.event.message); break;
      case SyncEventKind::timeout:
      case SyncEventKind::interrupted: break;
    }
    return std::nullopt;
  }

  void refresh(RunStatus& st) const {
    const SyncStats s = source().stats();
    st.reader = ReaderStats{};
    for (const ReaderStats& m : s.members) {
      st.reader.frames += m.frames;
      st.reader.drops += m.drops;
      st.reader.overruns += m.overruns;
    }
    st.stream = source().member(0).info();
    st.sets = s.sets;
    st.unmatched = 0;
    for (std::uint64_t u : s.unmatched) st.unmatched += u;
  }
  void idle_call(const RunStatus& st) {
    if (!announced_wait_ && st.sets == 0 && !all_attached()) {
      announced_wait_ = true;
      log(LogLevel::info, "waiting for every stream of the set: " + states());
    }
    guarded("on_idle", [&] { processor_.on_idle(st); });
  }
  std::string silence() const { return "no set (" + states() + ")"; }

 private:
  bool all_attached() const {
    for (std::size_t i = 0; i < source().size(); ++i)
      if (!source().member(i).attached()) return false;
    return true;
  }
  std::string states() const {
    std::string out;
    for (std::size_t i = 0; i < source().size(); ++i) {
      out.append(i == 0 ? "" : ", ")
          .append(source().names()[i])
          .append(source().member(i).attached() ? " attached" : " not found");
    }
    return out;
  }

  std::optional<RunEnd> set(FrameSet& s, std::uint64_t now) {
    saw_input(now);
    inputs_.clear();
    for (std::size_t i = 0; i < s.frames.size(); ++i) {
      const Frame& f = s.frames[i];
      origins_[i] = origin_of(f, source().names()[i]);
      inputs_.push_back(input_of(f, origins_[i], now, source().member(i).stats().drops));
    }
    output().set_input(origins_.data(), origins_.front().capture_ns, set_valid, &inputs_);
    bool accepted = false;
    const std::uint64_t refused = output().refused();
    const bool called = guarded("on_set",
                                [&] { accepted = processor_.on_set(std::span<const Input>(inputs_), output()); });
    std::optional<RunEnd> end = processed(called, accepted, refused);
    inputs_.clear();
    s.release();
    return end;
  }
  static bool set_valid(const void* c) noexcept {
    return still_valid(std::span<const Input>(*static_cast<const std::vector<Input>*>(c)));
  }

  SetProcessor& processor_;
  std::vector<bool> closed_;
  std::vector<Origin> origins_;
  std::vector<Input> inputs_;
  bool announced_wait_ = false;
};

}  // namespace

RunResult run(Reader& reader, Processor& processor, const RunOptions& options) {
  Runner runner(reader, processor, options);
  return runner.loop();
}

RunResult run(SyncReader& reader, SetProcessor& processor, const RunOptions& options) {
  SetRunner runner(reader, processor, options);
  return runner.loop();
}

}  // namespace shmframe
