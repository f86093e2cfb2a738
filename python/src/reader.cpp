// shmframe.Reader, shmframe.Frame and shmframe.Event: the consumer side in Python.
//
// A Frame wraps a shmframe::Frame (it holds its slot until released or collected) and keeps its
// own reference to the mapping, so that its numpy array, whose base object holds that mapping
// too, never points at unmapped memory: an array may outlive its Frame, its Reader and its
// generation, and reading it never crashes (its pixels are that frame's while the Frame is held
// and still_valid()).
//
// Thread contract: a Reader is used by one Python thread at a time (a second thread gets
// shmframe.Busy instead of undefined behaviour), except close(), which any thread may call at any
// time: it ends a wait in progress at once (Reader::interrupt()), and the iteration ends cleanly.
// The properties (attached, info, hold_limit, read_only) may be read from any thread; while
// another thread is inside a call, they say what that call last saw. Frames may be used,
// released and collected on any thread. Waits release the GIL.

#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common.hpp"
#include "shmframe/clock.hpp"
#include "shmframe/detail/signal_router.hpp"
#include "shmframe/names.hpp"
#include "shmframe/processor.hpp"
#include "shmframe/reader.hpp"
#include "shmframe/sync_reader.hpp"

namespace shmframe::python {
namespace {

using std::chrono::nanoseconds;

class PyFrame {
 public:
  PyFrame() = default;  // an empty shell, filled by fill(): see PyReader::prepare()
  // Takes `frame` in. `array`, when given, is a view of the frame's slot made in advance.
  void fill(Frame frame, std::uint64_t taken_ns, std::shared_ptr<const std::string> stream, py::object array) {
    stream_ = std::move(stream);
    frame_ = std::move(frame);
    mapping_ = frame_.mapping();
    format_ = frame_.format();
    seq_ = frame_.seq();
    generation_ = frame_.generation();
    capture_ns_ = frame_.capture_ns();
    commit_ns_ = frame_.commit_ns();
    taken_ns_ = taken_ns;
    data_ = frame_.data();
    payload_bytes_ = frame_.payload_bytes();
    array_ = std::move(array);
  }

  std::uint64_t seq() const { return seq_; }
  std::uint64_t generation() const { return generation_; }
  std::uint64_t capture_ns() const { return capture_ns_; }
  std::uint64_t commit_ns() const { return commit_ns_; }
  std::uint64_t taken_ns() const { return taken_ns_; }
  const FrameFormat& format() const { return format_; }
  bool held() const { return frame_ && frame_.held(); }
  bool pinned() const { return frame_ && frame_.pinned(); }
  bool pin() { return frame_ && frame_.pin(); }

  py::object array() {
    if (array_.is_none()) {
      if (!frame_)
        raise(PyErrorKind::closed, "frame " + std::to_string(seq_) + " was released before its array was made");
      array_ = view_array(format_, data_, mapping_, false, payload_bytes_);
    }
    return array_;
  }
  py::tuple planes() {
    if (!frame_)
      raise(PyErrorKind::closed, "frame " + std::to_string(seq_) + " was released before its planes were made");
    return plane_arrays(format_, data_, mapping_, false, payload_bytes_);
  }
  std::size_t payload_bytes() const { return payload_bytes_; }

  bool still_valid() const { return frame_.still_valid(); }

  py::array copy() {
    require_live("copy()");
    // The shape of `array`, tight: packed (h, w, c), nv12 / i420 (h * 3 / 2, w), jpeg its bytes.
    using S = py::ssize_t;
    const auto h = static_cast<S>(format_.height);
    const auto w = static_cast<S>(format_.width);
    py::array out;
    if (format_.compressed()) out = py::array_t<std::uint8_t>(static_cast<S>(payload_bytes_));
    else if (format_.plane_count() > 1) out = py::array_t<std::uint8_t>({h * 3 / 2, w});
    else if (format_.pixel_format == PixelFormat::gray16) out = py::array_t<std::uint16_t>({h, w, S{1}});
    else out = py::array_t<std::uint8_t>({h, w, static_cast<S>(channels(format_.pixel_format))});
    auto* dst = reinterpret_cast<std::byte*>(out.mutable_data());
    const std::size_t pitch = format_.compressed() ? payload_bytes_ : format_.row_bytes();
    bool valid = false;
    {
      py::gil_scoped_release nogil;
      valid = frame_.copy_to(dst, pitch);
    }
    if (!valid) raise(PyErrorKind::overrun, overrun_message("copy()"));
    return out;
  }

  // The user's metadata (after the origin record, when there is one), validated like copy().
  py::bytes metadata() {
    require_live("metadata");
    const auto user = frame_.metadata();
    std::string bytes(reinterpret_cast<const char*>(user.data()), user.size());
    if (!frame_.still_valid()) raise(PyErrorKind::overrun, overrun_message("metadata"));
    return py::bytes(bytes);
  }

  py::object origin() {
    require_live("origin");
    const std::optional<Origin> o = frame_.origin();
    if (!frame_.still_valid()) raise(PyErrorKind::overrun, overrun_message("origin"));
    if (!o) return py::none();
    py::dict d;
    d["stream"] = o->stream;
    d["seq"] = o->seq;
    d["generation"] = o->generation;
    d["capture_ns"] = o->capture_ns;
    d["hops"] = o->hops;
    return d;
  }

  void release() { frame_.release(); }

  Origin origin_for_output() {
    require_live("origin");
    std::optional<Origin> o = frame_.origin();
    if (!frame_.still_valid()) raise(PyErrorKind::overrun, overrun_message("origin"));
    if (o) return std::move(*o);
    return Origin{*stream_, seq_, generation_, capture_ns_, 0};
  }
  const std::string& stream() const { return *stream_; }

