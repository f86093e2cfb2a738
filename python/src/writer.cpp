// shmframe.Writer and shmframe.WriteSlot: the producer side in Python.
//
// publish(array) copies an image into the next slot; acquire() hands out the slot itself as a
// writable numpy array, committed by WriteSlot.commit() (or by leaving its `with` block). The
// stream's format comes from the constructor or from the first array; an array of another size
// or channel count starts a new generation (consumers follow), never a resize in place.
//
// Thread contract: a Writer and its slot are used by one Python thread at a time (a second
// thread gets shmframe.Busy); calls that may wait (publish, acquire, commit, close) release the
// GIL. The Writer's heartbeat thread never touches Python.
#include <pybind11/stl.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "shmframe/clock.hpp"
#include "shmframe/writer.hpp"

namespace shmframe::python {
namespace {

std::span<const std::byte> as_bytes(const py::object& metadata, py::buffer_info& keep) {
  if (metadata.is_none()) return {};
  if (PyObject_CheckBuffer(metadata.ptr()) == 0) {
    raise(PyErrorKind::invalid, std::string("metadata must be bytes (or another buffer), not ") +
                                    std::string(py::str(metadata.get_type().attr("__name__"))));
  }
  keep = py::reinterpret_borrow<py::buffer>(metadata).request();
  return {static_cast<const std::byte*>(keep.ptr), static_cast<std::size_t>(keep.size * keep.itemsize)};
}

// What a frame carries: the user's metadata, after an origin record when the frame is a
// stage's output (origin = the input Frame): the next stage and any consumer then know the
// camera frame behind it and its capture time (docs/ABI.md, "Origin record").
struct Carried {
  py::buffer_info keep;
  std::span<const std::byte> bytes;
  std::optional<Origin> origin;  // hops counted: the input's + 1; the Writer records it
  const Origin* origin_or_null() const { return origin ? &*origin : nullptr; }
  std::optional<std::uint64_t> origin_capture_ns() const {
    return origin ? std::optional(origin->capture_ns) : std::nullopt;
  }
};

void carry(Carried& c, const py::object& metadata, const py::object& origin) {
  c.bytes = as_bytes(metadata, c.keep);
  if (origin.is_none()) return;
  Origin o = origin_of(origin);
  ++o.hops;
  if (check_stream_name(o.stream))
    raise(PyErrorKind::invalid, "the origin frame's stream name cannot be recorded: '" + o.stream + "'");
  c.origin = std::move(o);
}

std::uint64_t capture_time(const py::object& capture_ns, std::optional<std::uint64_t> fallback = std::nullopt) {
  if (capture_ns.is_none()) return fallback.value_or(monotonic_ns());
  try {
    return capture_ns.cast<std::uint64_t>();
  } catch (const py::cast_error&) {
    raise(PyErrorKind::invalid,
          "capture_ns must be a CLOCK_MONOTONIC time in ns (an int >= 0, e.g. "
          "time.monotonic_ns()) or None for now");
  }
}

class PyWriter;

class PyWriteSlot {
 public:
  PyWriteSlot(py::object writer, WriteSlot slot)
      : writer_(std::move(writer)), slot_(std::move(slot)), mapping_(slot_.mapping()), format_(slot_.format()) {}
  ~PyWriteSlot();
  PyWriteSlot(const PyWriteSlot&) = delete;
  PyWriteSlot& operator=(const PyWriteSlot&) = delete;
  PyWriteSlot(PyWriteSlot&&) = delete;
  PyWriteSlot& operator=(PyWriteSlot&&) = delete;

  py::object array() {
    if (array_.is_none()) {
      if (!slot_) raise(PyErrorKind::closed, "the slot was already committed or abandoned");
      array_ = view_array(format_, slot_.data(), mapping_, true, slot_.capacity());
    }
    return array_;
  }
  py::tuple planes() {
    if (!slot_) raise(PyErrorKind::closed, "the slot was already committed or abandoned");
    return plane_arrays(format_, slot_.data(), mapping_, true, slot_.capacity());
  }
  std::uint64_t commit(const py::object& capture_ns, const py::object& metadata, const py::object& origin,
                       const py::object& payload_bytes);
  void abandon();
  bool open() const { return static_cast<bool>(slot_); }
  std::uint64_t seq() const { return slot_.seq(); }
  const FrameFormat& format() const { return format_; }

