// The binding's shared helpers (common.hpp): formats, timeouts, numpy views of slots, checks of arrays
// handed in, and the log queue.
#include <cmath>
#include <string>
#include <utility>

#include "common.hpp"

namespace shmframe::python {

PixelFormat parse_format(const std::string& name) {
  if (auto f = parse_pixel_format(name)) return *f;
  raise(PyErrorKind::format, "unknown pixel format '" + name + "': use one of " + pixel_format_names());
}

// The last dimension of a packed format's array (gray16: 1 uint16 channel).
std::uint32_t channels(PixelFormat f) noexcept {
  if (f == PixelFormat::gray16) return 1;
  return bytes_per_pixel(f);
}

PixelFormat default_format(std::uint32_t c) {
  switch (c) {
    case 1: return PixelFormat::gray8;
    case 3: return PixelFormat::bgr8;
    case 4: return PixelFormat::bgra8;
    default: break;
  }
  raise(PyErrorKind::format, "an image has 1 (gray8), 3 (bgr8/rgb8) or 4 (bgra8) channels, not " + std::to_string(c) +
                                 "; for other formats (yuyv, gray16, nv12, jpeg, ...) pass format=");
}

namespace {

py::capsule keeper(std::shared_ptr<const void> owner) {
  // The base object owns a reference to the mapping: the array stays safe to read (and, for a
  // slot, to write) whatever happens to the Frame, the Reader or the Writer it came from.
  auto* keep = new std::shared_ptr<const void>(std::move(owner));
  return py::capsule(keep, [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); });
}

py::array make_view(const py::dtype& dt, std::vector<py::ssize_t> shape, std::vector<py::ssize_t> strides,
                    const std::byte* data, const py::capsule& base, bool writable) {
  // const_cast: numpy has no const data pointer; a read-only array is marked so below.
  py::array a(dt, std::move(shape), std::move(strides), const_cast<std::byte*>(data), base);
  if (!writable) py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

using S = py::ssize_t;

}  // namespace

py::array view_array(const FrameFormat& format, const std::byte* data, std::shared_ptr<const void> owner, bool writable,
                     std::size_t payload_bytes) {
  const py::capsule base = keeper(std::move(owner));
  const auto h = static_cast<S>(format.height);
  const auto w = static_cast<S>(format.width);
  const auto stride = static_cast<S>(format.effective_stride());
  const PixelFormat pf = format.pixel_format;
  if (format.compressed()) {
    return make_view(py::dtype::of<std::uint8_t>(), {static_cast<S>(payload_bytes)}, {1}, data, base, writable);
  }
  if (format.plane_count() > 1) {
    // OpenCV's layout (cv_view()); an i420 array needs tight Y rows too: numpy, unlike OpenCV's
    // conversion, reads two half-pitch chroma rows per row as one row of `width` bytes.
    const bool stacked = format.opencv_420_image() &&
                         (pf == PixelFormat::nv12 || format.effective_stride() == format.row_bytes());
    if (!stacked) {
      raise(PyErrorKind::format, std::string(to_string(pf)) +
                                     " planes with these strides are not one (height * 3 / 2, width) image: use "
                                     "frame.planes");
    }
    return make_view(py::dtype::of<std::uint8_t>(), {h * 3 / 2, w}, {stride, 1}, data, base, writable);
  }
  if (pf == PixelFormat::gray16) {
    return make_view(py::dtype::of<std::uint16_t>(), {h, w, 1}, {stride, 2, 2}, data, base, writable);
  }
  const auto c = static_cast<S>(bytes_per_pixel(pf));
  return make_view(py::dtype::of<std::uint8_t>(), {h, w, c}, {stride, c, 1}, data, base, writable);
}

py::tuple plane_arrays(const FrameFormat& format, const std::byte* data, std::shared_ptr<const void> owner,
                       bool writable, std::size_t payload_bytes) {
  if (format.plane_count() == 1)
    return py::make_tuple(view_array(format, data, std::move(owner), writable, payload_bytes));
  const py::capsule base = keeper(std::move(owner));
  const auto u8 = py::dtype::of<std::uint8_t>();
  const PlaneLayout y = format.plane(0);
  const PlaneLayout c = format.plane(1);
  const auto w = static_cast<S>(format.width);
  const auto h = static_cast<S>(format.height);
  py::array luma = make_view(u8, {h, w}, {static_cast<S>(y.stride), 1}, data, base, writable);
  if (format.pixel_format == PixelFormat::nv12) {
    return py::make_tuple(
        luma, make_view(u8, {h / 2, w / 2, 2}, {static_cast<S>(c.stride), 2, 1}, data + c.offset, base, writable));
  }
  const PlaneLayout v = format.plane(2);
  return py::make_tuple(luma,
                        make_view(u8, {h / 2, w / 2}, {static_cast<S>(c.stride), 1}, data + c.offset, base, writable),
                        make_view(u8, {h / 2, w / 2}, {static_cast<S>(v.stride), 1}, data + v.offset, base, writable));
}

namespace {

// `a` as rows of `row_bytes` contiguous bytes (any row pitch), with the dtype and trailing shape
// given: one plane. FormatError naming `what` otherwise.
PlaneView plane_of(const py::array& a, const char* dtype, std::size_t item, std::vector<S> tail,
                   const std::string& what) {
  const bool dtype_ok = a.dtype().kind() == 'u' && static_cast<std::size_t>(a.dtype().itemsize()) == item;
  bool shape_ok = a.ndim() == static_cast<S>(2 + tail.size());
  for (std::size_t i = 0; shape_ok && i < tail.size(); ++i) shape_ok = a.shape(static_cast<S>(2 + i)) == tail[i];
  if (!dtype_ok || !shape_ok || a.shape(0) == 0 || a.shape(1) == 0) {
    std::string shape;
    for (S i = 0; i < a.ndim(); ++i) shape += (i != 0 ? ", " : "") + std::to_string(a.shape(i));
    raise(PyErrorKind::format,
          what + " must be a " + dtype + " array, not " + std::string(py::str(a.dtype())) + " (" + shape + ")");
  }
  S row = static_cast<S>(item);
  for (S i = a.ndim() - 1; i >= 1; --i) {
    if (a.strides(i) != row) {
      raise(PyErrorKind::format, what + ": pixels must be contiguous within each row: pass numpy.ascontiguousarray()");
    }
    row *= a.shape(i);
  }
  if (a.strides(0) < row) raise(PyErrorKind::format, what + ": rows overlap (strides[0] below a row)");
  return PlaneView{static_cast<const std::byte*>(a.data()), static_cast<std::size_t>(a.strides(0)),
                   static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(a.shape(0))};
}

py::array as_array(const py::handle& obj, const std::string& what) {
  if (!py::isinstance<py::array>(obj)) {
    raise(PyErrorKind::format,
          what + " must be a numpy array, not " + std::string(py::str(obj.get_type().attr("__name__"))));
  }
  return py::reinterpret_borrow<py::array>(obj);
}

}  // namespace

FrameArray check_frame_array(const py::handle& obj, PixelFormat format) {
  FrameArray fa;
  const std::string name(to_string(format));
  if (format == PixelFormat::jpeg) {
    if (py::isinstance<py::bytes>(obj) || py::isinstance<py::bytearray>(obj) || py::isinstance<py::memoryview>(obj)) {
      py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request();
      fa.payload = {static_cast<const std::byte*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize)};
      fa.keep.push_back(py::reinterpret_borrow<py::object>(obj));
      return fa;
    }
    py::array a = as_array(obj, "a jpeg frame");
    if (a.ndim() != 1 || a.dtype().itemsize() != 1 || a.strides(0) != 1) {
      raise(PyErrorKind::format, "a jpeg frame is bytes or a contiguous 1-D uint8 array (the JPEG file's bytes)");
    }
    fa.payload = {static_cast<const std::byte*>(a.data()), static_cast<std::size_t>(a.shape(0))};
    fa.keep.push_back(a);
    return fa;
  }
  const bool planar = format == PixelFormat::nv12 || format == PixelFormat::i420;
  if (planar && (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj))) {
    const auto seq = py::reinterpret_borrow<py::sequence>(obj);
    const std::size_t n = format == PixelFormat::nv12 ? 2 : 3;
    if (seq.size() != n)
      raise(PyErrorKind::format, name + " has " + std::to_string(n) + " planes, not " + std::to_string(seq.size()));
    for (std::size_t i = 0; i < n; ++i) {
      py::array a = as_array(seq[i], name + " plane " + std::to_string(i));
      const bool uv = format == PixelFormat::nv12 && i == 1;
      fa.planes.push_back(
          plane_of(a, "uint8", 1, uv ? std::vector<S>{2} : std::vector<S>{}, name + " plane " + std::to_string(i)));
      fa.keep.push_back(a);
    }
    fa.width = fa.planes[0].row_bytes;
    fa.height = fa.planes[0].rows;
    return fa;
  }
  py::array a = as_array(obj, "an image");
  fa.keep.push_back(a);
  if (planar) {  // OpenCV's (height * 3 / 2, width) image
    const PlaneView all = plane_of(a, "uint8 (height * 3 / 2, width)", 1, {}, "an " + name + " image");
    if (all.rows % 3 != 0 || all.row_bytes % 2 != 0) {
      raise(PyErrorKind::format, "an " + name + " image has height * 3 / 2 rows of an even width, not " +
                                     std::to_string(all.rows) + " x " + std::to_string(all.row_bytes));
    }
    fa.width = all.row_bytes;
    fa.height = all.rows / 3 * 2;
    fa.planes.push_back({all.data, all.stride, fa.width, fa.height});
    const std::byte* chroma = all.data + all.stride * fa.height;
    if (format == PixelFormat::nv12) {
      fa.planes.push_back({chroma, all.stride, fa.width, fa.height / 2});
    } else {
      if (all.stride != all.row_bytes)
        raise(PyErrorKind::format, "an i420 image must be contiguous (numpy.ascontiguousarray())");
      const std::size_t quarter = std::size_t{fa.width} / 2 * (fa.height / 2);
      fa.planes.push_back({chroma, fa.width / 2, fa.width / 2, fa.height / 2});
      fa.planes.push_back({chroma + quarter, fa.width / 2, fa.width / 2, fa.height / 2});
    }
    return fa;
  }
  PlaneView p;
  if (format == PixelFormat::gray16) {
    p = a.ndim() == 2 ? plane_of(a, "uint16 (height, width)", 2, {}, "a gray16 image")
                      : plane_of(a, "uint16 (height, width, 1)", 2, {1}, "a gray16 image");
  } else {
    const S c = bytes_per_pixel(format);
    const std::string shape = "uint8 (height, width, " + std::to_string(c) + ")";
    p = a.ndim() == 2 && c == 1 ? plane_of(a, "uint8 (height, width)", 1, {}, "a " + name + " image")
                                : plane_of(a, shape.c_str(), 1, {c}, "a " + name + " image");
  }
  fa.width = p.row_bytes / bytes_per_pixel(format);
  fa.height = p.rows;
  fa.planes.push_back(p);
  return fa;
}

