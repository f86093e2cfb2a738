// Failure paths across real processes: a producer killed mid-write, creators killed during
// initialization, a second producer, permissions, and generation changes.
#include <grp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "mp_common.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::StreamGuard;

namespace {

// Waits (bounded) for the next event of `kind` on `r`, failing on any frame for which
// `forbidden(frame)` holds.
Event expect_event(Reader& r, EventKind kind, std::chrono::milliseconds budget,
                   const std::function<bool(const Frame&)>& forbidden = {}) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < deadline) {
    Event e = r.wait(100ms);
    if (e.kind == EventKind::frame && forbidden && forbidden(e.frame)) {
      ADD_FAILURE() << "delivered forbidden frame seq " << e.frame.seq() << " gen " << e.generation;
    }
    if (e.kind == kind) return e;
    if (e.kind == EventKind::error) ADD_FAILURE() << "error event: " << e.message;
  }
  ADD_FAILURE() << "no " << to_string(kind) << " event within " << budget.count() << " ms";
  return Event{};
}

}  // namespace

TEST(Recovery, ProducerKilledMidWriteIsLostThenTakenOverAndFollowed) {
  StreamGuard g("midwrite");
  LinePipe wp, cp, hold;
  const WriterOptions o = mp::small_format();
  Child writer([&] {
    Writer w(g.name(), o);
    for (int i = 0; i < 5; ++i) mp::put_pattern(w);
    WriteSlot s = w.acquire();  // frame 6: half written, never committed
    testkit::fill_pattern(s.data(), w.format().frame_bytes() / 2, s.seq());
    wp.send("mid " + std::to_string(s.seq()) + " " + std::to_string(w.generation()));
    (void)hold.recv(60s);  // test hook: stay here, mid-write, until killed
    return 0;
  });
  auto mid = wp.recv_prefix("mid", 10s);
  ASSERT_TRUE(mid);
  const auto parts = testkit::words(*mid);
  const std::uint64_t torn_seq = std::stoull(parts[1]), g1 = std::stoull(parts[2]);
  ASSERT_EQ(torn_seq, 6u);

  // A consumer in its own process, following the stream until it sees a frame of a later generation.
  Child consumer([&] {
    return mp::report_events(g.name(), cp, [&](const Event& e) { return e.kind == EventKind::frame && e.generation > g1; }, 30s);
  });
  Reader r(g.name());
  ASSERT_EQ(expect_event(r, EventKind::attached, 5s).generation, g1);
  Event first = expect_event(r, EventKind::frame, 5s);
  ASSERT_EQ(first.frame.seq(), 5u);
  first.frame.release();
  ASSERT_TRUE(cp.recv_prefix("frame 5 ", 10s));

  writer.kill_and_reap(SIGKILL);
  const auto t_kill = std::chrono::steady_clock::now();
  auto never_torn = [&](const Frame& f) { return f.generation() == g1 && f.seq() >= torn_seq; };
  Event lost = expect_event(r, EventKind::producer_lost, 5s, never_torn);
  EXPECT_EQ(lost.generation, g1);
  RecordProperty("lost_after_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::steady_clock::now() - t_kill).count()));
  ASSERT_TRUE(cp.recv_prefix("lost " + std::to_string(g1), 10s));
  // The last good frame stays readable after the loss.
  Frame keep = r.latest();
  ASSERT_TRUE(keep);
  EXPECT_EQ(keep.seq(), 5u);
  EXPECT_TRUE(testkit::check_pattern(keep.data(), keep.format().frame_bytes(), 5));
  keep.release();

  Child successor([&] { return mp::produce(g.name(), o, 0, 5000); });
  Event again = expect_event(r, EventKind::attached, 10s, never_torn);
  EXPECT_EQ(again.generation, g1 + 1);
  Event next = expect_event(r, EventKind::frame, 5s);
  EXPECT_EQ(next.generation, g1 + 1);
  EXPECT_TRUE(testkit::check_pattern(next.frame.data(), next.frame.format().frame_bytes(), next.frame.seq()));
  EXPECT_EQ(consumer.exit_code(20s), 0);
  // Nothing the other consumer saw was torn or was frame 6 of the first generation.
  while (auto line = cp.recv(100ms)) {
    auto w = testkit::words(*line);
    if (w[0] != "frame") continue;
    EXPECT_EQ(w[3], "1") << *line;
    EXPECT_FALSE(std::stoull(w[2]) == g1 && std::stoull(w[1]) >= torn_seq) << *line;
  }
  successor.kill_and_reap(SIGTERM);
}

TEST(Recovery, JoinersStartedDuringInitializationWaitForReady) {
  StreamGuard g("initrace");
  LinePipe wp, go, jp;
  Child writer([&] {
    WriterOptions o = mp::small_format();
    o.test_hook_initializing = [&] {
      wp.send("initializing");
      (void)go.recv(30s);
    };
    return mp::produce(g.name(), o, 0, 5000, &wp);
  });
  ASSERT_TRUE(wp.recv_prefix("initializing", 10s));
  auto joiner = [&] {
    ReaderOptions ro;
    ro.ready_timeout = 20s;
    Reader r(g.name(), ro);
    jp.send("joining");
    try {
      r.attach(20s);
    } catch (const Error& e) {
      jp.send(std::string("error ") + e.what());
      return 1;
    }
    jp.send("attached " + std::to_string(r.info().format.width));
    return 0;
  };
  Child j1(joiner), j2(joiner);
  ASSERT_TRUE(jp.recv_prefix("joining", 10s));
  ASSERT_TRUE(jp.recv_prefix("joining", 10s));
  // Both are blocked on INITIALIZING: nothing may attach before the creator finishes.
  EXPECT_FALSE(jp.recv(300ms)) << "a joiner attached to an INITIALIZING segment";
  go.send("go");
  for (int i = 0; i < 2; ++i) {
    auto l = jp.recv(15s);
    ASSERT_TRUE(l);
    EXPECT_EQ(*l, "attached 64");
  }
  EXPECT_EQ(j1.exit_code(10s), 0);
  EXPECT_EQ(j2.exit_code(10s), 0);
  writer.kill_and_reap(SIGTERM);
}

TEST(Recovery, CreatorKilledDuringInitializationIsReportedAndReplaced) {
  StreamGuard g("initdie");
  LinePipe wp, go;
  Child creator([&] {
    WriterOptions o = mp::small_format();
    o.test_hook_initializing = [&] {
      wp.send("initializing");
      (void)go.recv(60s);
    };
    Writer w(g.name(), o);
    return 0;
  });
  ASSERT_TRUE(wp.recv_prefix("initializing", 10s));
  const pid_t dead = creator.pid();
  creator.kill_and_reap(SIGKILL);

  ReaderOptions ro;
  ro.ready_timeout = 300ms;
  Reader r(g.name(), ro);
  try {
    r.attach(5s);
    FAIL() << "attached to a segment whose creator died";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::creator_died) << e.what();
    EXPECT_NE(std::string(e.what()).find("died during initialization"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(dead)), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.stats().init_failures, 1u);
  // The next producer replaces the debris; the same reader follows it.
  Child successor([&] { return mp::produce(g.name(), mp::small_format(), 0, 5000); });
  Event a = expect_event(r, EventKind::attached, 10s);
  EXPECT_EQ(a.generation, 2u);
  expect_event(r, EventKind::frame, 5s);
  successor.kill_and_reap(SIGTERM);
}

TEST(Recovery, ASecondLiveProducerIsRefusedNamingTheOwner) {
  StreamGuard g("owned");
  LinePipe wp, bp;
  Child first([&] { return mp::produce(g.name(), mp::small_format(), 0, 10000, &wp); });
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
  Child second([&] {
    try {
      Writer w(g.name(), mp::small_format());
      return 10;
    } catch (const Error& e) {
      bp.send(e.what());
      return e.value() == errc::already_owned ? 0 : 11;
    }
  });
  EXPECT_EQ(second.exit_code(10s), 0);
  auto msg = bp.recv(1s);
  ASSERT_TRUE(msg);
  EXPECT_NE(msg->find("pid " + std::to_string(first.pid())), std::string::npos) << *msg;
  // The refused attempt did not disturb the owner's stream.
  Reader r(g.name());
  EXPECT_EQ(expect_event(r, EventKind::attached, 5s).generation, 1u);
  expect_event(r, EventKind::frame, 5s);
  first.kill_and_reap(SIGTERM);
}

TEST(Recovery, PermissionDeniedForAnotherUserIsAnErrorNotACrash) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("perm");
  LinePipe wp, rp;
  Child writer([&] { return mp::produce(g.name(), mp::small_format(), 0, 10000, &wp); });  // mode 0600, owner root
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
  Child other([&] {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 50;
    Reader r(g.name());
    try {
      r.attach(2s);
      return 10;
    } catch (const Error& e) {
      rp.send(e.what());
      if (e.value() != errc::permission_denied) return 11;
    }
    Event e = r.wait(500ms);  // the event API reports it as an error too
    return e.kind == EventKind::error && e.error == errc::permission_denied ? 0 : 12;
  });
  EXPECT_EQ(other.exit_code(10s), 0);
  auto msg = rp.recv(1s);
  ASSERT_TRUE(msg);
  EXPECT_NE(msg->find("permission denied"), std::string::npos) << *msg;
  EXPECT_NE(msg->find(g.path()), std::string::npos) << *msg;
  EXPECT_NE(msg->find("--mode 0660"), std::string::npos) << *msg;
  writer.kill_and_reap(SIGTERM);
}