 private:
  friend class PyWriter;
  void seal() {  // after commit or abandon: the array must not write into a published frame
    if (!array_.is_none()) py::detail::array_proxy(array_.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  }

  py::object writer_;
  WriteSlot slot_;
  std::shared_ptr<const void> mapping_;
  FrameFormat format_;
  py::object array_ = py::none();
};

class PyWriter {
 public:
  PyWriter(std::string name, const py::object& width, const py::object& height, const py::object& format,
           std::uint32_t slots, std::uint32_t max_consumers, std::uint32_t metadata_capacity,
           std::uint32_t stride_align, std::uint32_t mode, double heartbeat, double max_block, bool prefault,
           std::uint64_t max_payload)
      : name_(std::move(name)), logs_(std::make_shared<LogQueue>()) {
    // Checked now, not at the first publish, even when the format comes later.
    if (auto err = check_stream_name(name_))
      throw Error(errc::invalid_name, "invalid stream name '" + name_ + "': " + *err);
    if (width.is_none() != height.is_none())
      raise(PyErrorKind::invalid, "give both width and height (or neither: the first published array sets them)");
    if (!format.is_none()) format_ = parse_format(format.cast<std::string>());
    opts_.slots = slots;
    opts_.max_consumers = max_consumers;
    opts_.metadata_capacity = metadata_capacity;
    opts_.stride_align = stride_align;
    opts_.mode = static_cast<mode_t>(mode);
    opts_.heartbeat = to_millis(heartbeat, "heartbeat");
    opts_.max_block = to_millis(max_block, "max_block");
    opts_.prefault = prefault;
    max_payload_ = max_payload;
    opts_.log = LogQueue::callback(logs_);
    if (!width.is_none()) {
      FrameFormat f;
      f.width = positive(width, "width");
      f.height = positive(height, "height");
      f.pixel_format = format_.value_or(PixelFormat::bgr8);
      f.max_payload = f.compressed() ? max_payload : 0;
      if (max_payload != 0 && !f.compressed()) raise(PyErrorKind::invalid, "max_payload is for format='jpeg' only");
      create(f);
    }
  }

  class Use {
   public:
    explicit Use(PyWriter& w) : lock_(w.mu_, std::try_to_lock) {
      if (!lock_)
        raise(PyErrorKind::busy, "Writer '" + w.name_ + "' is in use by another thread: use it from one thread");
      if (w.closed_) raise(PyErrorKind::closed, "Writer '" + w.name_ + "' is closed");
    }

   private:
    std::unique_lock<std::mutex> lock_;
  };

  std::uint64_t publish(const py::object& array, const py::object& capture_ns, const py::object& metadata,
                        const py::object& format, const py::object& origin) {
    Use use(*this);
    // Formats an array's channels cannot tell apart (YUV, Bayer, gray16, jpeg...) take the typed path.
    std::optional<PixelFormat> target;
    if (!format.is_none()) target = parse_format(format.cast<std::string>());
    else if (writer_) target = writer_->format().pixel_format;
    else target = format_;
    if (target && !is_classic(*target)) return publish_typed(array, *target, capture_ns, metadata, origin);
    ArrayImage img = check_image(array);
    Carried carried;
    carry(carried, metadata, origin);
    const std::uint64_t t = capture_time(capture_ns, carried.origin_capture_ns());
    const auto meta = carried.bytes;
    FrameFormat want;
    want.width = img.width;
    want.height = img.height;
    want.pixel_format = pick_format(img.channels, format);
    if (!writer_) {
      create(want);
    } else if (!same_shape(writer_->format(), want)) {
      reconfigure_locked(want);
    }
    const ImageView view{img.data, img.stride, img.width, img.height, img.channels};
    CommitResult r;
    {
      py::gil_scoped_release nogil;
      r = writer_->publish(view, t, meta, carried.origin_or_null());
    }
    logs_->drain();
    return checked(r);
  }

  py::object acquire(py::object self) {
    Use use(*this);
    if (!writer_) {
      raise(PyErrorKind::invalid, "Writer '" + name_ +
                                      "' has no format yet: give width and height to Writer() (or publish an "
                                      "array first) before acquire()");
    }
    WriteSlot slot;
    {
      py::gil_scoped_release nogil;  // may wait up to max_block for a lossless consumer
      slot = writer_->acquire();
    }
    logs_->drain();
    if (!slot) {
      if (slot.status() == CommitStatus::busy)
        raise(PyErrorKind::busy,
              "a slot of Writer '" + name_ + "' is acquired and not committed: commit() or abandon() it first");
      raise(PyErrorKind::closed, "Writer '" + name_ + "': " + std::string(to_string(slot.status())));
    }
    return py::cast(std::make_unique<PyWriteSlot>(std::move(self), std::move(slot)));
  }