  std::string repr() const {
    return "<shmframe.Frame seq=" + std::to_string(seq_) + " generation=" + std::to_string(generation_) + " " +
           to_string(format_) + (frame_ ? (frame_.held() ? " held" : " unheld") : " released") + ">";
  }

 private:
  void require_live(const char* what) const {
    if (!frame_) raise(PyErrorKind::closed, std::string(what) + ": frame " + std::to_string(seq_) + " was released");
  }
  std::string overrun_message(const char* what) const {
    return std::string(what) + ": frame " + std::to_string(seq_) +
           " was overwritten by the producer meanwhile (hold fewer frames, or give the stream more --slots)";
  }

  std::shared_ptr<const std::string> stream_ = std::make_shared<const std::string>();
  Frame frame_;
  std::shared_ptr<const void> mapping_;  // outlives frame_.release(): the array's memory
  FrameFormat format_;
  std::uint64_t seq_ = 0, generation_ = 0, capture_ns_ = 0, commit_ns_ = 0, taken_ns_ = 0;
  const std::byte* data_ = nullptr;
  std::size_t payload_bytes_ = 0;
  py::object array_ = py::none();
};

struct PyEvent {
  std::string kind;
  py::object frame = py::none();
  std::uint64_t generation = 0;
  std::string message;
  std::uint64_t dropped = 0;
  std::error_code error;

  std::string repr() const {
    std::string s = "<shmframe.Event " + kind;
    if (generation != 0) s += " generation=" + std::to_string(generation);
    if (dropped != 0) s += " dropped=" + std::to_string(dropped);
    if (!message.empty()) s += " '" + message + "'";
    return s + ">";
  }
};

// Releases a frame the iteration handed out when nothing but the iterator and the loop variable
// refer to it any more: the loop variable still names the previous frame while the next one is
// taken, and on a 2-slot stream (one holdable frame) holding it would hand out every frame
// unheld. A frame the caller kept (in a list, another name) stays held.
void release_if_unused(py::object& last, py::ssize_t max_refs) {
  if (last.is_none()) return;
  if (Py_REFCNT(last.ptr()) <= max_refs) last.cast<PyFrame&>().release();
  last = py::none();
}

// A keyword value of an option enum (names.hpp: '_' and '-' alike), InvalidArgument naming the choices.
template <class E>
E parse_option(const std::string& s, const char* what) {
  if (auto v = parse_name<E>(s)) return *v;
  raise(PyErrorKind::invalid, std::string(what) + " must be " + name_choices<E>() + ", not '" + s + "'");
}

std::optional<std::uint32_t> parse_owner(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  if (py::isinstance<py::int_>(o)) {
    const auto v = o.cast<long long>();
    if (v < 0 || v > 0xFFFFFFFELL) raise(PyErrorKind::invalid, "expect_owner: " + std::to_string(v) + " is not a uid");
    return static_cast<std::uint32_t>(v);
  }
  if (py::isinstance<py::str>(o)) {
    const auto name = o.cast<std::string>();
    // A name, as the apps' --expect-owner takes it (a digits-only string is a uid there too).
    if (auto uid = shmframe::parse_owner(name)) return uid;
    raise(PyErrorKind::invalid, "expect_owner: '" + name + "' is not a user of this host");
  }
  raise(PyErrorKind::invalid, "expect_owner must be a uid (int), a user name (str) or None");
}

// wait= and spin_limit= (seconds or None: the policy's default), as Reader and SyncReader take them.
void set_wait(ReaderOptions& o, const std::string& wait, const py::object& spin_limit) {
  o.wait = parse_option<WaitPolicy>(wait, "wait");
  if (auto s = to_timeout(spin_limit, "spin_limit"))
    o.spin_limit = std::chrono::duration_cast<std::chrono::microseconds>(*s);
}

class PyReader {
 public:
  PyReader(const std::string& name, const std::string& delivery, const std::string& access, const std::string& wait,
           const py::object& spin_limit, double ready_timeout, const py::object& timeout, bool stop_on_close,
           py::object on_event, const py::object& expect_owner)
      : logs_(std::make_shared<LogQueue>()), name_(name), stream_name_(std::make_shared<const std::string>(name)),
        timeout_(to_timeout(timeout, "timeout")), stop_on_close_(stop_on_close), on_event_(std::move(on_event)) {
    ReaderOptions o;
    o.delivery = parse_option<Delivery>(delivery, "delivery");
    o.access = parse_option<Access>(access, "access");
    o.expect_owner = parse_owner(expect_owner);
    set_wait(o, wait, spin_limit);
    o.ready_timeout = to_millis(ready_timeout, "ready_timeout");
    o.log = LogQueue::callback(logs_);
    if (!on_event_.is_none() && !PyCallable_Check(on_event_.ptr()))
      raise(PyErrorKind::invalid, "on_event must be callable (it gets each Event that is not a frame)");
    reader_.emplace(name, std::move(o));  // InvalidName
  }

  // One Python thread at a time: the Reader's calls are not concurrent-safe, and waits release
  // the GIL, so a second thread could otherwise enter.
  class Use {
   public:
    explicit Use(PyReader& r) : r_(r) {
      // A call from inside a call (an on_event callback) on the same thread: mu_ is ours already,
      // and a second lock of a std::mutex by its owner is undefined.
      if (r.owner_.load() == std::this_thread::get_id())
        raise(PyErrorKind::busy, "Reader '" + r.name_ + "' is in a call on this thread (an on_event callback?): " +
                                     "only its properties may be read there");
      lock_ = std::unique_lock(r.mu_, std::try_to_lock);
      if (!lock_)
        raise(PyErrorKind::busy, "Reader '" + r.name_ + "' is in use by another thread: use one Reader per thread");
      if (r.closed_) raise(PyErrorKind::closed, "Reader '" + r.name_ + "' is closed");
      r.owner_.store(std::this_thread::get_id());
    }
    ~Use() { r_.owner_.store(std::thread::id()); }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    PyReader& r_;
    std::unique_lock<std::mutex> lock_;
  };

