// tests/apps/app_process.hpp: a real app binary as a child process of the test, with its
// stdout and stderr as line pipes (testkit.hpp: bounded reads; the child is killed and reaped
// by its Child's destructor). Used by test_apps.cpp and test_viewer.cpp.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "testkit.hpp"

namespace testkit {

// A running app with its stdout and stderr as line pipes.
struct App {
  std::unique_ptr<LinePipe> out = std::make_unique<LinePipe>();
  std::unique_ptr<LinePipe> err = std::make_unique<LinePipe>();
  std::unique_ptr<Child> proc;

  // `env`: "NAME=value" entries added to (or replacing) the test's environment for this app only.
  explicit App(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> vars = env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string v = *e;
      bool replaced = false;
      for (const auto& o : env) replaced = replaced || o.substr(0, o.find('=') + 1) == v.substr(0, v.find('=') + 1);
      if (!replaced) vars.push_back(v);
    }
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    const int o = out->write_fd(), e = err->write_fd();
    // Only async-signal-safe calls between fork and exec.
    proc = std::make_unique<Child>([&argv, &envp, o, e] {
      dup2(o, 1);
      dup2(e, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
      return 127;
    });
  }
  // Next stdout line parsed as JSON with the given event (others skipped), bounded.
  std::optional<nlohmann::ordered_json> event(const std::string& kind, std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
      auto l = out->recv(left_until(deadline));
      if (!l) return std::nullopt;
      auto j = nlohmann::ordered_json::parse(*l, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: " << *l;
      if (!j.is_discarded() && j.value("event", "") == kind) return j;
    }
    return std::nullopt;
  }
  // All of stderr so far (bounded).
  std::string errors(std::chrono::milliseconds budget = std::chrono::milliseconds(200)) {
    std::string all;
    while (auto l = err->recv(budget)) all += *l + "\n";
    return all;
  }
};

// The apps under test, as the test binary's CMake target names them (one definition).
#ifdef SHMFRAME_PRODUCER_BIN
inline const std::string kProducer = SHMFRAME_PRODUCER_BIN;
#endif
#ifdef SHMFRAME_CONSUMER_BIN
inline const std::string kConsumer = SHMFRAME_CONSUMER_BIN;
#endif

}  // namespace testkit
