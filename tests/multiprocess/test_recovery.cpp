// Failure paths across real processes: a producer killed mid-write, creators killed during
// initialization, a second producer, permissions, and generation changes.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <shmframe/detail/segment.hpp>
#include <shmframe/layout.hpp>

#include "children.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
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
  const WriterOptions o = children::options();
  Child writer([&] {
    Writer w(g.name(), o);
    for (int i = 0; i < 5; ++i) children::put_pattern(w);
    WriteSlot s = w.acquire();  // frame 6: half written, never committed
    testkit::fill_pattern(s.data(), w.format().frame_bytes() / 2, s.seq());
    wp.send(Record("mid").set("seq", s.seq()).set("gen", w.generation()));
    (void)hold.recv(60s);  // test hook: stay here, mid-write, until killed
    return 0;
  });
  auto mid = wp.recv_kind("mid", 10s);
  ASSERT_TRUE(mid);
  const std::uint64_t torn_seq = mid->get_u64("seq"), g1 = mid->get_u64("gen");
  ASSERT_EQ(torn_seq, 6u);

  // A consumer in its own process, following the stream until it sees a frame of a later generation.
  Child consumer([&] {
    return children::report_events(
        g.name(), cp, [&](const Event& e) { return e.kind == EventKind::frame && e.generation > g1; }, 30s);
  });
  Reader r(g.name());
  ASSERT_EQ(expect_event(r, EventKind::attached, 5s).generation, g1);
  Event first = expect_event(r, EventKind::frame, 5s);
  ASSERT_EQ(first.frame.seq(), 5u);
  first.frame.release();
  ASSERT_TRUE(cp.recv_kind("frame", 10s, [](const Record& f) { return f.get_u64("seq") == 5; }));

  writer.kill_and_reap(SIGKILL);
  const auto t_kill = std::chrono::steady_clock::now();
  auto never_torn = [&](const Frame& f) { return f.generation() == g1 && f.seq() >= torn_seq; };
  Event lost = expect_event(r, EventKind::producer_lost, 5s, never_torn);
  EXPECT_EQ(lost.generation, g1);
  RecordProperty(
      "lost_after_ms",
      static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t_kill).count()));
  ASSERT_TRUE(cp.recv_kind("lost", 10s, [&](const Record& l) { return l.get_u64("gen") == g1; }));
  // The last good frame stays readable after the loss.
  Frame keep = r.latest();
  ASSERT_TRUE(keep);
  EXPECT_EQ(keep.seq(), 5u);
  EXPECT_TRUE(testkit::check_pattern(keep.data(), keep.format().frame_bytes(), 5));
  keep.release();

  Child successor([&] { return children::produce(g.name(), o, 0, 5000); });
  Event again = expect_event(r, EventKind::attached, 10s, never_torn);
  EXPECT_EQ(again.generation, g1 + 1);
  Event next = expect_event(r, EventKind::frame, 5s);
  EXPECT_EQ(next.generation, g1 + 1);
  EXPECT_TRUE(testkit::check_pattern(next.frame.data(), next.frame.format().frame_bytes(), next.frame.seq()));
  EXPECT_EQ(consumer.exit_code(20s), 0);
  // Nothing the other consumer saw was torn or was frame 6 of the first generation.
  while (auto f = cp.recv_kind("frame", 100ms)) {
    EXPECT_TRUE(f->get_bool("ok")) << f->str();
    EXPECT_FALSE(f->get_u64("gen") == g1 && f->get_u64("seq") >= torn_seq) << f->str();
  }
  successor.kill_and_reap(SIGTERM);
}