  py::object wait(const py::object& timeout) {
    Use use(*this);
    py::object ev = wait_event(to_timeout(timeout, "timeout"));
    if (closing_.load()) raise(PyErrorKind::closed, "Reader '" + name_ + "' was closed while waiting");
    return ev;
  }

  void attach(double timeout) {
    Use use(*this);
    const auto limit = std::chrono::duration_cast<nanoseconds>(to_millis(timeout, "timeout"));
    // Retry while waiting can help (Event::fatal()'s judgment), until the timeout.
    std::exception_ptr last;
    const bool ok = wait_in_turns(limit, [&](nanoseconds budget, bool& interrupted) {
      try {
        const detail::SignalScope signals(true, *reader_, true);  // as in wait_raw()
        reader_->attach(std::chrono::duration_cast<std::chrono::milliseconds>(budget));
        return true;
      } catch (const Error& e) {
        if (e.value() == errc::interrupted && !closing_.load()) {
          interrupted = true;  // a signal: Python's handlers run, and the attach goes on
          reader_->clear_interrupt();
          return false;
        }
        if (is_fatal(e.code()) || e.value() == errc::interrupted) throw;
        last = std::current_exception();
        return false;
      }
    });
    refresh_locked();
    logs_->drain();
    if (!ok && last) std::rethrow_exception(last);
  }

  py::object next_frame(std::optional<nanoseconds> timeout, py::object& last) {
    Use use(*this);
    release_if_unused(last, 2);
    using Clock = std::chrono::steady_clock;
    const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
    for (;;) {
      std::optional<nanoseconds> left;
      if (timeout)
        left = std::max(nanoseconds::zero(), std::chrono::duration_cast<nanoseconds>(deadline - Clock::now()));
      Event ev;
      std::uint64_t taken = 0;
      if (wait_raw(left, ev, taken) && ev.kind == EventKind::frame) {
        last = hand_out(std::move(ev.frame), taken);  // the hot path: no Event object
        return last;
      }
      if (ev.kind == EventKind::interrupted) throw py::stop_iteration();  // close() from another thread
      const bool fatal = ev.fatal();
      py::object obj = to_event(std::move(ev), taken);
      auto& e = obj.cast<PyEvent&>();
      if (e.kind == "timeout") {
        raise(PyErrorKind::timeout, "no frame from stream '" + name_ + "' in " +
                                        std::to_string(std::chrono::duration<double>(*timeout).count()) + " s");
      }
      // Waiting on can help (a creator that died while initializing: the next producer replaces
      // it): the event goes to on_event like the life-cycle events, and the iteration goes on.
      if (fatal) raise(e.error, e.message);
      if (!on_event_.is_none()) on_event_(obj);
      if (e.kind == "closed" && stop_on_close_) throw py::stop_iteration();
    }
  }

  py::object next_event(std::optional<nanoseconds> timeout, py::object& last, bool& done) {
    Use use(*this);
    if (done) throw py::stop_iteration();
    if (!last.is_none()) {
      // The event the loop variable still names: its frame goes back unless the caller kept the
      // event or the frame elsewhere.
      const bool event_kept = Py_REFCNT(last.ptr()) > 2;  // this iterator + the loop variable
      py::object frame = last.cast<PyEvent&>().frame;
      last = py::none();
      if (!event_kept) release_if_unused(frame, 2);  // `frame` here + the event's own reference
    }
    py::object ev = wait_event(timeout);
    auto& e = ev.cast<PyEvent&>();
    if (e.kind == "interrupted" && closing_.load()) throw py::stop_iteration();  // close() from another thread
    if (e.kind == "frame") last = ev;
    if (e.kind == "closed" && stop_on_close_) done = true;  // yields the close, then stops
    return ev;
  }

  py::object latest() {
    Use use(*this);
    py::object f = wrap(reader_->latest());
    refresh_locked();
    return f;
  }
  py::object read(std::uint64_t seq) {
    Use use(*this);
    py::object f = wrap(reader_->read(seq));
    refresh_locked();
    return f;
  }

  // detach() and close() wait for a call in progress on another thread (GIL released); close()
  // ends that call's wait first. The Reader itself lives until this object does, so that
  // interrupt() never races with its destruction.
  void detach() {
    if (owner_.load() == std::this_thread::get_id())
      raise(PyErrorKind::busy, "Reader '" + name_ + "': detach() inside a call on this thread (an on_event callback)");
    const auto lock = lock_releasing_gil(mu_);
    if (!closed_) reader_->detach();
    forget_views();
    refresh_locked();
  }
  void close() {
    closing_.store(true);
    reader_->interrupt();
    // From inside a call on this thread (an on_event callback): that call ends the iteration
    // (closing_), and the Reader is detached when it is collected or closed again.
    if (owner_.load() == std::this_thread::get_id()) return;
    const auto lock = lock_releasing_gil(mu_);
    if (closed_) return;
    reader_->detach();
    closed_ = true;
    forget_views();
    refresh_locked();
  }
  bool closed() const { return closing_.load(); }
  bool attached() const { return snapshot().attached; }
  std::uint32_t hold_limit() const { return snapshot().hold_limit; }
  bool read_only() const { return snapshot().read_only; }
  const std::string& name() const { return name_; }
  std::optional<nanoseconds> timeout() const { return timeout_; }

  py::dict info() const {
    const Snapshot s = snapshot();
    return s.attached ? fields_dict(fields(s.info)) : py::dict();
  }

