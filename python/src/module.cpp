// The `shmframe._shmframe` extension module: the Python face of the C++ library (no second
// implementation of the protocol). The package `shmframe` (python/shmframe/__init__.py)
// re-exports it; python/shmframe/__init__.pyi types it.
#include <pybind11/stl.h>

#include <chrono>
#include <string>
#include <vector>

#include "common.hpp"
#include "shmframe/clock.hpp"
#include "shmframe/inspect.hpp"
#include "shmframe/writer.hpp"

namespace shmframe::python {
void bind_reader(py::module_& m);
void bind_writer(py::module_& m);

namespace {

py::dict status(const std::string& name) {
  StreamStatus s;
  {
    py::gil_scoped_release nogil;
    s = inspect(name);
  }
  py::dict d = fields_dict(fields(s));
  py::list consumers;
  for (const auto& c : s.consumers) consumers.append(fields_dict(fields(c)));
  d["consumers"] = consumers;
  return d;
}

// The baseline the Python publish is measured against (bench/python_bench.py): the same publish,
// looped in C++, on the same Writer and image. Returns the seconds per publish.
double bench_publish_cpp(const std::string& name, const py::object& array, int count) {
  ArrayImage img = check_image(array);
  WriterOptions o;
  o.format.width = img.width;
  o.format.height = img.height;
  o.format.pixel_format = default_format(img.channels);
  py::gil_scoped_release nogil;
  Writer w(name, o);
  const ImageView view{img.data, img.stride, img.width, img.height, img.channels};
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) (void)w.publish(view, monotonic_ns());
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count() / count;
}

}  // namespace
}  // namespace shmframe::python

PYBIND11_MODULE(_shmframe, m) {
  using namespace shmframe::python;  // NOLINT(google-build-using-namespace): the module's own names
  using shmframe::monotonic_ns;
  m.doc() = "shmframe: zero-copy video frames between processes through shared memory (the C++ library's binding).";
  register_errors(m);
  bind_reader(m);
  bind_writer(m);
  m.def("list_streams", &shmframe::list_streams, "Names of the shmframe streams on this host, sorted.");
  m.def("status", &status, py::arg("name"),
        "A stream's state without joining it (what `shmframe-consumer --status` prints): dict(name, state, "
        "producer_alive, generation, width, height, format, ..., consumers=[...]). Raises NotFound, "
        "PermissionDenied, ...");
  m.def("monotonic_ns", &monotonic_ns,
        "CLOCK_MONOTONIC in ns: the clock of capture_ns and commit_ns (= time.monotonic_ns()).");
  m.def("_bench_publish_cpp", &bench_publish_cpp, py::arg("name"), py::arg("array"), py::arg("count"));
  py::list formats;  // the library's one spelling of each (names.hpp)
  for (shmframe::PixelFormat f : shmframe::kPixelFormats) formats.append(std::string(shmframe::to_string(f)));
  m.attr("FORMATS") = py::tuple(std::move(formats));
}
