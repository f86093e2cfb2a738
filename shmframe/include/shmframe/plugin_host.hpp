// shmframe/plugin_host.hpp: loading processing plugins (the host side of plugin.h).
//
// load_plugin() opens a plugin by path or by name, checks that it is one and speaks this
// host's plugin ABI, creates an instance with the user's arguments, and returns it as a
// shmframe::Processor to pass to shmframe::run(). Every refusal is an Error naming the file and
// the reason. The instance keeps the library loaded until it is destroyed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmframe/log.hpp"
#include "shmframe/processor.hpp"

namespace shmframe {

struct PluginInfo {
  std::string path;  // the file loaded
  std::string name;  // as the plugin names itself
  std::string description;
};

// Where plugins are looked for by name: $SHMFRAME_PLUGIN_PATH (colon-separated), then `extra`.
// A name NAME matches the files NAME.so, shmframe-NAME.so and libshmframe-NAME.so, only where no
// other user could have put them: a directory (and every one above it) and the file (and, through a
// link, its target) must belong to root or to the caller and be writable by nobody else (group
// write is fine for the caller's own private group); a sticky directory above (/tmp) may be
// world-writable. Others are skipped, and named in the not_found error. What is loaded is the
// resolved path that was checked. A path is loaded as given.
std::vector<std::string> plugin_search_path(const std::vector<std::string>& extra);

// Loads `plugin` (a path if it contains '/', else a name looked for in `search_path`) and creates
// an instance with `args`. Throws Error: not_found (no such file; names where it looked),
// invalid_argument (not a plugin, wrong ABI, creation refused, e.g. an unknown argument).
std::unique_ptr<Processor> load_plugin(std::string_view plugin,
                                       const std::vector<std::pair<std::string, std::string>>& args,
                                       const std::vector<std::string>& search_path, LogCallback log,
                                       PluginInfo* info = nullptr);

// As load_plugin(), for a plugin that takes synchronised sets of `streams` streams (on_set;
// plugin.h, "Sets"), to pass to run(SyncReader&, ...). Throws Error(invalid_argument) for a plugin
// that takes single frames only; load_plugin() refuses one that takes sets only.
std::unique_ptr<SetProcessor> load_set_plugin(std::string_view plugin, std::size_t streams,
                                              const std::vector<std::pair<std::string, std::string>>& args,
                                              const std::vector<std::string>& search_path, LogCallback log,
                                              PluginInfo* info = nullptr);

}  // namespace shmframe