  py::dict stats() const {
    py::dict d;
    if (closing_.load()) return d;
    const ReaderStats s = reader_->stats();  // atomic counters: any thread
    d["frames"] = s.frames;
    d["drops"] = s.drops;
    d["overruns"] = s.overruns;
    d["unheld"] = s.unheld;
    d["demotions"] = s.demotions;
    d["attaches"] = s.attaches;
    d["producer_lost"] = s.producer_lost;
    d["version_mismatches"] = s.version_mismatches;
    d["bad_magic"] = s.bad_magic;
    d["corrupt"] = s.corrupt;
    d["permission_denied"] = s.permission_denied;
    d["init_failures"] = s.init_failures;
    d["polled"] = s.polled;
    return d;
  }

  std::string repr() const {
    return "<shmframe.Reader '" + name_ + "' " + (closed() ? "closed" : attached() ? "attached" : "detached") + ">";
  }

 private:
  // What the properties report: the Reader's state as of the last call that held mu_.
  struct Snapshot {
    StreamInfo info;
    bool attached = false;
    bool read_only = false;
    std::uint32_t hold_limit = 0;
  };
  // Under mu_ (the thread in a call): records the Reader's state for the properties.
  void refresh_locked() {
    Snapshot s;
    if (!closed_) {
      s.info = reader_->info();
      s.attached = reader_->attached();
      s.read_only = reader_->read_only();
      s.hold_limit = reader_->hold_limit();
    }
    std::lock_guard g(snap_mu_);
    snap_ = s;
  }
  // Any thread: the live state when no call is in progress, else what the call last saw.
  Snapshot snapshot() const {
    auto* self = const_cast<PyReader*>(this);  // NOLINT(cppcoreguidelines-pro-type-const-cast): mu_ and the cache
    if (owner_.load() == std::this_thread::get_id()) {
      self->refresh_locked();  // from inside a call on this thread (on_event): mu_ is ours
    } else if (std::unique_lock lock(self->mu_, std::try_to_lock); lock) {
      self->refresh_locked();
    }
    std::lock_guard g(snap_mu_);
    return snap_;
  }

  // Waits (GIL released) for the next event; false on timeout. Makes the next frame's Python
  // object and slot arrays first, while nothing is waiting for them (prepare()).
  bool wait_raw(std::optional<nanoseconds> timeout, Event& ev, std::uint64_t& taken) {
    prepare();
    const bool got = wait_in_turns(timeout, [&](nanoseconds budget, bool& interrupted) {
      ev = reader_->wait(nanoseconds::zero());  // a frame already there: no signal set-up
      if (ev.kind == EventKind::timeout && budget > nanoseconds::zero()) {
        // Blocking: a Ctrl-C must end it whenever it comes (signal_router.hpp), even just before
        // the futex wait, where it would interrupt no system call.
        const detail::SignalScope signals(true, *reader_, true);
        ev = reader_->wait(budget);
      }
      taken = monotonic_ns();
      // interrupted: close() on another thread (the event is returned), or a signal (Python's
      // handlers run, and the wait goes on).
      if (ev.kind == EventKind::interrupted && !closing_.load()) {
        interrupted = true;
        reader_->clear_interrupt();  // raised by the signal: the next wait must block again
      }
      return ev.kind != EventKind::timeout && !interrupted;
    });
    refresh_locked();
    logs_->drain();
    if (!got) ev.kind = EventKind::timeout;
    return got;
  }

  py::object wait_event(std::optional<nanoseconds> timeout) {
    Event ev;
    std::uint64_t taken = 0;
    wait_raw(timeout, ev, taken);
    return to_event(std::move(ev), taken);
  }

  py::object to_event(Event ev, std::uint64_t taken) {
    PyEvent out;
    out.kind = std::string(to_string(ev.kind));
    out.generation = ev.generation;
    out.message = std::move(ev.message);
    out.dropped = ev.dropped;
    out.error = ev.error;
    if (ev.frame) out.frame = hand_out(std::move(ev.frame), taken);
    return py::cast(std::move(out));
  }

  py::object wrap(Frame f) {
    if (!f) return py::none();
    return hand_out(std::move(f), monotonic_ns());
  }

  // What a frame costs after the wake-up is what the consumer waits for; the allocations that
  // do not depend on the frame are done before waiting: an empty Frame object, and a read-only
  // array over each slot of the current generation seen so far (a slot's address and format
  // are fixed for a generation). Each frame still gets arrays of its own: a prepared array is
  // handed out once, then made anew.
  void prepare() {
    if (spare_.is_none()) {
      spare_ = py::cast(PyFrame{});
      spare_ptr_ = &spare_.cast<PyFrame&>();  // the cast's type lookup, done here rather than after the wake-up
    }
    // Not for jpeg (each frame's array is its own size) nor for 4:2:0 planes OpenCV cannot view
    // as one image (their `array` raises; `planes` is made on demand).
    if (view_format_.compressed() || view_format_.plane_count() > 1) return;
    for (auto& v : slot_views_) {
      if (v.array.is_none()) v.array = view_array(view_format_, v.data, view_mapping_, false);
    }
  }

  py::object hand_out(Frame f, std::uint64_t taken) {
    if (f.generation() != view_generation_ || !view_mapping_) {
      slot_views_.clear();
      view_generation_ = f.generation();
      view_format_ = f.format();
      view_mapping_ = f.mapping();
    }
    py::object array = py::none();
    bool known = false;
    for (auto& v : slot_views_) {
      if (v.data == f.data()) {
        array = std::exchange(v.array, py::none());
        known = true;
        break;
      }
    }
    if (!known && slot_views_.size() < 64) slot_views_.push_back({f.data(), py::none()});
    py::object obj;
    PyFrame* frame = nullptr;
    if (spare_.is_none()) {
      obj = py::cast(PyFrame{});
      frame = &obj.cast<PyFrame&>();
    } else {
      obj = std::exchange(spare_, py::none());
      frame = std::exchange(spare_ptr_, nullptr);
    }
    frame->fill(std::move(f), taken, stream_name_, std::move(array));
    return obj;
  }

