// python/src/common.hpp: what the binding's files share: the exception hierarchy, the log
// queue, the GIL-aware wait loop, time conversions and numpy views of slots.
//
// Thread contract: every function here is called with the GIL held unless it says otherwise.
// The library's callbacks (logs) may run on the Writer's heartbeat thread: they never touch
// Python, they queue (LogQueue), and the queue is drained into `logging` by the next call made
// from Python.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shmframe/error.hpp"
#include "shmframe/format.hpp"
#include "shmframe/info.hpp"
#include "shmframe/log.hpp"
#include "shmframe/processor.hpp"

namespace shmframe::python {

namespace py = pybind11;

// ---- exceptions (errors.cpp) ---------------------------------------------------------------
// Creates shmframe.Error and its subclasses in `m` and registers the translation of
// shmframe::Error (by errc) into them.
void register_errors(py::module_& m);

enum class PyErrorKind {
  error,    // shmframe.Error
  format,   // shmframe.FormatError: an array's dtype, shape or layout does not fit
  timeout,  // shmframe.Timeout: nothing arrived in time
  overrun,  // shmframe.Overrun: a frame was overwritten while it was copied
  closed,   // shmframe.Closed
  busy,     // shmframe.Busy: the object is in use (another thread, an outstanding slot)
  invalid,  // shmframe.InvalidArgument
};
// Raises the given shmframe exception with `message` (throws py::error_already_set).
[[noreturn]] void raise(PyErrorKind kind, const std::string& message);
// Raises the exception for a library error code (an Event's error): its class by errc,
// shmframe.OsError for an errno.
[[noreturn]] void raise(std::error_code code, const std::string& message);

// ---- logs ----------------------------------------------------------------------------------
// The library's log callback, safe on any thread: keeps the newest 256 messages until drain()
// hands them to logging.getLogger("shmframe") (with the GIL).
class LogQueue {
 public:
  // The callback shares the queue: it stays valid as long as the Reader/Writer holding it.
  static LogCallback callback(const std::shared_ptr<LogQueue>& queue);
  void drain();  // GIL held

 private:
  std::mutex mu_;
  std::deque<std::pair<LogLevel, std::string>> items_;
  std::uint64_t lost_ = 0;
  // Set with items_ (under mu_), read first by drain(): no lock on the way to each frame.
  std::atomic<bool> pending_{false};
};

// ---- time ----------------------------------------------------------------------------------
// support.cpp. None = forever; a number of seconds (>= 0, inf = forever) otherwise. A negative,
// NaN or non-number timeout raises InvalidArgument naming `what`.
std::optional<std::chrono::nanoseconds> to_timeout(const py::object& seconds, const char* what);
// Seconds in 0..86400 as milliseconds; InvalidArgument naming `what` otherwise.
std::chrono::milliseconds to_millis(double seconds, const char* what);

// ---- waiting -------------------------------------------------------------------------------
// Runs `step(budget, interrupted)` with the GIL released until it returns true, or `timeout` has
// passed (returns false). A step that a signal interrupted (it sets `interrupted`) runs Python's
// signal handlers: a KeyboardInterrupt propagates as py::error_already_set; otherwise the step
// runs again with the time left. No turns: the step sleeps in the kernel for the whole budget,
// and another thread ends it with Reader::interrupt() (close()), a signal with EINTR. Python's
// handlers also run before each step, for a signal that arrived before the wait began.
template <class Step>
bool wait_in_turns(std::optional<std::chrono::nanoseconds> timeout, Step&& step) {
  using Clock = std::chrono::steady_clock;
  // "Forever" as a day at a time: the step's budget is a finite number.
  constexpr std::chrono::nanoseconds kForever = std::chrono::hours(24);
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  for (;;) {
    // A signal that came before the wait (between two bytecodes) interrupts no system call: its
    // Python handler runs here, before the step sleeps.
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    auto budget = kForever;
    if (timeout) budget = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
    if (budget < std::chrono::nanoseconds::zero()) budget = std::chrono::nanoseconds::zero();
    bool done = false;
    bool interrupted = false;
    {
      py::gil_scoped_release nogil;
      done = step(budget, interrupted);
    }
    if (interrupted && PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (done) return true;
    if (timeout && Clock::now() >= deadline && !interrupted) return false;
  }
}

// Locks `mu` (an object's call lock) for a call that must wait for another thread's call on the
// same object: that call may hold `mu` with the GIL released and need the GIL back to finish, so
// the wait for `mu` releases the GIL (otherwise: a deadlock, each thread holding what the other needs).
inline std::unique_lock<std::mutex> lock_releasing_gil(std::mutex& mu) {
  std::unique_lock lock(mu, std::try_to_lock);
  if (!lock) {
    py::gil_scoped_release nogil;
    lock.lock();
  }
  return lock;
}

// ---- statistics as dicts (the keys are in __init__.pyi: StreamInfo, ConsumerStats) ----------
// shmframe::fields() as a dict: the keys of shmframe-consumer --status.
py::dict fields_dict(const Fields& fields);

// ---- stages ---------------------------------------------------------------------------------
// The origin a stage's output frame carries when it was computed from `frame` (a shmframe.Frame,
// reader.cpp): the frame's own origin record if it has one, else the frame itself (its stream,
// seq, generation, capture time), hops not yet incremented. InvalidArgument if `frame` is not
// a Frame, Closed if it was released.
Origin origin_of(const py::handle& frame);

// ---- formats and arrays --------------------------------------------------------------------
PixelFormat parse_format(const std::string& name);  // FormatError naming the choices
std::uint32_t channels(PixelFormat f) noexcept;

// The `array` of a frame or slot laid out as `format` at `data`, whose base object keeps `owner` (a
// mapping) alive; read-only unless `writable`. Packed formats: (height, width, channels), uint8
// (uint16 for gray16; yuyv and uyvy 2 channels); nv12 / i420: OpenCV's (height * 3 / 2, width)
// uint8 image (FormatError when the planes are not laid out that way: use planes); jpeg: a 1-D
// uint8 array of `payload_bytes`.
py::array view_array(const FrameFormat& format, const std::byte* data, std::shared_ptr<const void> owner, bool writable,
                     std::size_t payload_bytes = 0);
// One view per plane: nv12 (Y (h, w), UV (h/2, w/2, 2)), i420 (Y, U (h/2, w/2), V); others (array,).
py::tuple plane_arrays(const FrameFormat& format, const std::byte* data, std::shared_ptr<const void> owner,
                       bool writable, std::size_t payload_bytes = 0);

// An array (or, for nv12 / i420, a tuple of plane arrays) handed to publish() for `format`,
// checked against it: its planes, or for jpeg its bytes. FormatError naming the expected shape.
struct FrameArray {
  std::vector<py::object> keep;  // the arrays, alive while the GIL is released
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<PlaneView> planes;       // raw formats
  std::span<const std::byte> payload;  // jpeg
};
FrameArray check_frame_array(const py::handle& obj, PixelFormat format);

// What an array handed to publish() must look like, checked: uint8, (h, w) or (h, w, c) with
// c in 1, 3, 4, pixels contiguous (rows may be padded). FormatError otherwise.
struct ArrayImage {
  py::array array;  // keeps the pixels alive while the GIL is released
  const std::byte* data = nullptr;
  std::size_t stride = 0;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t channels = 0;
};
ArrayImage check_image(const py::handle& obj);
// The format an image gets when none was given: 1 channel gray8, 3 bgr8 (OpenCV's order),
// 4 bgra8.
PixelFormat default_format(std::uint32_t channels);

}  // namespace shmframe::python