TEST(Recovery, JoinersStartedDuringInitializationWaitForReady) {
  StreamGuard g("initrace");
  LinePipe wp, go, jp;
  Child writer([&] {
    WriterOptions o = children::options();
    detail::set_initializing_hook([&] {
      wp.send(Record("initializing"));
      (void)go.recv(30s);
    });
    return children::produce(g.name(), o, 0, 5000, &wp);
  });
  ASSERT_TRUE(wp.recv_kind("initializing", 10s));
  auto joiner = [&] {
    ReaderOptions ro;
    ro.ready_timeout = 20s;
    Reader r(g.name(), ro);
    jp.send(Record("joining"));
    try {
      r.attach(20s);
    } catch (const Error& e) {
      jp.send(Record("error").set("message", e.what()));
      return 1;
    }
    jp.send(Record("attached").set("width", r.info().format.width));
    return 0;
  };
  Child j1(joiner), j2(joiner);
  ASSERT_TRUE(jp.recv_kind("joining", 10s));
  ASSERT_TRUE(jp.recv_kind("joining", 10s));
  // Both are blocked on INITIALIZING: nothing may attach before the creator finishes.
  EXPECT_FALSE(jp.recv(300ms)) << "a joiner attached to an INITIALIZING segment";
  go.send(Record("go"));
  for (int i = 0; i < 2; ++i) {
    auto l = jp.recv_record(15s);
    ASSERT_TRUE(l);
    ASSERT_EQ(l->kind(), "attached") << l->str();
    EXPECT_EQ(l->get_u64("width"), 64u);
  }
  EXPECT_EQ(j1.exit_code(10s), 0);
  EXPECT_EQ(j2.exit_code(10s), 0);
  writer.kill_and_reap(SIGTERM);
}

TEST(Recovery, CreatorKilledDuringInitializationIsReportedAndReplaced) {
  StreamGuard g("initdie");
  LinePipe wp, go;
  Child creator([&] {
    WriterOptions o = children::options();
    detail::set_initializing_hook([&] {
      wp.send(Record("initializing"));
      (void)go.recv(60s);
    });
    Writer w(g.name(), o);
    return 0;
  });
  ASSERT_TRUE(wp.recv_kind("initializing", 10s));
  // The generation the creator wrote (identity is written before INITIALIZING).
  std::uint64_t dead_gen = 0;
  {
    const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pread(fd, &dead_gen, sizeof dead_gen, offsetof(layout::SegmentHeader, generation)),
              static_cast<ssize_t>(sizeof dead_gen));
    close(fd);
  }
  ASSERT_NE(dead_gen, 0u);
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
  Child successor([&] { return children::produce(g.name(), children::options(), 0, 5000); });
  Event a = expect_event(r, EventKind::attached, 10s);
  EXPECT_EQ(a.generation, dead_gen + 1);
  expect_event(r, EventKind::frame, 5s);
  successor.kill_and_reap(SIGTERM);
}

TEST(Recovery, ASecondLiveProducerIsRefusedNamingTheOwner) {
  StreamGuard g("owned");
  LinePipe wp, bp;
  Child first([&] { return children::produce(g.name(), children::options(), 0, 10000, &wp); });
  auto ready = wp.recv_kind("ready", 10s);
  ASSERT_TRUE(ready);
  Child second([&] {
    try {
      Writer w(g.name(), children::options());
      return 10;
    } catch (const Error& e) {
      bp.send(Record("refused").set("message", e.what()));
      return e.value() == errc::already_owned ? 0 : 11;
    }
  });
  EXPECT_EQ(second.exit_code(10s), 0);
  auto refused = bp.recv_kind("refused", 1s);
  ASSERT_TRUE(refused);
  const std::string msg = refused->get("message");
  EXPECT_NE(msg.find("pid " + std::to_string(first.pid())), std::string::npos) << msg;
  // The refused attempt did not disturb the owner's stream.
  Reader r(g.name());
  EXPECT_EQ(expect_event(r, EventKind::attached, 5s).generation, ready->get_u64("gen"));
  expect_event(r, EventKind::frame, 5s);
  first.kill_and_reap(SIGTERM);
}

TEST(Recovery, PermissionDeniedForAnotherUserIsAnErrorNotACrash) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("perm");
  LinePipe wp, rp;
  Child writer(
      [&] { return children::produce(g.name(), children::options(), 0, 10000, &wp); });  // mode 0600, owner root
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child other([&] {
    if (children::become_nobody() != 0) return 50;
    Reader r(g.name());
    try {
      r.attach(2s);
      return 10;
    } catch (const Error& e) {
      rp.send(Record("refused").set("message", e.what()));
      if (e.value() != errc::permission_denied) return 11;
    }
    Event e = r.wait(500ms);  // the event API reports it as an error too
    return e.kind == EventKind::error && e.error == errc::permission_denied ? 0 : 12;
  });
  EXPECT_EQ(other.exit_code(10s), 0);
  auto refused = rp.recv_kind("refused", 1s);
  ASSERT_TRUE(refused);
  const std::string msg = refused->get("message");
  EXPECT_NE(msg.find("permission denied"), std::string::npos) << msg;
  EXPECT_NE(msg.find(g.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("--mode 0660"), std::string::npos) << msg;
  writer.kill_and_reap(SIGTERM);
}

