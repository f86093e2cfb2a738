// The exception hierarchy of the Python module: every exception derives from shmframe.Error, and
// each also derives from the built-in exception a Python user would catch for it
// (PermissionError, FileNotFoundError, TimeoutError, ValueError...). shmframe::Error from the
// library is translated by its errc.
#include <array>
#include <string>

#include "common.hpp"

namespace shmframe::python {
namespace {

struct ExceptionSpec {
  const char* name;
  PyObject* builtin;  // a second base, or nullptr
  const char* doc;
};

// Borrowed references to the classes, owned by the module (alive while it is loaded).
PyObject* g_error = nullptr;
std::array<PyObject*, 7> g_kinds{};                                          // by PyErrorKind
std::array<PyObject*, static_cast<int>(errc::interrupted) + 1> g_by_errc{};  // by errc

PyObject* make(py::module_& m, const ExceptionSpec& spec) {
  const std::string qualified = std::string("shmframe.") + spec.name;
  PyObject* bases = spec.builtin != nullptr ? PyTuple_Pack(2, g_error, spec.builtin) : PyTuple_Pack(1, g_error);
  if (bases == nullptr) throw py::error_already_set();
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), spec.doc, bases, nullptr);
  Py_DECREF(bases);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(spec.name, py::handle(cls));  // steals: the module owns the class
  return cls;
}

// The class of a library error code.
PyObject* class_of(std::error_code code) noexcept {
  if (code.category() == category()) {
    const auto i = static_cast<std::size_t>(code.value());
    if (i < g_by_errc.size() && g_by_errc.at(i) != nullptr) return g_by_errc.at(i);
    return g_error;
  }
  return code ? g_by_errc.at(static_cast<std::size_t>(errc::system_error)) : g_error;
}

// Sets the Python error: an instance of `cls` whose `errno` attribute is `native_errno`
// (every shmframe.Error has one, 0 when no OS call failed).
void set_error(PyObject* cls, const std::string& message, int native_errno) {
  PyObject* value = PyObject_CallFunction(cls, "s", message.c_str());
  if (value == nullptr) return;  // the call's own exception is set
  PyObject* errno_value = PyLong_FromLong(native_errno);
  if (errno_value != nullptr) {
    PyObject_SetAttrString(value, "errno", errno_value);
    Py_DECREF(errno_value);
  }
  PyErr_SetObject(cls, value);
  Py_DECREF(value);
}

}  // namespace

void raise(PyErrorKind kind, const std::string& message) {
  set_error(g_kinds.at(static_cast<std::size_t>(kind)), message, 0);
  throw py::error_already_set();
}

void raise(std::error_code code, const std::string& message) {
  set_error(class_of(code), message.empty() ? code.message() : message,
            code.category() == category() ? 0 : code.value());
  throw py::error_already_set();
}

void register_errors(py::module_& m) {
  g_error = PyErr_NewExceptionWithDoc(
      "shmframe.Error",
      "Base class of every shmframe exception. str(e) names the stream, what was expected and "
      "found, and the fix; `errno` is the OS error behind it (0 if none).",
      PyExc_Exception, nullptr);
  if (g_error == nullptr) throw py::error_already_set();
  m.add_object("Error", py::handle(g_error));

  // A class per library error (errc) and per binding-level failure.
  const auto add = [&](errc code, const ExceptionSpec& spec) { g_by_errc.at(static_cast<int>(code)) = make(m, spec); };
  add(errc::invalid_name, {"InvalidName", PyExc_ValueError, "The stream name is not [A-Za-z0-9_.-]{1,64}."});
  add(errc::invalid_argument, {"InvalidArgument", PyExc_ValueError, "An option is out of range or does not fit."});
  add(errc::not_found, {"NotFound", PyExc_FileNotFoundError, "No stream with that name (yet)."});
  add(errc::permission_denied,
      {"PermissionDenied", PyExc_PermissionError, "The stream exists but this user may not use it."});
  add(errc::abi_mismatch, {"AbiMismatch", nullptr, "The segment speaks another ABI version: rebuild one side."});
  add(errc::bad_magic, {"BadMagic", nullptr, "The object at the stream's name is not a shmframe segment."});
  add(errc::corrupt, {"Corrupt", nullptr, "A header field of the segment is out of range."});
  add(errc::init_timeout,
      {"InitTimeout", PyExc_TimeoutError, "The producer did not finish creating the segment in time."});
  add(errc::creator_died, {"CreatorDied", nullptr, "The producer died while creating the segment."});
  add(errc::already_owned, {"AlreadyOwned", nullptr, "A live producer already owns the stream name."});
  add(errc::too_many_consumers,
      {"TooManyConsumers", nullptr, "Every consumer entry of the stream is taken by a live consumer."});
  add(errc::closed, {"Closed", nullptr, "The stream or object was closed."});
  add(errc::system_error, {"OsError", PyExc_OSError, "An OS call failed (errno says which)."});
  add(errc::interrupted, {"Interrupted", nullptr, "The wait was ended by close() or interrupt() from another thread."});

  g_kinds[static_cast<int>(PyErrorKind::error)] = g_error;
  g_kinds[static_cast<int>(PyErrorKind::closed)] = g_by_errc[static_cast<int>(errc::closed)];
  g_kinds[static_cast<int>(PyErrorKind::invalid)] = g_by_errc[static_cast<int>(errc::invalid_argument)];
  // FormatError: a wrong dtype is a TypeError to Python, a wrong shape a ValueError: it is both.
  {
    PyObject* bases = PyTuple_Pack(3, g_error, PyExc_ValueError, PyExc_TypeError);
    if (bases == nullptr) throw py::error_already_set();
    PyObject* cls = PyErr_NewExceptionWithDoc(
        "shmframe.FormatError",
        "An array does not fit the stream: dtype (uint8), shape (height, width[, channels]), "
        "channels for the format, or layout (pixels must be contiguous).",
        bases, nullptr);
    Py_DECREF(bases);
    if (cls == nullptr) throw py::error_already_set();
    m.add_object("FormatError", py::handle(cls));
    g_kinds[static_cast<int>(PyErrorKind::format)] = cls;
  }
  g_kinds[static_cast<int>(PyErrorKind::timeout)] = make(
      m, {"Timeout", PyExc_TimeoutError, "Nothing arrived before the timeout."});
  g_kinds[static_cast<int>(PyErrorKind::overrun)] = make(
      m, {"Overrun", nullptr, "The producer overwrote the frame while it was being copied."});
  g_kinds[static_cast<int>(PyErrorKind::busy)] = make(
      m, {"Busy", nullptr,
          "The object is in use: another thread is in a call on it, or a slot is acquired and "
          "not committed yet."});

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const shmframe::Error& e) {
      // The instance carries errno as an attribute, so `except shmframe.Error as e: e.errno`.
      // what() is "<message>: <category text>"; the message alone already says it all.
      std::string message = e.what();
      const std::string suffix = ": " + e.code().message();
      if (message.size() > suffix.size() && message.ends_with(suffix)) message.resize(message.size() - suffix.size());
      set_error(class_of(e.code()), message, e.native_errno());
    }
  });
}

}  // namespace shmframe::python
