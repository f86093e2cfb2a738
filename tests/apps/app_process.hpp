// tests/apps/app_process.hpp: a real app binary run as a child process, for the app tests.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "testkit.hpp"

namespace apptest {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

// A running app with its stdout and stderr as line pipes.
struct App {
  std::unique_ptr<testkit::LinePipe> out = std::make_unique<testkit::LinePipe>();
  std::unique_ptr<testkit::LinePipe> err = std::make_unique<testkit::LinePipe>();
  std::unique_ptr<testkit::Child> proc;

  explicit App(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int o = out->write_fd(), e = err->write_fd();
    // Only async-signal-safe calls between fork and exec.
    proc = std::make_unique<testkit::Child>([&argv, o, e] {
      dup2(o, 1);
      dup2(e, 2);
      execv(argv[0], argv.data());
      _exit(127);
      return 127;
    });
  }
  // Next stdout line parsed as JSON with the given event (others skipped), bounded.
  std::optional<json> event(const std::string& kind, std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
      auto l = out->recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!l) return std::nullopt;
      json j = json::parse(*l, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: " << *l;
      if (!j.is_discarded() && j.value("event", "") == kind) return j;
    }
    return std::nullopt;
  }
  // All of stderr so far (bounded).
  std::string errors(std::chrono::milliseconds budget = 200ms) {
    std::string all;
    while (auto l = err->recv(budget)) all += *l + "\n";
    return all;
  }
};

inline const std::string kProducer = SHMFRAME_PRODUCER_BIN;
inline const std::string kConsumer = SHMFRAME_CONSUMER_BIN;

}  // namespace apptest