  void forget_views() {
    slot_views_.clear();
    view_mapping_.reset();
    view_generation_ = 0;
  }

  struct SlotView {
    const std::byte* data;
    py::object array;
  };

  std::mutex mu_;                         // one call at a time (Use)
  std::optional<Reader> reader_;          // engaged from construction to destruction
  bool closed_ = false;                   // under mu_
  std::atomic<bool> closing_{false};      // set by close() before it waits for mu_
  std::atomic<std::thread::id> owner_{};  // the thread inside a call (Use), if any
  mutable std::mutex snap_mu_;
  Snapshot snap_;  // under snap_mu_
  std::shared_ptr<LogQueue> logs_;
  std::string name_;
  std::shared_ptr<const std::string> stream_name_;  // shared by this Reader's frames
  py::object spare_ = py::none();                   // the next frame's object (prepare())
  PyFrame* spare_ptr_ = nullptr;                    // the PyFrame inside spare_
  std::vector<SlotView> slot_views_;                // the next frames' arrays (prepare())
  std::uint64_t view_generation_ = 0;
  FrameFormat view_format_;
  std::shared_ptr<const void> view_mapping_;
  std::optional<nanoseconds> timeout_;
  bool stop_on_close_;
  py::object on_event_;
};

// Iterators over a Reader: frames (life-cycle events go to on_event) or every event.
struct FrameIter {
  py::object reader;
  PyReader* impl = nullptr;  // inside `reader`, which this iterator keeps alive
  std::optional<nanoseconds> timeout;
  py::object last = py::none();
};
struct EventIter {
  py::object reader;
  std::optional<nanoseconds> timeout;
  py::object last = py::none();
  bool done = false;
};

// The frame iterator's __next__ as a type slot: a for loop calls it without going through
// pybind11's argument dispatch, which with cold caches (a frame every 33 ms) costs more than the
// rest of the binding's per-frame work.
PyObject* frame_iter_next(PyObject* self) noexcept {
  try {
    auto& it = py::handle(self).cast<FrameIter&>();
    return it.impl->next_frame(it.timeout, it.last).release().ptr();
  } catch (py::stop_iteration&) {
    return nullptr;  // end of iteration: no exception set
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// shmframe.SyncReader: sets of frames across streams (shmframe/sync_reader.hpp). Iterating
// yields tuples of Frames, one per stream, in the order of the names; member events go to
// on_event. One Python thread at a time, like Reader; close() from another thread ends a wait.
class PySyncReader {
 public:
  PySyncReader(std::vector<std::string> names, const std::string& policy, const py::object& tolerance,
               const std::string& access, const std::string& wait, const py::object& spin_limit, double ready_timeout,
               const py::object& timeout, py::object on_event, const py::object& expect_owner)
      : logs_(std::make_shared<LogQueue>()), timeout_(to_timeout(timeout, "timeout")), on_event_(std::move(on_event)) {
    SyncOptions o;
    const auto p = parse_sync_policy(policy);
    if (!p) raise(PyErrorKind::invalid, "policy must be 'approximate' or 'exact', not '" + policy + "'");
    o.policy = *p;
    if (!tolerance.is_none()) {
      double seconds = 0;
      try {
        seconds = tolerance.cast<double>();
      } catch (const py::cast_error&) {
        raise(PyErrorKind::invalid, "tolerance must be a number of seconds (e.g. 0.005) or None");
      }
      if (!(seconds > 0) || seconds > 3600) {
        raise(PyErrorKind::invalid, "tolerance=" + std::to_string(seconds) +
                                        " s matches nothing: give the widest spread of capture times a set may have "
                                        "(e.g. 0.005), or None for half the slowest stream's period");
      }
      o.tolerance = std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(seconds * 1e9)));
    }
    o.reader.access = parse_option<Access>(access, "access");
    set_wait(o.reader, wait, spin_limit);
    o.reader.ready_timeout = to_millis(ready_timeout, "ready_timeout");
    o.reader.expect_owner = parse_owner(expect_owner);
    o.reader.log = LogQueue::callback(logs_);
    if (!on_event_.is_none() && !PyCallable_Check(on_event_.ptr()))
      raise(PyErrorKind::invalid, "on_event must be callable (it gets a dict for each member event)");
    for (const auto& n : names) streams_.push_back(std::make_shared<const std::string>(n));
    reader_.emplace(std::move(names), std::move(o));  // Error: 2..8 names, twice, bad name
  }

  py::tuple next_set(std::optional<std::chrono::nanoseconds> timeout) {
    const std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock) raise(PyErrorKind::busy, "SyncReader is in use by another thread: use one per thread");
    if (!reader_) raise(PyErrorKind::closed, "SyncReader is closed");
    for (;;) {
      SyncEvent ev;
      const bool got = wait_in_turns(timeout, [&](std::chrono::nanoseconds budget, bool& interrupted) {
        ev = reader_->wait(std::chrono::nanoseconds::zero());  // a set already there: no signal set-up
        if (ev.kind == SyncEventKind::timeout && budget > std::chrono::nanoseconds::zero()) {
          const detail::SignalScope signals(true, *reader_, true);  // Ctrl-C ends the wait (as Reader's)
          ev = reader_->wait(budget);
        }
        if (ev.kind == SyncEventKind::interrupted && !closing_.load()) {
          interrupted = true;  // a signal: Python's handlers run, and the wait goes on
          reader_->clear_interrupt();
        }
        return ev.kind != SyncEventKind::timeout && !interrupted;
      });
      logs_->drain();
      if (!got) {
        raise(PyErrorKind::timeout, "no set from streams " + names_text() + " in " +
                                        std::to_string(std::chrono::duration<double>(*timeout).count()) + " s");
      }
      if (ev.kind == SyncEventKind::interrupted) throw py::stop_iteration();  // close() from another thread
      if (ev.kind == SyncEventKind::set) return to_tuple(ev.set);
      if (ev.kind == SyncEventKind::error && ev.event.fatal()) raise(ev.event.error, ev.event.message);
      if (!on_event_.is_none()) {
        py::dict d;
        d["kind"] = std::string(to_string(ev.kind));
        d["stream"] = *streams_[ev.stream];
        d["generation"] = ev.event.generation;
        d["message"] = ev.event.message;
        on_event_(d);
      }
    }
  }

