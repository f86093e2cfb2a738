// common/enum_option.hpp: a command-line option over one of the library's named enums
// (shmframe/names.hpp): its values and their help come from the library's table, which also checks
// and parses them. Header-only, so that the benches use it without the apps (they may be built
// with SHMFRAME_BUILD_APPS off).
#pragma once

#include <CLI/CLI.hpp>
#include <shmframe/names.hpp>
#include <string>
#include <vector>

namespace shmframe::app {

// --NAME with the values of enum E: their help, checked against the table, parsed by it.
template <class E>
CLI::Option* add_enum_option(CLI::App& cli, const std::string& option, E& value, const std::string& what) {
  std::string help = what;
  std::vector<std::string> names;
  for (const auto& n : shmframe::enum_names<E>()) {
    help += "; " + std::string(n.name) + ": " + std::string(n.description);
    names.emplace_back(n.name);
  }
  return cli
      .add_option_function<std::string>(
          option, [&value](const std::string& v) { value = *shmframe::parse_name<E>(v); },  // checked below
          help)
      ->check(CLI::IsMember(names))
      ->default_str(std::string(shmframe::name_of(value)));
}

}  // namespace shmframe::app