// Issue 10: between its shm_open and its fchmod, a creator's object is empty and has the mode its
// umask left (0644, 0600...). A consumer of another user that opens it then is denied, but that
// is not final: it keeps waiting and attaches once the stream is READY with the final mode.
// Before the fix it reported permission denied (final: the consumer app exits 1).
TEST(Recovery, AnUnsizedSegmentsPermissionsAreNotFinal) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("unsizedperm");
  LinePipe cp, wp;
  // As a creator between shm_open and fchmod: empty, owner-only for now.
  const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchmod(fd, 0600), 0);
  Child other([&] {
    if (children::become_nobody() != 0) return 50;
    cp.send(Record("waiting"));
    return children::report_events(
        g.name(), cp, [](const Event& e) { return e.kind == EventKind::frame; }, 20s);
  });
  ASSERT_TRUE(cp.recv_kind("waiting", 10s));
  // A bounded look for a premature verdict while the object stays empty and denied.
  auto early = cp.recv_kind("error", 300ms);
  EXPECT_FALSE(early) << "gave up on an object still being created: " << early->str();
  // The creator goes on: final mode, then (here, a real producer replacing the debris) READY.
  ASSERT_EQ(fchmod(fd, 0666), 0);
  close(fd);
  shm_unlink(detail::segment_object(g.name()).c_str());
  WriterOptions o = children::options();
  o.mode = 0666;
  Child writer([&] { return children::produce(g.name(), o, 0, 5000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  auto f = cp.recv_kind("frame", 10s);
  EXPECT_TRUE(f) << "the consumer never attached";
  if (f) {
    EXPECT_TRUE(f->get_bool("ok")) << f->str();
  }
  EXPECT_EQ(other.exit_code(10s), 0);
  writer.kill_and_reap(SIGTERM);
}

// Issue 10: a producer that cannot start because /dev/shm is full leaves nothing behind: no
// segment and no shmframe-lock.NAME. The child gets a private, small /dev/shm in its own mount
// namespace (nobody else sees it): once too small for the segment, once full to the last byte.
TEST(Recovery, AFailedStartOnAFullDevShmLeavesNothingBehind) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private /dev/shm";
  LinePipe rp;
  Child c([&] {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 50;
    if (mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0) return 51;
    auto attempt = [&](const char* what, const FrameFormat& f) {
      WriterOptions o = children::options();
      o.format = f;
      try {
        Writer w("failstart", o);
        rp.send(Record("started").set("what", what));
      } catch (const Error& e) {
        rp.send(Record("refused").set("what", what).set("message", e.what()));
      }
      std::string left;
      if (DIR* d = opendir("/dev/shm")) {
        while (const dirent* ent = readdir(d)) {
          const std::string n = ent->d_name;
          if (n.find("failstart") != std::string::npos) left += n + " ";
        }
        closedir(d);
      }
      rp.send(Record("left").set("what", what).set("names", left));
    };
    attempt("too small", FrameFormat{1024, 1024, PixelFormat::bgr8, 0});  // 2 x 3 MiB > 1 MiB
    // Now full to the last byte: even the lock's record cannot be written.
    if (FILE* fill = std::fopen("/dev/shm/fill", "w")) {
      static char chunk[4096];
      while (std::fwrite(chunk, 1, sizeof chunk, fill) == sizeof chunk && std::fflush(fill) == 0) {
      }
      std::fclose(fill);
    }
    attempt("full", FrameFormat{64, 32, PixelFormat::gray8, 0});
    return 0;
  });
  EXPECT_EQ(c.exit_code(20s), 0);
  for (const char* what : {"too small", "full"}) {
    auto r = rp.recv_record(5s);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->kind(), "refused") << r->str();
    if (r->has("message")) {
      EXPECT_NE(r->get("message").find("space"), std::string::npos) << r->str();
    }
    auto left = rp.recv_kind("left", 5s);
    ASSERT_TRUE(left) << what;
    EXPECT_EQ(left->get("names"), "") << what << ": left behind";
  }
}