ArrayImage check_image(const py::handle& obj) {
  if (!py::isinstance<py::array>(obj)) {
    raise(PyErrorKind::format, std::string("an image must be a numpy array (uint8, height x width x channels), not ") +
                                   std::string(py::str(obj.get_type().attr("__name__"))));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().kind() != 'u' || a.dtype().itemsize() != 1) {
    raise(PyErrorKind::format, "an image's dtype must be uint8, not " + std::string(py::str(a.dtype())) +
                                   " (convert with array.astype(numpy.uint8))");
  }
  if (a.ndim() != 2 && a.ndim() != 3) {
    raise(PyErrorKind::format,
          "an image is (height, width) or (height, width, channels), not " + std::to_string(a.ndim()) + "-dimensional");
  }
  ArrayImage img;
  img.height = static_cast<std::uint32_t>(a.shape(0));
  img.width = static_cast<std::uint32_t>(a.shape(1));
  img.channels = a.ndim() == 3 ? static_cast<std::uint32_t>(a.shape(2)) : 1;
  if (img.channels != 1 && img.channels != 3 && img.channels != 4) {
    raise(PyErrorKind::format, "an image has 1, 3 or 4 channels (shape[2]), not " + std::to_string(img.channels));
  }
  if (img.width == 0 || img.height == 0) raise(PyErrorKind::format, "an image must not be empty (0 rows or columns)");
  // Rows may be padded (any positive row stride); within a row, pixels and their channels must
  // be packed: that is what a slot row is.
  const bool packed = a.strides(1) == static_cast<py::ssize_t>(img.channels) && (a.ndim() == 2 || a.strides(2) == 1);
  const bool rows_ok = a.strides(0) >= static_cast<py::ssize_t>(img.width) * static_cast<py::ssize_t>(img.channels);
  if (!packed || !rows_ok) {
    std::string strides;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) strides += (i != 0 ? ", " : "") + std::to_string(a.strides(i));
    raise(PyErrorKind::format, "an image's pixels must be contiguous within each row (its strides are (" + strides +
                                   ")): pass numpy.ascontiguousarray(image)");
  }
  img.data = static_cast<const std::byte*>(a.data());
  img.stride = static_cast<std::size_t>(a.strides(0));
  img.array = std::move(a);
  return img;
}