  std::uint64_t commit(PyWriteSlot& s, const py::object& capture_ns, const py::object& metadata,
                       const py::object& origin, const py::object& payload_bytes) {
    Use use(*this);
    if (!s.slot_) raise(PyErrorKind::closed, "the slot was already committed or abandoned");
    if (!payload_bytes.is_none()) s.slot_.set_payload_bytes(payload_bytes.cast<std::size_t>());
    else if (s.format_.compressed())
      raise(PyErrorKind::invalid,
            "a jpeg slot needs commit(payload_bytes=N): how many bytes of its array are the JPEG");
    Carried carried;
    carry(carried, metadata, origin);
    const std::uint64_t t = capture_time(capture_ns, carried.origin_capture_ns());
    const auto meta = carried.bytes;
    CommitResult r;
    {
      py::gil_scoped_release nogil;
      r = writer_->commit(s.slot_, t, meta, carried.origin_or_null());
    }
    if (r.status != CommitStatus::metadata_too_large && r.status != CommitStatus::payload_too_large &&
        r.status != CommitStatus::payload_missing) {
      s.seal();
    }
    logs_->drain();
    return checked(r);
  }

  // abandon(), close(), stats() and a collected slot wait for another thread's call (acquire()
  // may block up to max_block with the GIL released) without holding the GIL.
  void abandon(PyWriteSlot& s) {
    const auto lock = lock_releasing_gil(mu_);
    s.slot_ = WriteSlot();
    s.seal();
  }
  void abandon_from_gc(PyWriteSlot& s) {
    const auto lock = lock_releasing_gil(mu_);
    s.slot_ = WriteSlot();
  }

  void reconfigure(std::uint32_t width, std::uint32_t height, const py::object& format) {
    Use use(*this);
    FrameFormat f;
    f.width = width;
    f.height = height;
    f.pixel_format = format.is_none() ? (writer_ ? writer_->format().pixel_format : format_.value_or(PixelFormat::bgr8))
                                      : parse_format(format.cast<std::string>());
    if (!format.is_none()) format_ = f.pixel_format;
    if (f.compressed()) f.max_payload = max_payload_;
    if (!writer_) {
      create(f);
    } else {
      reconfigure_locked(f);
    }
  }

  void close() {
    const auto lock = lock_releasing_gil(mu_);
    if (writer_) {
      py::gil_scoped_release nogil;
      writer_->close();
    }
    closed_ = true;
    logs_->drain();
  }

  py::dict stats() {
    py::dict d;
    const auto lock = lock_releasing_gil(mu_);
    if (!writer_) return d;
    const WriterStats s = writer_->stats();
    d["generation"] = s.generation;
    d["last_seq"] = s.last_seq;
    d["forced_overwrites"] = s.forced_overwrites;
    d["consumers_reaped"] = s.consumers_reaped;
    d["commits_aborted"] = s.commits_aborted;
    d["lossless_demotions"] = s.lossless_demotions;
    d["lossless_waits"] = s.lossless_waits;
    d["lossless_blocked_ns"] = s.lossless_blocked_ns;
    d["tampering"] = s.tampering;
    py::list consumers;
    for (const auto& c : s.consumers) consumers.append(fields_dict(fields(c)));
    d["consumers"] = consumers;
    return d;
  }

  py::object format_name() const {
    if (writer_) return py::str(std::string(to_string(writer_->format().pixel_format)));
    if (format_) return py::str(std::string(to_string(*format_)));
    return py::none();
  }
  std::uint32_t width() const { return writer_ ? writer_->format().width : 0; }
  std::uint32_t height() const { return writer_ ? writer_->format().height : 0; }
  std::size_t stride() const { return writer_ ? writer_->format().effective_stride() : 0; }
  std::uint64_t generation() const { return writer_ ? writer_->generation() : 0; }
  std::uint32_t metadata_capacity() const { return opts_.metadata_capacity; }
  const std::string& name() const { return name_; }
  bool closed() const { return closed_; }
  std::string repr() const {
    std::string s = "<shmframe.Writer '" + name_ + "' ";
    if (closed_) return s + "closed>";
    if (!writer_) return s + "no format yet>";
    return s + to_string(writer_->format()) + " generation=" + std::to_string(writer_->generation()) + ">";
  }

