// tests/support/stream_test.hpp: the gtest fixture of the in-process tests. It owns one stream
// per test (a StreamGuard named after the test), the Writer on it and a Reader, created by
// start() with the options the test needs; they go in reverse order (reader, writer, names).
//
// Threads: the fixture is driven by the test's thread; the Writer runs its heartbeat thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <shmframe/shmframe.hpp>
#include <string>

#include "testkit.hpp"

namespace testkit {

class StreamTest : public ::testing::Test {
 protected:
  StreamTest() : guard_(test_tag()) {}

  // Creates the Writer and a Reader on the stream; with `attach`, the Reader attaches now.
  shmframe::Writer& start(shmframe::WriterOptions o = small_options(), bool attach = true,
                          shmframe::ReaderOptions ro = {}) {
    reader_.reset();
    writer_.reset();
    writer_.emplace(guard_.name(), std::move(o));
    reader_.emplace(guard_.name(), std::move(ro));
    if (attach) reader_->attach(std::chrono::seconds(1));
    return *writer_;
  }
  // The producer goes away (closes the stream) while the Reader stays.
  void stop_writer() { writer_.reset(); }
  shmframe::Writer& w() { return *writer_; }
  shmframe::Reader& r() { return *reader_; }
  const std::string& name() const { return guard_.name(); }
  const StreamGuard& guard() const { return guard_; }

  // Commits one frame with the pattern of `tag` and capture_ns 1000 + tag; returns its seq
  // (0 if it did not commit).
  std::uint64_t put(std::uint64_t tag) {
    shmframe::WriteSlot s = writer_->acquire();
    EXPECT_TRUE(s) << to_string(s.status());
    if (!s) return 0;
    fill_pattern(s.data(), writer_->format().frame_bytes(), tag);
    return writer_->commit(s, 1000 + tag).seq;
  }
  // Commits one frame whose pattern is its own seq; returns the seq.
  std::uint64_t put_own() {
    shmframe::WriteSlot s = writer_->acquire();
    EXPECT_TRUE(s) << to_string(s.status());
    if (!s) return 0;
    fill_pattern(s.data(), writer_->format().frame_bytes(), s.seq());
    return writer_->commit(s, shmframe::monotonic_ns()).seq;
  }
  // The next event of the Reader, which must be a frame (an empty event otherwise, reported).
  shmframe::Event next_frame(std::chrono::milliseconds timeout = std::chrono::seconds(1)) {
    shmframe::Event e = reader_->wait(timeout);
    EXPECT_EQ(e.kind, shmframe::EventKind::frame) << "got " << to_string(e.kind) << " " << e.message;
    return e;
  }

 private:
  // The test's name as a stream-name tag ([A-Za-z0-9_.-]).
  static std::string test_tag() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string tag = info != nullptr ? info->name() : "test";
    for (char& c : tag) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.';
      if (!ok) c = '_';
    }
    return tag;
  }

  StreamGuard guard_;
  std::optional<shmframe::Writer> writer_;
  std::optional<shmframe::Reader> reader_;
};

}  // namespace testkit