py::dict fields_dict(const Fields& fields) {
  py::dict d;
  for (const auto& [key, value] : fields) {
    std::visit([&d, k = std::string(key)](const auto& v) { d[py::str(k)] = v; }, value);
  }
  return d;
}

LogCallback LogQueue::callback(const std::shared_ptr<LogQueue>& queue) {
  return [queue](LogLevel level, const std::string& message) {
    std::lock_guard lock(queue->mu_);
    if (queue->items_.size() >= 256) {
      queue->items_.pop_front();
      ++queue->lost_;
    }
    queue->items_.emplace_back(level, message);
    queue->pending_.store(true, std::memory_order_release);  // pairs with the acquire in drain()
  };
}

void LogQueue::drain() {
  // acquire: pairs with the release in the callback; a message queued after this load is
  // drained by the next call.
  if (!pending_.load(std::memory_order_acquire)) return;
  std::deque<std::pair<LogLevel, std::string>> items;
  std::uint64_t lost = 0;
  {
    std::lock_guard lock(mu_);
    pending_.store(false, std::memory_order_relaxed);  // under mu_, with the swap below
    if (items_.empty() && lost_ == 0) return;
    items.swap(items_);
    std::swap(lost, lost_);
  }
  py::object logger = py::module_::import("logging").attr("getLogger")("shmframe");
  if (lost != 0) logger.attr("warning")(std::to_string(lost) + " shmframe log messages dropped (more than 256 queued)");
  for (auto& [level, message] : items) {
    const char* method = "debug";
    switch (level) {
      case LogLevel::debug: method = "debug"; break;
      case LogLevel::info: method = "info"; break;
      case LogLevel::warn: method = "warning"; break;
      case LogLevel::error: method = "error"; break;
    }
    logger.attr(method)(message);
  }
}

std::optional<std::chrono::nanoseconds> to_timeout(const py::object& seconds, const char* what) {
  if (seconds.is_none()) return std::nullopt;
  double s = 0;
  try {
    s = seconds.cast<double>();
  } catch (const py::cast_error&) {
    raise(PyErrorKind::invalid, std::string(what) + " must be a number of seconds or None, not " +
                                    std::string(py::str(seconds.get_type().attr("__name__"))));
  }
  if (!(s >= 0) || std::isinf(s)) {  // NaN fails the comparison
    if (std::isinf(s) && s > 0) return std::nullopt;
    raise(PyErrorKind::invalid,
          std::string(what) + " must be >= 0 seconds (or None to wait forever), got " + std::string(py::str(seconds)));
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
}

std::chrono::milliseconds to_millis(double seconds, const char* what) {
  if (!(seconds >= 0) || seconds > 86400.0)
    raise(PyErrorKind::invalid,
          std::string(what) + " must be between 0 and 86400 seconds, got " + std::to_string(seconds));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

}  // namespace shmframe::python