 private:
  static std::uint32_t positive(const py::object& v, const char* what) {
    long long n = 0;
    try {
      n = v.cast<long long>();
    } catch (const py::cast_error&) {
      raise(PyErrorKind::invalid, std::string(what) + " must be an int");
    }
    if (n < 1 || n > 32768)
      raise(PyErrorKind::invalid, std::string(what) + " must be 1..32768, got " + std::to_string(n));
    return static_cast<std::uint32_t>(n);
  }

  // The formats the channel count of an array picks (publish() without format=).
  static bool is_classic(PixelFormat f) {
    return f == PixelFormat::gray8 || f == PixelFormat::bgr8 || f == PixelFormat::rgb8 || f == PixelFormat::bgra8;
  }

  std::uint64_t publish_typed(const py::object& array, PixelFormat f, const py::object& capture_ns,
                              const py::object& metadata, const py::object& origin) {
    FrameArray fa = check_frame_array(array, f);
    Carried carried;
    carry(carried, metadata, origin);
    const std::uint64_t t = capture_time(capture_ns, carried.origin_capture_ns());
    const auto meta = carried.bytes;
    FrameFormat want;
    want.pixel_format = f;
    if (f == PixelFormat::jpeg) {  // a JPEG does not say its size here: the Writer's own
      if (!writer_) {
        raise(PyErrorKind::invalid,
              "Writer '" + name_ + "': give width and height to Writer() for a jpeg stream (the frames' pixel size)");
      }
      want.width = writer_->format().width;
      want.height = writer_->format().height;
      want.max_payload = max_payload_;
    } else {
      want.width = fa.width;
      want.height = fa.height;
      if (auto why = want.check()) raise(PyErrorKind::format, *why);
      for (std::uint32_t i = 0; i < want.plane_count(); ++i) {
        const PlaneLayout p = want.plane(i);
        if (fa.planes[i].rows != p.rows || fa.planes[i].row_bytes != p.row_bytes) {
          raise(PyErrorKind::format,
                std::string(to_string(f)) + " plane " + std::to_string(i) + " of a " + std::to_string(want.width) +
                    "x" + std::to_string(want.height) + " frame has " + std::to_string(p.rows) + " rows of " +
                    std::to_string(p.row_bytes) + " bytes, the array " + std::to_string(fa.planes[i].rows) + " of " +
                    std::to_string(fa.planes[i].row_bytes));
        }
      }
    }
    if (!writer_) create(want);
    else if (!same_shape(writer_->format(), want)) reconfigure_locked(want);
    CommitResult r;
    {
      py::gil_scoped_release nogil;
      r = f == PixelFormat::jpeg ? writer_->publish_payload(fa.payload, t, meta, carried.origin_or_null())
                                 : writer_->publish_planes(fa.planes, t, meta, carried.origin_or_null());
    }
    logs_->drain();
    return checked(r);
  }

  static bool same_shape(const FrameFormat& a, const FrameFormat& b) {
    return a.width == b.width && a.height == b.height && a.pixel_format == b.pixel_format;
  }

  // The format for an image with `c` channels: the one given to this call, else the one given
  // to the Writer (if its channels fit), else the default for `c`.
  PixelFormat pick_format(std::uint32_t c, const py::object& format) {
    if (!format.is_none()) {
      const PixelFormat f = parse_format(format.cast<std::string>());
      if (channels(f) != c) {
        raise(PyErrorKind::format, "format '" + std::string(to_string(f)) + "' has " + std::to_string(channels(f)) +
                                       " channels but the array has " + std::to_string(c));
      }
      return f;
    }
    if (writer_ && channels(writer_->format().pixel_format) == c) return writer_->format().pixel_format;
    if (format_ && channels(*format_) == c) return *format_;
    if (format_ && !writer_) {
      raise(PyErrorKind::format, "Writer '" + name_ + "' was given format '" + std::string(to_string(*format_)) +
                                     "' (" + std::to_string(channels(*format_)) + " channels) but the array has " +
                                     std::to_string(c));
    }
    return default_format(c);
  }

  void create(const FrameFormat& f) {
    WriterOptions o = opts_;
    o.format = f;
    py::gil_scoped_release nogil;
    writer_.emplace(name_, std::move(o));
  }

  void reconfigure_locked(const FrameFormat& f) {
    {
      py::gil_scoped_release nogil;
      writer_->reconfigure(f);
    }
    logs_->drain();
  }