  void close() {
    closing_.store(true);
    if (reader_) reader_->interrupt();
    const auto lock = lock_releasing_gil(mu_);  // a wait on another thread ends first
    reader_.reset();
  }

  py::dict stats() {
    const auto lock = lock_releasing_gil(mu_);
    py::dict d;
    if (!reader_) return d;
    const SyncStats s = reader_->stats();
    py::dict unmatched;
    for (std::size_t i = 0; i < s.unmatched.size(); ++i) unmatched[py::str(*streams_[i])] = s.unmatched[i];
    d["sets"] = s.sets;
    d["unmatched"] = unmatched;
    d["spread_p50"] = s.spread_p50_ms / 1e3;
    d["spread_p99"] = s.spread_p99_ms / 1e3;
    d["latency_p50"] = s.latency_p50_ms / 1e3;
    d["latency_p99"] = s.latency_p99_ms / 1e3;
    d["tolerance"] = static_cast<double>(s.tolerance_ns) / 1e9;
    d["wait"] = s.wait;
    d["polled"] = s.polled;
    return d;
  }

  std::optional<std::chrono::nanoseconds> timeout() const { return timeout_; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& n : streams_) out.push_back(*n);
    return out;
  }

 private:
  std::string names_text() const {
    std::string t;
    for (const auto& n : streams_) t += (t.empty() ? "" : ", ") + *n;
    return t;
  }
  py::tuple to_tuple(FrameSet& set) {
    const std::uint64_t taken = monotonic_ns();
    py::tuple out(set.frames.size());
    for (std::size_t i = 0; i < set.frames.size(); ++i) {
      py::object obj = py::cast(PyFrame{});
      obj.cast<PyFrame&>().fill(std::move(set.frames[i]), taken, streams_[i], py::none());
      out[i] = std::move(obj);
    }
    return out;
  }

  std::shared_ptr<LogQueue> logs_;
  std::vector<std::shared_ptr<const std::string>> streams_;
  std::optional<std::chrono::nanoseconds> timeout_;
  py::object on_event_;
  std::mutex mu_;
  std::atomic<bool> closing_{false};
  std::optional<SyncReader> reader_;  // under mu_
};

}  // namespace

Origin origin_of(const py::handle& frame) {
  if (!py::isinstance<PyFrame>(frame)) {
    raise(PyErrorKind::invalid, std::string("origin must be the shmframe.Frame the output was computed from, not ") +
                                    std::string(py::str(frame.get_type().attr("__name__"))));
  }
  return frame.cast<PyFrame&>().origin_for_output();
}