// Issue 10: a producer stopped (SIGSTOP) until its consumers declare it lost, then resumed: the
// consumer takes the first frame it commits at once. Before the fix a lost consumer slept on the
// stream's name (inotify), which nothing touches on SIGCONT, so that frame waited for the end of
// its slice: up to a heartbeat interval (200 ms here) of frames lost.
TEST(Recovery, AResumedProducersFirstFrameIsTakenAtOnce) {
  StreamGuard g("sigcont");
  LinePipe wp, cp, go;
  WriterOptions o = children::options();
  o.heartbeat = 200ms;
  Child writer([&] {
    Writer w(g.name(), o);
    wp.send(Record("ready"));
    while (go.recv(30s)) wp.send(Record("put").set("seq", children::put_pattern(w)));  // a frame per request
    return 0;
  });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child consumer([&] {
    Reader r(g.name());
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      Event e = r.wait(2s);
      if (e.kind == EventKind::producer_lost) cp.send(Record("lost"));
      if (e.kind != EventKind::frame) continue;
      const std::uint64_t late = monotonic_ns() - e.frame.commit_ns();
      cp.send(Record("frame").set("seq", e.frame.seq()).set("late_us", late / 1000));
      if (e.frame.seq() == 2) return 0;
    }
    return 2;
  });
  go.send("1");
  ASSERT_TRUE(cp.recv_kind("frame", 10s, [](const Record& f) { return f.get_u64("seq") == 1; }));
  writer.signal(SIGSTOP);
  ASSERT_TRUE(cp.recv_kind("lost", 5s)) << "precondition: the consumer declared the stopped producer lost";
  writer.signal(SIGCONT);
  go.send("2");
  auto f = cp.recv_kind("frame", 5s);
  ASSERT_TRUE(f) << "the consumer lost the stream";
  EXPECT_EQ(f->get_u64("seq"), 2u);
  EXPECT_LT(f->get_u64("late_us"), 100'000u) << "the first frame after SIGCONT waited for the end of a slice";
  RecordProperty("late_us", static_cast<int>(f->get_u64("late_us")));
  EXPECT_EQ(consumer.exit_code(5s), 0);
  writer.kill_and_reap(SIGKILL);
}

TEST(Recovery, GroupModeLetsAGroupMemberRead) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("group");
  LinePipe wp;
  WriterOptions o = children::options();
  o.mode = 0660;
  Child writer([&] { return children::produce(g.name(), o, 0, 5000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child member([&] {
    if (children::become_nobody(true) != 0) return 50;  // same group as the producer
    Reader r(g.name());
    r.attach(2s);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      Event e = r.wait(100ms);
      if (e.kind == EventKind::frame)
        return testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq()) ? 0 : 13;
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
    children::install_term();
    Writer w(g.name(), children::options());
    std::uint64_t next = detail::monotonic_ns();
    for (int n = 0; !children::g_term.load(); ++n) {
      if (n == 30) {
        w.reconfigure(FrameFormat{128, 48, PixelFormat::bgr8, 0});
        wp.send(Record("switched").set("gen", w.generation()));
      }
      children::sleep_until_ns(next);
      next += 5'000'000;
      children::put_pattern(w);
    }
    return 0;
  });
  Child consumer([&] {
    return children::report_events(
        g.name(), cp, [](const Event& e) { return e.kind == EventKind::frame && e.frame.format().width == 128; }, 30s);
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
  EXPECT_EQ(f.frame.width(), 128u);
  EXPECT_EQ(f.frame.height(), 48u);
  EXPECT_EQ(f.frame.pixel_format(), PixelFormat::bgr8);
  EXPECT_EQ(f.frame.stride(), 128u * 3);
  EXPECT_TRUE(testkit::check_pattern(f.frame.data(), f.frame.format().frame_bytes(), f.frame.seq()));
  EXPECT_EQ(consumer.exit_code(20s), 0);
  auto attached = cp.recv_kind("attached", 1s, [&](const Record& at) { return at.get_u64("gen") == g1 + 1; });
  ASSERT_TRUE(attached);
  EXPECT_EQ(attached->get_u64("width"), 128u);
  writer.kill_and_reap(SIGTERM);
}