  std::uint64_t checked(const CommitResult& r) const {
    switch (r.status) {
      case CommitStatus::ok: return r.seq;
      case CommitStatus::closed: raise(PyErrorKind::closed, "Writer '" + name_ + "' is closed");
      case CommitStatus::busy:
        raise(PyErrorKind::busy,
              "a slot of Writer '" + name_ + "' is acquired and not committed: commit() or abandon() it first");
      case CommitStatus::metadata_too_large:
        raise(PyErrorKind::invalid, "metadata is larger than the stream's metadata_capacity (" +
                                        std::to_string(opts_.metadata_capacity) +
                                        " bytes): pass a larger metadata_capacity to Writer()");
      case CommitStatus::payload_too_large:
      case CommitStatus::payload_missing:
      case CommitStatus::format_mismatch:
      case CommitStatus::bad_origin:
        raise(PyErrorKind::format, "Writer '" + name_ + "': " + std::string(explain(r.status)));
      case CommitStatus::stale_generation:
        raise(PyErrorKind::closed,
              "the slot belongs to a generation the Writer replaced (reconfigure): acquire a new one");
      default: break;
    }
    raise(PyErrorKind::error, "Writer '" + name_ + "': " + std::string(to_string(r.status)));
  }

  std::string name_;
  WriterOptions opts_;
  std::optional<PixelFormat> format_;  // as given by the user
  std::uint64_t max_payload_ = 0;      // jpeg: each frame's most bytes (0: width * height * 2)
  std::optional<Writer> writer_;
  std::shared_ptr<LogQueue> logs_;
  std::mutex mu_;
  bool closed_ = false;
};

PyWriteSlot::~PyWriteSlot() {
  if (slot_) writer_.cast<PyWriter&>().abandon_from_gc(*this);
}

std::uint64_t PyWriteSlot::commit(const py::object& capture_ns, const py::object& metadata, const py::object& origin,
                                  const py::object& payload_bytes) {
  return writer_.cast<PyWriter&>().commit(*this, capture_ns, metadata, origin, payload_bytes);
}

void PyWriteSlot::abandon() {
  if (slot_) writer_.cast<PyWriter&>().abandon(*this);
}

}  // namespace

void bind_writer(py::module_& m) {
  py::class_<PyWriteSlot>(m, "WriteSlot", R"doc(
A slot being written (Writer.acquire()): fill `array` in place, then commit(). Leaving a
`with writer.acquire() as slot:` block commits it (abandons it on an exception). An abandoned
slot is never seen by readers. After commit the array is read-only: its memory is the
published frame now.
)doc")
      .def_property_readonly("array", &PyWriteSlot::array,
                             "Writable array over the slot, shaped as Frame.array (jpeg: the slot's whole capacity, "
                             "1-D: write the JPEG at its start and commit(payload_bytes=N)).")
      .def_property_readonly("planes", &PyWriteSlot::planes, "One writable view per plane, as Frame.planes.")
      .def_property_readonly(
          "capacity", [](const PyWriteSlot& s) { return s.format().frame_bytes(); },
          "Bytes the slot holds (a jpeg frame's most).")
      .def_property_readonly("seq", &PyWriteSlot::seq, "The sequence number the frame will get.")
      .def_property_readonly("width", [](const PyWriteSlot& s) { return s.format().width; })
      .def_property_readonly("height", [](const PyWriteSlot& s) { return s.format().height; })
      .def_property_readonly("format",
                             [](const PyWriteSlot& s) { return std::string(to_string(s.format().pixel_format)); })
      .def_property_readonly("stride", [](const PyWriteSlot& s) { return s.format().effective_stride(); })
      .def_property_readonly("open", &PyWriteSlot::open, "False once committed or abandoned.")
      .def("commit", &PyWriteSlot::commit, py::arg("capture_ns") = py::none(), py::arg("metadata") = py::none(),
           py::arg("origin") = py::none(), py::arg("payload_bytes") = py::none(),
           "Publishes the slot as the next frame; returns its seq. capture_ns: CLOCK_MONOTONIC ns (None = now, or "
           "the origin's capture time). origin: the Frame this one was computed from (a processing stage): the frame "
           "then carries its origin record (frame.origin downstream, hops + 1). payload_bytes: jpeg only, the "
           "JPEG's size (FormatError beyond the capacity: the frame is never truncated).")
      .def("abandon", &PyWriteSlot::abandon, "Drops the slot uncommitted. Idempotent.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyWriteSlot& s, const py::object& type, const py::object&, const py::object&) {
        if (!s.open()) return;
        if (type.is_none()) {
          (void)s.commit(py::none(), py::none(), py::none(), py::none());
        } else {
          s.abandon();
        }
      });

