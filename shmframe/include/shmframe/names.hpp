// shmframe/names.hpp: the one spelling of every option value, and its parser.
//
// Each option enum (Delivery, WaitPolicy, Access, ConsumerDelivery, PixelFormat) has one table here: value,
// name, one-line description. to_string() prints the name; parse_name() accepts the name, with
// '_' and '-' taken as the same character (Python's "every_frame" is the CLI's "every-frame"), and
// nothing else; name_choices() lists the names for an error message. The apps' options, the
// Python binding's keyword values, the GStreamer elements' enum properties and --list all use
// these tables. Values only; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shmframe/info.hpp"
#include "shmframe/reader.hpp"

namespace shmframe {

template <class E>
struct EnumName {
  E value;
  std::string_view name;         // printed everywhere; NUL-terminated (a literal)
  std::string_view description;  // one line, for --help and GStreamer's property docs
};

// The table of an option enum (specialized below for each).
template <class E>
std::span<const EnumName<E>> enum_names() noexcept;
template <>
std::span<const EnumName<Delivery>> enum_names<Delivery>() noexcept;
template <>
std::span<const EnumName<WaitPolicy>> enum_names<WaitPolicy>() noexcept;
template <>
std::span<const EnumName<Access>> enum_names<Access>() noexcept;
template <>
std::span<const EnumName<ConsumerDelivery>> enum_names<ConsumerDelivery>() noexcept;
template <>
std::span<const EnumName<PixelFormat>> enum_names<PixelFormat>() noexcept;

// The name of `value` ("unknown" for a value not in the table).
template <class E>
std::string_view name_of(E value) noexcept {
  for (const auto& n : enum_names<E>()) {
    if (n.value == value) return n.name;
  }
  return "unknown";
}

// The value named `text` ('_' and '-' alike); nullopt for anything else.
template <class E>
std::optional<E> parse_name(std::string_view text) noexcept {
  for (const auto& n : enum_names<E>()) {
    if (n.name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < text.size() && same; ++i) {
      const char a = text[i] == '_' ? '-' : text[i];
      const char b = n.name[i] == '_' ? '-' : n.name[i];
      same = a == b;
    }
    if (same) return n.value;
  }
  return std::nullopt;
}

// "'latest', 'every-frame' or 'lossless'": for error messages.
template <class E>
std::string name_choices() {
  std::string out;
  const auto names = enum_names<E>();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) out += i + 1 == names.size() ? " or " : ", ";
    out += "'" + std::string(names[i].name) + "'";
  }
  return out;
}

}  // namespace shmframe
