// The binding's shared helpers (common.hpp): formats, timeouts, numpy views of slots, checks of arrays
// handed in, and the log queue.
#include <cmath>
#include <string>
#include <utility>

#include "common.hpp"

namespace shmframe::python {

PixelFormat parse_format(const std::string& name) {
  if (auto f = parse_pixel_format(name)) return *f;
  raise(PyErrorKind::format, "unknown pixel format '" + name + "': use one of 'bgr8', 'rgb8', 'bgra8', 'gray8'");
}

std::uint32_t channels(PixelFormat f) noexcept { return bytes_per_pixel(f); }

PixelFormat default_format(std::uint32_t c) {
  switch (c) {
    case 1: return PixelFormat::gray8;
    case 3: return PixelFormat::bgr8;
    case 4: return PixelFormat::bgra8;
    default: break;
  }
  raise(PyErrorKind::format, "an image has 1 (gray8), 3 (bgr8/rgb8) or 4 (bgra8) channels, not " + std::to_string(c));
}

py::array view_array(const FrameFormat& format, const std::byte* data, std::shared_ptr<const void> owner,
                     bool writable) {
  const auto c = static_cast<py::ssize_t>(channels(format.pixel_format));
  // The base object owns a reference to the mapping: the array stays safe to read (and, for a
  // slot, to write) whatever happens to the Frame, the Reader or the Writer it came from.
  auto* keep = new std::shared_ptr<const void>(std::move(owner));
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); });
  // const_cast: numpy has no const data pointer; a read-only array is marked so below.
  py::array a(py::dtype::of<std::uint8_t>(),
              {static_cast<py::ssize_t>(format.height), static_cast<py::ssize_t>(format.width), c},
              {static_cast<py::ssize_t>(format.effective_stride()), c, py::ssize_t{1}}, const_cast<std::byte*>(data),
              base);
  if (!writable) py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
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