  py::class_<PyWriter>(m, "Writer", R"doc(
Writer(name, width=None, height=None, format=None, *, slots=2, max_consumers=32,
       metadata_capacity=256, stride_align=1, mode=0o600, heartbeat=0.1, max_block=0.1,
       prefault=True, max_payload=0)

Owns stream `name` (a producer): creates its segment, publishes frames, keeps a heartbeat, and
closes it on close() or at the end of a `with` block.

    with shmframe.Writer("cam0", width=640, height=480) as w:
        w.publish(image)                     # copies; uint8 (480, 640, 3) -> 'bgr8'
        with w.acquire() as slot:            # zero-copy: fill the slot, commit on exit
            slot.array[:] = 0

Without width and height, the first published array sets the size. format: 'bgr8' (default
for 3 channels), 'rgb8', 'bgra8', 'gray8' (default for 1), or any of shmframe.FORMATS, whose
arrays publish() takes shaped as Frame.array: 'gray16' uint16 (h, w), 'yuyv' / 'uyvy' uint8
(h, w, 2), 'nv12' / 'i420' OpenCV's (h * 3 / 2, w) image or a tuple of planes, 'jpeg' the
file's bytes (width and height given here; max_payload: each frame's most bytes, default
width * height * 2). An array of another size or channel count starts a new generation
(consumers follow). mode: the segment's permissions (0o660 shares with the group). heartbeat,
max_block: seconds.
)doc")
      .def(py::init<std::string, const py::object&, const py::object&, const py::object&, std::uint32_t, std::uint32_t,
                    std::uint32_t, std::uint32_t, std::uint32_t, double, double, bool, std::uint64_t>(),
           py::arg("name"), py::arg("width") = py::none(), py::arg("height") = py::none(),
           py::arg("format") = py::none(), py::kw_only(), py::arg("slots") = 2, py::arg("max_consumers") = 32,
           py::arg("metadata_capacity") = 256, py::arg("stride_align") = 1, py::arg("mode") = 0600,
           py::arg("heartbeat") = 0.1, py::arg("max_block") = 0.1, py::arg("prefault") = true,
           py::arg("max_payload") = 0)
      .def("publish", &PyWriter::publish, py::arg("array"), py::arg("capture_ns") = py::none(),
           py::arg("metadata") = py::none(), py::arg("format") = py::none(), py::arg("origin") = py::none(),
           "Copies `array` (uint8, (h, w) or (h, w, c), pixels contiguous; other formats as Frame.array) into the "
           "next slot and commits it; "
           "returns its seq. capture_ns: CLOCK_MONOTONIC ns (None = now, or the origin's capture time). A new "
           "size or channel count (or `format`) starts a new generation. origin: the Frame this image was computed "
           "from (a processing stage): the frame then carries its origin record (frame.origin downstream, hops + 1).")
      .def(
          "acquire", [](py::object self) { return self.cast<PyWriter&>().acquire(self); },
          "The next slot, to fill in place (WriteSlot). Raises Busy while another slot is outstanding.")
      .def("reconfigure", &PyWriter::reconfigure, py::arg("width"), py::arg("height"), py::arg("format") = py::none(),
           "Starts a new generation with another format; consumers follow.")
      .def("close", &PyWriter::close, "Closes the stream (consumers see 'closed') and removes it. Idempotent.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyWriter& w, const py::args&) { w.close(); })
      .def_property_readonly("name", &PyWriter::name)
      .def_property_readonly("width", &PyWriter::width, "0 until the format is known.")
      .def_property_readonly("height", &PyWriter::height)
      .def_property_readonly("format", &PyWriter::format_name)
      .def_property_readonly("stride", &PyWriter::stride, "Bytes per slot row (after stride_align).")
      .def_property_readonly("generation", &PyWriter::generation)
      .def_property_readonly("metadata_capacity", &PyWriter::metadata_capacity)
      .def_property_readonly("closed", &PyWriter::closed)
      .def_property_readonly("stats", &PyWriter::stats,
                             "dict(generation, last_seq, forced_overwrites, consumers_reaped, commits_aborted, "
                             "lossless_*, tampering, consumers=[dict(pid, last_seq, lag, frames, drops, ...)]).")
      .def("__repr__", &PyWriter::repr);
}

}  // namespace shmframe::python