TEST(Recovery, GroupModeLetsAGroupMemberRead) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("group");
  LinePipe wp;
  WriterOptions o = mp::small_format();
  o.mode = 0660;
  Child writer([&] { return mp::produce(g.name(), o, 0, 5000, &wp); });
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
  Child member([&] {
    if (setgroups(0, nullptr) != 0 || setgid(getegid()) != 0 || setuid(65534) != 0) return 50;  // same group as the producer
    Reader r(g.name());
    r.attach(2s);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      Event e = r.wait(100ms);
      if (e.kind == EventKind::frame) return testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq()) ? 0 : 13;
    }
    return 14;
  });
  EXPECT_EQ(member.exit_code(10s), 0);
  writer.kill_and_reap(SIGTERM);
}

TEST(Recovery, GenerationSwitchMidStreamIsFollowedWithTheNewFormat) {
  StreamGuard g("genswitch");
  LinePipe wp, cp;
  Child writer([&] {
    mp::install_term();
    Writer w(g.name(), mp::small_format());
    std::uint64_t next = detail::monotonic_ns();
    for (int n = 0; !mp::g_term.load(); ++n) {
      if (n == 30) {
        w.reconfigure(FrameFormat{128, 48, PixelFormat::bgr8, 0});
        wp.send("switched " + std::to_string(w.generation()));
      }
      mp::sleep_until_ns(next);
      next += 5'000'000;
      mp::put_pattern(w);
    }
    return 0;
  });
  Child consumer([&] {
    return mp::report_events(g.name(), cp, [](const Event& e) { return e.kind == EventKind::frame && e.frame.format().width == 128; }, 30s);
  });
  Reader r(g.name());
  const std::uint64_t g1 = expect_event(r, EventKind::attached, 5s).generation;
  EXPECT_EQ(expect_event(r, EventKind::frame, 5s).frame.format().width, 64u);
  Event a = expect_event(r, EventKind::attached, 10s);
  EXPECT_EQ(a.generation, g1 + 1);
  EXPECT_EQ(r.info().format.width, 128u);
  EXPECT_EQ(r.info().format.pixel_format, PixelFormat::bgr8);
  Event f = expect_event(r, EventKind::frame, 5s);
  EXPECT_EQ(f.generation, g1 + 1);
  EXPECT_EQ(f.frame.mat().cols, 128);
  EXPECT_EQ(f.frame.mat().rows, 48);
  EXPECT_EQ(f.frame.mat().type(), CV_8UC3);
  EXPECT_TRUE(testkit::check_pattern(f.frame.data(), f.frame.format().frame_bytes(), f.frame.seq()));
  EXPECT_EQ(consumer.exit_code(20s), 0);
  EXPECT_TRUE(cp.recv_prefix("attached " + std::to_string(g1 + 1) + " 128", 1s));
  writer.kill_and_reap(SIGTERM);
}