void bind_reader(py::module_& m) {
  py::class_<PyFrame>(m, "Frame", R"doc(
A committed frame, viewed in place in its slot (no copy).

While a Frame lives (or until release()), it holds its slot: the producer writes elsewhere as
long as a free slot exists. A Reader holds at most `Reader.hold_limit` frames (slots - 1);
more are handed out unheld (`held` is False). Use the pixels, then check `still_valid()`: True
means what you read was that frame. `copy()` does both.

`array` is a read-only uint8 numpy array (height, width, channels) over the slot. It keeps the
segment mapped, so it is always safe to read, even after the Frame, its Reader or its
generation are gone; its pixels are this frame's only while the Frame is held and valid.
To keep an array unchanged without checking, for as long as the Frame is kept, `pin()` it: a
pinned frame is never overwritten (the stream's consumers pin at most slots - 1 frames together;
when pin() returns False, `copy()` instead).
)doc")
      .def_property_readonly("seq", &PyFrame::seq, "Sequence number (1, 2, ... within a generation).")
      .def_property_readonly("generation", &PyFrame::generation,
                             "Generation of the segment (a new one per producer start or format change).")
      .def_property_readonly("capture_ns", &PyFrame::capture_ns,
                             "Capture time, CLOCK_MONOTONIC ns (time.monotonic_ns()).")
      .def_property_readonly("commit_ns", &PyFrame::commit_ns, "Commit time, CLOCK_MONOTONIC ns.")
      .def_property_readonly(
          "taken_ns", &PyFrame::taken_ns,
          "When the Reader handed the frame over (CLOCK_MONOTONIC ns): taken_ns - commit_ns is the hand-off.")
      .def_property_readonly("stream", &PyFrame::stream, "The name of the stream it was read from.")
      .def_property_readonly("width", [](const PyFrame& f) { return f.format().width; })
      .def_property_readonly("height", [](const PyFrame& f) { return f.format().height; })
      .def_property_readonly("channels", [](const PyFrame& f) { return channels(f.format().pixel_format); })
      .def_property_readonly(
          "format", [](const PyFrame& f) { return std::string(to_string(f.format().pixel_format)); },
          "The pixel format: 'bgr8', 'gray16', 'yuyv', 'nv12', 'jpeg', ... (shmframe.FORMATS).")
      .def_property_readonly("planes", &PyFrame::planes,
                             "One read-only view per plane: nv12 (Y (h, w), UV (h/2, w/2, 2)), i420 (Y, U (h/2, w/2), "
                             "V); other formats (array,).")
      .def_property_readonly("payload_bytes", &PyFrame::payload_bytes,
                             "Bytes of the frame: its planes' extent, or a JPEG's size.")
      .def_property_readonly(
          "stride", [](const PyFrame& f) { return f.format().effective_stride(); },
          "Bytes from one row to the next (array.strides[0]).")
      .def_property_readonly("array", &PyFrame::array,
                             "Read-only array over the slot, no copy: (height, width, channels) uint8 for packed "
                             "formats (uint16 for gray16; 2 channels for yuyv / uyvy), (height * 3 / 2, width) for "
                             "nv12 / i420 (OpenCV's layout), the JPEG's bytes (1-D) for jpeg.")
      .def_property_readonly("held", &PyFrame::held, "True while the frame holds its slot.")
      .def_property_readonly("pinned", &PyFrame::pinned, "True while the frame is pinned (see pin()).")
      .def("pin", &PyFrame::pin,
           "Pins the frame until it is released: the producer never overwrites it, so `array` stays this frame's. "
           "False when it cannot be (not held, read-only, overwritten already, or the stream's slots - 1 pins are "
           "in use): copy() it then.")
      .def_property_readonly("metadata", &PyFrame::metadata,
                             "The producer's metadata bytes (validated; Overrun if overwritten).")
      .def_property_readonly(
          "origin", &PyFrame::origin,
          "For a frame of a processing stage: dict(stream, seq, generation, capture_ns, hops) of the "
          "frame it came from; None otherwise.")
      .def("still_valid", &PyFrame::still_valid,
           "True while the producer has not started overwriting this frame's slot (False once released).")
      .def("copy", &PyFrame::copy,
           "A contiguous copy of the pixels (a new array), validated: raises Overrun if the producer overwrote the "
           "frame during the copy.")
      .def("release", &PyFrame::release, "Gives the slot back now (also done when the Frame is collected). Idempotent.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyFrame& f, const py::args&) { f.release(); })
      .def("__repr__", &PyFrame::repr);

  py::class_<PyEvent>(m, "Event", R"doc(
What Reader.wait() and Reader.events() return: `kind` is 'frame' (then `frame` is set),
'attached' (a generation was attached: first attach, producer restart or format change),
'producer_lost' (the producer died or stopped beating), 'closed' (closed by its producer),
'corrupt' (the segment held impossible values: tampering or truncation; `message` says what; the
Reader re-synchronises or re-attaches), 'timeout', or 'error' (`message` says why; the Reader
keeps trying).
)doc")
      .def_readonly("kind", &PyEvent::kind)
      .def_readonly("frame", &PyEvent::frame)
      .def_readonly("generation", &PyEvent::generation)
      .def_readonly("message", &PyEvent::message)
      .def_readonly("dropped", &PyEvent::dropped, "With a frame: frames missed just before it.")
      .def("__repr__", &PyEvent::repr);

  py::class_<FrameIter> frame_iter(m, "_FrameIter");
  frame_iter.def("__iter__", [](py::object self) { return self; }).def("__next__", [](FrameIter& it) {
    return it.impl->next_frame(it.timeout, it.last);
  });
  auto* frame_iter_type = reinterpret_cast<PyTypeObject*>(frame_iter.ptr());
  frame_iter_type->tp_iternext = frame_iter_next;  // for loops; __next__ above for explicit calls
  PyType_Modified(frame_iter_type);
  py::class_<EventIter>(m, "_EventIter")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__",
           [](EventIter& it) { return it.reader.cast<PyReader&>().next_event(it.timeout, it.last, it.done); });

  py::class_<PyReader>(m, "Reader", R"doc(
Reader(name, *, delivery='latest', access='auto', wait='block', spin_limit=None,
       ready_timeout=2.0, timeout=None, stop_on_close=False, on_event=None, expect_owner=None)

Follows stream `name` across producer restarts and format changes, like the C++ Reader: waits
for it to appear, attaches, takes frames without copying, notices a lost producer and
re-attaches by itself.

    with shmframe.Reader("cam0", timeout=5) as reader:
        for frame in reader:          # shmframe.Timeout after 5 s without a frame
            gray = frame.array.mean()

Iterating yields Frames; the life-cycle events (attached, producer_lost, closed) go to
`on_event(event)` when given, and `stop_on_close=True` ends the loop when the producer closes
the stream. A frame the loop moved past is released unless you kept a reference to it.
`wait()` and `events()` give every event. Waits release the GIL; Ctrl-C interrupts them.

delivery: 'latest' (newest frame, skip when slow), 'every_frame' (seq + 1 while a slot holds it),
'lossless' (every frame: the producer waits up to its max block for this reader).
access: 'read_write' (a consumer entry: held frames, lossless, listed by status()), 'read_only'
(maps the stream read-only: cannot disturb the producer or other consumers, but frames are not
held (check Frame.still_valid()), no lossless, not listed), 'auto' (read-write if allowed, else
read-only).
expect_owner: a uid or user name: attach only to a segment that user owns (another user's
segment at the name raises PermissionDenied / gives an 'error' event).
wait: 'block' (kernel wake-up), 'predictive' (learns the frame period, polls around it),
'spin' (polls; a whole core). timeout: seconds, None = forever (iteration only).
)doc")
      .def(py::init([](const std::string& name, const std::string& delivery, const std::string& access,
                       const std::string& wait, const py::object& spin_limit, double ready_timeout,
                       const py::object& timeout, bool stop_on_close, py::object on_event,
                       const py::object& expect_owner) {
             return std::make_unique<PyReader>(name, delivery, access, wait, spin_limit, ready_timeout, timeout,
                                               stop_on_close, std::move(on_event), expect_owner);
           }),
           py::arg("name"), py::kw_only(), py::arg("delivery") = "latest", py::arg("access") = "auto",
           py::arg("wait") = "block", py::arg("spin_limit") = py::none(), py::arg("ready_timeout") = 2.0,
           py::arg("timeout") = py::none(), py::arg("stop_on_close") = false, py::arg("on_event") = py::none(),
           py::arg("expect_owner") = py::none())
      .def("wait", &PyReader::wait, py::arg("timeout") = py::none(),
           "The next Event (a frame or a life-cycle change); kind 'timeout' after `timeout` seconds (None = "
           "forever). Attaches and re-attaches by itself.")
      .def(
          "frames",
          [](py::object self, const py::object& timeout) {
            return FrameIter{self, &self.cast<PyReader&>(), to_timeout(timeout, "timeout")};
          },
          py::arg("timeout") = py::none(),
          "An iterator over frames, raising Timeout when none arrives for `timeout` seconds (None = forever).")
      .def(
          "events",
          [](py::object self, const py::object& timeout) {
            return EventIter{self, to_timeout(timeout, "timeout")};
          },
          py::arg("timeout") = py::none(),
          "An iterator over every Event, including a 'timeout' event after `timeout` seconds without one; "
          "with stop_on_close, it ends after the 'closed' event.")
      .def("__iter__",
           [](py::object self) {
             auto& r = self.cast<PyReader&>();
             return FrameIter{self, &r, r.timeout()};
           })
      .def("attach", &PyReader::attach, py::arg("timeout") = 2.0,
           "Attaches now, waiting up to `timeout` seconds for the stream: raises NotFound, PermissionDenied, "
           "AbiMismatch, ... (wait() attaches by itself; this is for failing early).")
      .def("latest", &PyReader::latest, "The newest committed frame, or None.")
      .def("read", &PyReader::read, py::arg("seq"),
           "Frame `seq` of the current generation while a slot holds it, or None.")
      .def("detach", &PyReader::detach, "Gives the consumer entry back; frames stay readable. wait() re-attaches.")
      .def("close", &PyReader::close, "Detaches for good; later calls raise Closed.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyReader& r, const py::args&) { r.close(); })
      .def_property_readonly("name", &PyReader::name)
      .def_property_readonly("attached", &PyReader::attached)
      .def_property_readonly("closed", &PyReader::closed)
      .def_property_readonly("hold_limit", &PyReader::hold_limit,
                             "Frames this Reader may hold at once (slots - 1, at least 1; 0 when read-only).")
      .def_property_readonly("read_only", &PyReader::read_only,
                             "True while attached read-only (access='read_only', or 'auto' without write access).")
      .def_property_readonly(
          "info", &PyReader::info,
          "The attached generation: dict(generation, width, height, format, stride, slots, "
          "max_consumers, writer_pid, owner_uid, last_seq, heartbeat_age_ns, heartbeat_interval_ns); "
          "empty when detached.")
      .def_property_readonly(
          "stats", &PyReader::stats,
          "Counters: dict(frames, drops, overruns, unheld, demotions, attaches, producer_lost, ...).")
      .def("__repr__", &PyReader::repr);

  py::class_<PySyncReader>(m, "SyncReader", R"doc(
SyncReader(names, *, policy='approximate', tolerance=None, access='auto', wait='block',
           spin_limit=None, ready_timeout=2.0, timeout=None, on_event=None, expect_owner=None)

Several cameras as one: follows 2 to 8 streams and yields sets, a tuple of Frames (one per
stream, in the order of `names`, each held, zero-copy as Reader's) captured together.

    with shmframe.SyncReader(["left", "right"], tolerance=0.005) as sync:
        for left, right in sync:
            disparity = stereo.compute(left.array, right.array)

policy: 'approximate' (capture times within `tolerance` seconds, default half the slowest
stream's period; the closest frames) or 'exact' (equal capture times, e.g. producers with
--phase-lock). A frame that can no longer be in a set is released and counted (stats
'unmatched'). Member events (attached, producer_lost, closed, error, corrupt) go to
`on_event(dict(kind, stream, generation, message))`; fatal errors raise. timeout: seconds
without a set before Timeout (None = forever). wait, spin_limit: as Reader's, for the one wait
on every stream ('spin' polls all of them, for spin_limit seconds per wait, default the whole
wait; 'predictive' polls around the sets' rhythm, only where every producer, every other
consumer and this reader can have a CPU each; stats 'polled' counts the waits that polled).
Waits release the GIL; Ctrl-C interrupts them; close() from another thread ends the iteration.
)doc")
      .def(py::init([](std::vector<std::string> names, const std::string& policy, const py::object& tolerance,
                       const std::string& access, const std::string& wait, const py::object& spin_limit,
                       double ready_timeout, const py::object& timeout, py::object on_event,
                       const py::object& expect_owner) {
             return std::make_unique<PySyncReader>(std::move(names), policy, tolerance, access, wait, spin_limit,
                                                   ready_timeout, timeout, std::move(on_event), expect_owner);
           }),
           py::arg("names"), py::kw_only(), py::arg("policy") = "approximate", py::arg("tolerance") = py::none(),
           py::arg("access") = "auto", py::arg("wait") = "block", py::arg("spin_limit") = py::none(),
           py::arg("ready_timeout") = 2.0, py::arg("timeout") = py::none(), py::arg("on_event") = py::none(),
           py::arg("expect_owner") = py::none())
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", [](PySyncReader& r) { return r.next_set(r.timeout()); })
      .def(
          "wait", [](PySyncReader& r, const py::object& timeout) { return r.next_set(to_timeout(timeout, "timeout")); },
          py::arg("timeout") = py::none(), "The next set (a tuple of Frames); Timeout after `timeout` seconds.")
      .def("close", &PySyncReader::close, "Detaches every stream for good; a wait on another thread ends.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PySyncReader& r, const py::args&) { r.close(); })
      .def_property_readonly("names", &PySyncReader::names)
      .def_property_readonly("stats", &PySyncReader::stats,
                             "dict(sets, unmatched={stream: n}, spread_p50, spread_p99, latency_p50, latency_p99 "
                             "(seconds), tolerance, wait ('futex_waitv' or 'first-word'), polled (waits that polled: "
                             "wait='spin' or 'predictive')).");
}

}  // namespace shmframe::python
