// Hostile neighbours (issue 10): a process with write access to a live segment (a consumer of a
// 0660 / 0666 stream) writes what only the producer or an entry's owner may write. Each test does
// the attack through a second mapping of the segment, as such a process would, and checks that
// the victim consumer keeps receiving frames within a bounded time, that the damage is reported
// (a corrupt event, the producer's tampering counter and log), and that new consumers can join.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <shmframe/detail/notifier.hpp>
#include <shmframe/detail/owner_lock.hpp>
#include <shmframe/inspect.hpp>
#include <shmframe/layout.hpp>

#include "children.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using shmframe::detail::at;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
using testkit::StreamGuard;

namespace {

// A second read-write mapping of a live segment: what a hostile consumer has.
class Tamper {
 public:
  explicit Tamper(const std::string& name) {
    const int fd = shm_open(detail::segment_object(name).c_str(), O_RDWR, 0);
    if (fd < 0) throw std::runtime_error("cannot open the segment of " + name);
    struct stat st = {};
    if (fstat(fd, &st) == 0) size_ = static_cast<std::size_t>(st.st_size);
    base_ = static_cast<std::byte*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ::close(fd);
    if (base_ == MAP_FAILED) throw std::runtime_error("cannot map the segment of " + name);
  }
  ~Tamper() { munmap(base_, size_); }
  Tamper(const Tamper&) = delete;
  Tamper& operator=(const Tamper&) = delete;

  layout::SegmentHeader& header() const { return *reinterpret_cast<layout::SegmentHeader*>(base_); }
  std::uint64_t& slot_word(std::uint32_t i) const {
    auto& h = header();
    return *reinterpret_cast<std::uint64_t*>(base_ + h.slots_offset + i * h.slot_stride);
  }
  layout::ConsumerEntry& entry(std::uint32_t i) const {
    auto& h = header();
    return *reinterpret_cast<layout::ConsumerEntry*>(base_ + h.consumers_offset + i * h.consumer_stride);
  }
  // Wakes every sleeper (the state futex, every entry's wake word) so they look at once.
  void wake_everyone() const {
    detail::notifier::wake_word(&header().state);
    for (std::uint32_t i = 0; i < header().max_consumers; ++i) {
      at(entry(i).wake).fetch_add(1);
      detail::notifier::wake_word(&entry(i).wake);
    }
  }

 private:
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

// A log Record of the producer containing `needle`, within `budget`.
std::optional<Record> producer_log(LinePipe& events, const std::string& needle, std::chrono::milliseconds budget) {
  return events.recv_kind("log", budget,
                          [&](const Record& l) { return l.get("text").find(needle) != std::string::npos; });
}

// Every Record from `p` up to and including the first for which `stop` holds (within `budget`).
std::vector<Record> records_until(LinePipe& p, std::chrono::milliseconds budget,
                                  const std::function<bool(const Record&)>& stop) {
  std::vector<Record> out;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (auto r = p.recv_record(testkit::left_until(deadline))) {
    out.push_back(*r);
    if (stop(*r)) break;
  }
  return out;
}
std::size_t count_kind(const std::vector<Record>& rs, const std::string& kind) {
  std::size_t n = 0;
  for (const auto& r : rs) n += r.kind() == kind;
  return n;
}

constexpr std::uint64_t kPoison = std::uint64_t{1} << 60;  // the seq the probe printed

}  // namespace

// The attack: the newest frame's slot and the header claim frame 2^60, and the victim is
// woken to take it. Before the fix it took 2^60 and then waited for a newer frame forever while
// the producer kept committing.
TEST(Hostile, APoisonedSequenceIsReportedAndTheVictimKeepsReceiving) {
  StreamGuard g("seqpoison");
  LinePipe wp, vp;
  Child writer([&] { return children::produce(g.name(), children::options(), 0, 20000, &wp); });  // 50 fps
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child victim([&] { return children::report_events(g.name(), vp, {}, 60s); });
  ASSERT_TRUE(vp.recv_kind("frame", 10s));

  Tamper t(g.name());
  bool taken = false;
  for (int round = 0; round < 50 && !taken; ++round) {
    const std::uint64_t s = at(t.header().last_committed_seq).load();
    for (std::uint32_t i = 0; i < t.header().slot_count; ++i) {
      if (at(t.slot_word(i)).load() == layout::slot_committed(s))
        at(t.slot_word(i)).store(layout::slot_committed(kPoison));
    }
    at(t.header().last_committed_seq).store(kPoison);
    t.wake_everyone();
    taken = vp.recv_kind("frame", 100ms, [](const Record& f) { return f.get_u64("seq") == kPoison; }).has_value();
  }
  ASSERT_TRUE(taken) << "precondition: the victim never took the forged frame";

  auto c = vp.recv_kind("corrupt", 3s);
  ASSERT_TRUE(c) << "the victim did not report the sequence going backwards";
  EXPECT_NE(c->get("message").find("went back from " + std::to_string(kPoison)), std::string::npos) << c->str();
  auto f = vp.recv_kind("frame", 3s, [](const Record& r) { return r.get_u64("seq") < kPoison; });
  ASSERT_TRUE(f) << "the victim went silent after the forged frame";
  EXPECT_TRUE(f->get_bool("ok")) << f->str();
  auto more = vp.recv_kind("frame", 3s, [&](const Record& r) { return r.get_u64("seq") > f->get_u64("seq"); });
  ASSERT_TRUE(more) << "no frame after the first one";
  writer.kill_and_reap(SIGTERM);
}

// An idle producer (no commits to overwrite anything) restores, on its next heartbeat, every word
// only it writes: the slot words, last_committed_seq, the state, the format block; it counts
// the repairs (WriterStats::tampering) and logs them. Before the fix nothing was restored.
TEST(Hostile, TheProducerRestoresItsWordsOnEveryHeartbeat) {
  StreamGuard g("reassert");
  LinePipe wp, ask;
  Child writer([&] {
    WriterOptions o = children::options(3);
    o.log = [&wp](LogLevel, const std::string& m) { wp.send(Record("log").set("text", m)); };
    Writer w(g.name(), o);
    for (int i = 0; i < 4; ++i) children::put_pattern(w);
    wp.send(Record("ready").set("gen", w.generation()));
    while (ask.recv(60s)) wp.send(Record("stats").set("tampering", w.stats().tampering));
    return 0;
  });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Tamper t(g.name());
  auto& h = t.header();
  std::uint64_t words[3];
  for (std::uint32_t i = 0; i < 3; ++i) words[i] = at(t.slot_word(i)).load();
  ASSERT_EQ(at(h.last_committed_seq).load(), 4u);
  for (std::uint32_t i = 0; i < 3; ++i) at(t.slot_word(i)).store(layout::slot_committed(kPoison + i));
  at(h.last_committed_seq).store(kPoison);
  at(h.state).store(static_cast<std::uint32_t>(layout::State::closed));
  h.width = 9999;
  auto restored = [&] {
    bool ok = at(h.last_committed_seq).load() == 4 &&
              at(h.state).load() == static_cast<std::uint32_t>(layout::State::ready);
    for (std::uint32_t i = 0; i < 3; ++i) ok = ok && at(t.slot_word(i)).load() == words[i];
    return ok && h.width == 64;
  };
  EXPECT_TRUE(testkit::wait_until(restored, 3 * children::kHeartbeat + 1s)) << "not restored";
  EXPECT_TRUE(producer_log(wp, "another process wrote", 3s)) << "the producer did not report the tampering";
  ask.send("stats");
  auto st = wp.recv_kind("stats", 5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->get_u64("tampering"), 6u) << "3 slot words, last_committed_seq, state, the format block";
  // And the stream works: a consumer attaches and takes frame 4.
  Reader r(g.name());
  r.attach(2s);
  Frame f = r.latest();
  ASSERT_TRUE(f);
  EXPECT_EQ(f.seq(), 4u);
  EXPECT_TRUE(testkit::check_pattern(f.data(), f.format().frame_bytes(), 4));
  f.release();
  writer.kill_and_reap(SIGKILL);
}

// CLOSED or SUPERSEDED stored by someone else while the producer lives on: before the fix the
// victim reported `closed` (or re-attached and skipped the segment) and never received another
// frame; a consumer joining afterwards skipped the segment for good.
class HostileState : public ::testing::TestWithParam<layout::State> {};

TEST_P(HostileState, AForgedEndIsReportedIgnoredAndRepaired) {
  StreamGuard g(GetParam() == layout::State::closed ? "forgedclose" : "forgedsuper");
  LinePipe wp, vp;
  Child writer([&] { return children::produce(g.name(), children::options(), 0, 10000, &wp); });  // 100 fps
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child victim([&] { return children::report_events(g.name(), vp, {}, 60s); });
  ASSERT_TRUE(vp.recv_kind("frame", 10s));

  {
    // A hostile loop for 8 heartbeats: the state word rewritten every millisecond, everyone woken.
    Tamper t(g.name());
    const auto until = std::chrono::steady_clock::now() + 8 * children::kHeartbeat;
    while (std::chrono::steady_clock::now() < until) {
      at(t.header().state).store(static_cast<std::uint32_t>(GetParam()));
      t.wake_everyone();
      std::this_thread::sleep_for(1ms);  // the attacker's pace, not synchronization
    }
    at(t.header().state).store(static_cast<std::uint32_t>(GetParam()));  // and left that way
    t.wake_everyone();
  }
  // The victim reported it, never believed it, and goes on receiving frames.
  const std::uint64_t before = at(Tamper(g.name()).header().last_committed_seq).load();
  const auto seen = records_until(vp, 3s,
                                  [&](const Record& r) { return r.kind() == "frame" && r.get_u64("seq") > before; });
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().kind(), "frame") << "the victim went silent after the forged state; last: "
                                         << seen.back().str();
  EXPECT_EQ(count_kind(seen, "closed"), 0u);
  EXPECT_EQ(count_kind(seen, "attached"), 0u) << "the victim re-attached";
  ASSERT_GE(count_kind(seen, "corrupt"), 1u) << "the victim did not report the forged state";
  for (const auto& r : seen) {
    if (r.kind() == "corrupt") {
      EXPECT_NE(r.get("message").find("alive"), std::string::npos) << r.str();
    }
  }
  // The producer restored READY (within a heartbeat of the last write) and said so.
  EXPECT_TRUE(testkit::wait_until([&] { return inspect(g.name()).state == "ready"; }, 2s));
  EXPECT_TRUE(producer_log(wp, "another process wrote", 3s)) << "the producer did not report the tampering";
  // A consumer joining now attaches.
  Reader joiner(g.name());
  joiner.attach(2s);
  Event e;
  EXPECT_TRUE(testkit::wait_until([&] { return (e = joiner.wait(100ms)).kind == EventKind::frame; }, 3s));
  writer.kill_and_reap(SIGTERM);
}

INSTANTIATE_TEST_SUITE_P(ClosedOrSuperseded, HostileState,
                         ::testing::Values(layout::State::closed, layout::State::superseded),
                         [](const auto& p) { return p.param == layout::State::closed ? "closed" : "superseded"; });

// Issue 22: the rule "an end is believed only when the producer is lost" relied on a heartbeat
// any writer can forge. For 1 s a writer stores heartbeat 0 with CLOSED or SUPERSEDED (and, in
// one case, magic 0) every millisecond while the producer keeps committing. Before the fix every
// reader went silent for good (or exited with "not a shmframe segment ... remove the object"): a
// read-write and a read-only consumer believed the end and skipped the live segment, and a
// joiner failed. Liveness is now judged from the producer's pid and start time and the owner
// lock's holder: each reader keeps receiving, and the joiner attaches.
struct Forgery {
  layout::State state;
  bool magic;
};
void PrintTo(const Forgery& f, std::ostream* os) {
  *os << (f.state == layout::State::closed ? "CLOSED" : "SUPERSEDED") << (f.magic ? " + magic 0" : "");
}
class HostileLiveness : public ::testing::TestWithParam<Forgery> {};

TEST_P(HostileLiveness, AForgedHeartbeatSilencesNoReaderWhileTheProducerLives) {
  const Forgery f = GetParam();
  StreamGuard g(f.magic ? "forgedmagic" : (f.state == layout::State::closed ? "forgedbeatc" : "forgedbeats"));
  LinePipe wp, rw, ro;
  Child writer([&] { return children::produce(g.name(), children::options(), 0, 100000, &wp); });  // 100 fps
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  ReaderOptions read_only;
  read_only.access = Access::read_only;
  Child rw_victim([&] { return children::report_events(g.name(), rw, {}, 60s); });
  Child ro_victim([&] { return children::report_events(g.name(), ro, {}, 60s, read_only); });
  ASSERT_TRUE(rw.recv_kind("frame", 10s));
  ASSERT_TRUE(ro.recv_kind("frame", 10s));

  std::string joiner_error;
  bool joined = false;
  std::thread joiner_thread;
  {
    Tamper t(g.name());
    const auto until = std::chrono::steady_clock::now() + 1s;
    bool joiner_started = false;
    while (std::chrono::steady_clock::now() < until) {
      at(t.header().heartbeat_ns).store(0);
      at(t.header().state).store(static_cast<std::uint32_t>(f.state));
      if (f.magic) at(t.header().magic).store(0);
      t.wake_everyone();
      if (!joiner_started) {
        // A consumer joining in the middle of it.
        joiner_started = true;
        joiner_thread = std::thread([&] {
          Reader j(g.name());
          try {
            j.attach(10s);
            joined = j.attached();
          } catch (const Error& e) {
            joiner_error = e.what();
          }
        });
      }
      std::this_thread::sleep_for(1ms);  // the attacker's pace, not synchronization
    }
  }
  joiner_thread.join();
  EXPECT_TRUE(joined) << "a joiner gave up on a live producer: " << joiner_error;
  const std::uint64_t before = at(Tamper(g.name()).header().last_committed_seq).load();
  for (LinePipe* p : {&rw, &ro}) {
    const char* who = p == &rw ? "read-write" : "read-only";
    const auto seen = records_until(*p, 5s,
                                    [&](const Record& r) { return r.kind() == "frame" && r.get_u64("seq") > before; });
    ASSERT_FALSE(seen.empty()) << who;
    EXPECT_EQ(seen.back().kind(), "frame") << "the " << who << " consumer went silent; last: " << seen.back().str();
    EXPECT_EQ(count_kind(seen, "closed"), 0u) << who;
    EXPECT_EQ(count_kind(seen, "error"), 0u) << who;
  }
  EXPECT_TRUE(testkit::wait_until([&] { return inspect(g.name()).state == "ready"; }, 2s));
  writer.kill_and_reap(SIGTERM);
}

INSTANTIATE_TEST_SUITE_P(Forgeries, HostileLiveness,
                         ::testing::Values(Forgery{layout::State::closed, false},
                                           Forgery{layout::State::superseded, false},
                                           Forgery{layout::State::closed, true}),
                         [](const auto& p) {
                           return std::string(p.param.state == layout::State::closed ? "closed" : "superseded") +
                                  (p.param.magic ? "_bad_magic" : "");
                         });

// A heartbeat far in the future proves nothing (issue 22 review): a producer that died, whose
// heartbeat a writer then set to the end of time, is still reported lost.
TEST(Hostile, AHeartbeatInTheFutureDoesNotKeepADeadProducerAlive) {
  StreamGuard g("futurebeat");
  LinePipe wp, vp;
  Child writer([&] { return children::produce(g.name(), children::options(), 0, 100000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child victim([&] { return children::report_events(g.name(), vp, {}, 60s); });
  ASSERT_TRUE(vp.recv_kind("frame", 10s));
  writer.kill_and_reap(SIGKILL);
  at(Tamper(g.name()).header().heartbeat_ns).store(~std::uint64_t{0});
  EXPECT_TRUE(vp.recv_kind("lost", 10s)) << "a forged future heartbeat kept a dead producer alive";
}

// Every free entry claimed by values no live consumer of ours writes: pid 1 (alive, but not an
// owner: never active, never beating), pid 1 with a start time that is not init's, a dead pid,
// a negative pid. Before the fix, a joiner was refused as "taken by live consumers" (pid 1 for
// good; dead pids for 3 heartbeats).
TEST(Hostile, SquattedEntriesAreTakenOverAtOnce) {
  StreamGuard g("squat");
  LinePipe wp;
  WriterOptions o = children::options();
  o.max_consumers = 5;
  Child writer([&] { return children::produce(g.name(), o, 0, 10000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child gone([] { return 0; });
  ASSERT_EQ(gone.exit_code(10s), 0);
  {
    Tamper t(g.name());
    const std::uint64_t now = shmframe::monotonic_ns();
    at(t.entry(4).owner_pid).store(1);  // never active, a heartbeat far in the future (issue 22)
    at(t.entry(4).heartbeat_ns).store(now + 3'600'000'000'000ull);
    at(t.entry(0).owner_pid).store(1);  // never active, heartbeat 0
    at(t.entry(1).owner_pid).store(1);
    at(t.entry(1).owner_start_ticks).store(12345);  // not init's start time
    at(t.entry(1).heartbeat_ns).store(now);
    at(t.entry(1).active).store(1);
    at(t.entry(2).owner_pid).store(gone.pid());  // dead, but beat just now
    at(t.entry(2).heartbeat_ns).store(now);
    at(t.entry(2).active).store(1);
    at(t.entry(3).owner_pid).store(-7);
  }
  std::vector<std::unique_ptr<Reader>> joiners;
  for (int i = 0; i < 5; ++i) {
    joiners.push_back(std::make_unique<Reader>(g.name()));
    try {
      joiners.back()->attach(0ms);  // one attempt: no waiting for anything
    } catch (const Error& e) {
      FAIL() << "joiner " << i << " refused: " << e.what();
    }
  }
  for (auto& j : joiners) {
    Event e;
    EXPECT_TRUE(testkit::wait_until([&] { return (e = j->wait(100ms)).kind == EventKind::frame; }, 3s));
  }
  // Now the table really is full of live consumers.
  Reader fifth(g.name());
  try {
    fifth.attach(0ms);
    ADD_FAILURE() << "a sixth consumer attached to a 5-entry table";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::too_many_consumers) << e.what();
  }
  writer.kill_and_reap(SIGTERM);
}

// Every entry left "changing hands" (-1), as a taker killed mid-way or a hostile write leaves it:
// nobody else may touch such an entry, so the producer frees it once it has stayed so for a
// heartbeat interval; a joiner waits for that instead of failing. Before the fix the joiner was
// refused for good.
TEST(Hostile, EntriesStuckChangingHandsAreFreedByTheProducer) {
  StreamGuard g("stuck");
  LinePipe wp, jp;
  WriterOptions o = children::options();
  o.max_consumers = 3;
  Child writer([&] { return children::produce(g.name(), o, 0, 10000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  {
    Tamper t(g.name());
    for (std::uint32_t i = 0; i < 3; ++i) at(t.entry(i).owner_pid).store(layout::kReaping);
  }
  const auto t0 = std::chrono::steady_clock::now();
  Child joiner([&] {
    return children::report_events(
        g.name(), jp, [](const Event& e) { return e.kind == EventKind::frame; }, 10s);
  });
  const auto seen = records_until(jp, 5s, [](const Record& r) { return r.kind() == "frame"; });
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().kind(), "frame") << "the joiner never got an entry; last: " << seen.back().str();
  EXPECT_EQ(count_kind(seen, "error"), 0u) << "the joiner was refused on the way";
  RecordProperty(
      "joined_after_ms",
      static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()));
  EXPECT_EQ(joiner.exit_code(5s), 0);
  EXPECT_TRUE(producer_log(wp, "stuck changing hands", 3s));
  writer.kill_and_reap(SIGTERM);
}

// Issue 10: truncating a live segment used to kill the producer and every consumer with SIGBUS.
// Now the library's SIGBUS guard puts zero pages in place of the mapping: the consumer reports
// it (corrupt) and follows the producer, which reports it and makes a new generation. Truncated
// to 0 here, or to one page (the header and the first consumer entries stay: the consumer may
// never touch a missing page, and then follows as from a lost producer, without a report).
class Truncation : public ::testing::TestWithParam<off_t> {};

TEST_P(Truncation, KillsNobodyAndANewGenerationFollows) {
  StreamGuard g(GetParam() == 0 ? "truncate0" : "truncate4k");
  LinePipe wp, vp;
  Child writer([&] { return children::produce(g.name(), children::options(), 0, 10000, &wp); });
  auto ready = wp.recv_kind("ready", 10s);
  ASSERT_TRUE(ready);
  const std::uint64_t g1 = ready->get_u64("gen");
  Child victim([&] {
    return children::report_events(
        g.name(), vp, [g1](const Event& e) { return e.kind == EventKind::frame && e.generation != g1; }, 20s);
  });
  ASSERT_TRUE(vp.recv_kind("frame", 10s));
  {
    const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, GetParam()), 0);
    close(fd);
  }
  const auto seen = records_until(vp, 10s,
                                  [g1](const Record& r) { return r.kind() == "frame" && r.get_u64("gen") != g1; });
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().kind(), "frame") << "the consumer did not follow; last: " << seen.back().str();
  EXPECT_TRUE(seen.back().get_bool("ok")) << seen.back().str();
  if (GetParam() == 0) {
    EXPECT_GE(count_kind(seen, "corrupt"), 1u) << "the truncation was not reported";
  }
  EXPECT_EQ(victim.exit_code(10s), 0) << "the consumer died (1000 + signal)";
  EXPECT_TRUE(producer_log(wp, "truncated", 5s)) << "the producer did not report it";
  EXPECT_TRUE(writer.running()) << "the producer died";
  writer.signal(SIGTERM);
  EXPECT_EQ(writer.exit_code(10s), 0);
}

INSTANTIATE_TEST_SUITE_P(ToZeroOrOnePage, Truncation, ::testing::Values(off_t{0}, off_t{4096}),
                         [](const auto& p) { return p.param == 0 ? "to_zero" : "to_one_page"; });

namespace {
sigjmp_buf g_app_jump;
std::atomic<int> g_app_calls{0};
void app_sigbus(int, siginfo_t*, void*) {
  g_app_calls.fetch_add(1);
  siglongjmp(g_app_jump, 1);
}
// A SIGBUS of the application's own: a mapping of a file it shrinks, touched. Its handler jumps
// back here. (A function of its own: no object with a destructor lives across the jump.)
__attribute__((noinline)) bool own_sigbus() {
  FILE* f = std::tmpfile();
  if (f == nullptr || ftruncate(fileno(f), 4096) != 0) return false;
  auto* p = static_cast<volatile char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(f), 0));
  if (p == MAP_FAILED || ftruncate(fileno(f), 0) != 0) return false;
  if (sigsetjmp(g_app_jump, 1) == 0) p[0] = 1;  // faults
  return true;
}

}  // namespace

// Producer and consumer with their own SIGBUS handlers (installed before the library's): a
// truncation of our segment never reaches them, a SIGBUS of their own still does.
TEST(Hostile, TheSigbusGuardChainsToTheApplicationsHandler) {
  StreamGuard g("truncchain");
  LinePipe wp, cp;
  Child writer([&] {  // the producer has a SIGBUS handler of its own too
    struct sigaction sa = {};
    sa.sa_sigaction = app_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, nullptr);
    const int rc = children::produce(g.name(), children::options(), 0, 10000, &wp);
    wp.send(Record("app_calls").set("n", g_app_calls.load()));
    return rc;
  });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child consumer([&] {
    struct sigaction sa = {};
    sa.sa_sigaction = app_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, nullptr);
    Reader r(g.name());
    r.attach(5s);
    std::uint64_t gen = r.info().generation;
    bool truncated = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      Event e = r.wait(100ms);
      if (e.kind == EventKind::frame && !truncated) cp.send(Record("frame"));
      if (e.kind == EventKind::corrupt) truncated = true;
      if (e.kind == EventKind::frame && e.generation != gen) break;
    }
    cp.send(Record("followed").set("truncated", truncated).set("app_calls", g_app_calls.load()));
    if (!own_sigbus()) return 3;
    cp.send(Record("own").set("app_calls", g_app_calls.load()));
    return 0;
  });
  ASSERT_TRUE(cp.recv_kind("frame", 10s));
  {
    const int fd = shm_open(detail::segment_object(g.name()).c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 0), 0);
    close(fd);
  }
  auto followed = cp.recv_kind("followed", 15s);
  ASSERT_TRUE(followed);
  EXPECT_TRUE(followed->get_bool("truncated")) << followed->str();
  EXPECT_EQ(followed->get_u64("app_calls"), 0u) << "our SIGBUS reached the application's handler";
  auto own = cp.recv_kind("own", 5s);
  ASSERT_TRUE(own) << "the application's own SIGBUS killed it";
  EXPECT_EQ(own->get_u64("app_calls"), 1u);
  EXPECT_EQ(consumer.exit_code(10s), 0);
  EXPECT_TRUE(producer_log(wp, "truncated", 5s)) << "the producer did not report it";
  writer.signal(SIGTERM);
  EXPECT_EQ(writer.exit_code(10s), 0);
  auto calls = wp.recv_kind("app_calls", 5s);
  ASSERT_TRUE(calls);
  EXPECT_EQ(calls->get_u64("n"), 0u) << "our SIGBUS reached the producer's own handler";
}

// ---- squatting and spoofing: another local user, the same /dev/shm -----------------------

namespace {
struct stat stat_of(const std::string& path) {
  struct stat st = {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}
}  // namespace

// Another user's file at the segment's name (here: a small file of uid 65534) is neither used
// nor removed: the producer refuses, naming the owner and the fix.
TEST(Squatting, AnotherUsersFileAtTheNameIsNeitherUsedNorRemoved) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("squat-file");
  Child squatter([&] {
    if (children::become_nobody() != 0) return 50;
    const int fd = open(g.path().c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    return fd >= 0 && write(fd, "mine", 4) == 4 && close(fd) == 0 ? 0 : 51;
  });
  ASSERT_EQ(squatter.exit_code(10s), 0);
  const struct stat before = stat_of(g.path());
  try {
    Writer w(g.name(), children::options());
    ADD_FAILURE() << "the producer used or replaced another user's file";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::permission_denied);
    const std::string m = e.what();
    EXPECT_NE(m.find("owner uid 65534"), std::string::npos) << m;
    EXPECT_NE(m.find("not ours"), std::string::npos) << m;
  }
  const struct stat after = stat_of(g.path());
  EXPECT_EQ(after.st_ino, before.st_ino) << "the file was replaced";
  EXPECT_EQ(after.st_size, 4);
  EXPECT_NE(access(detail::object_path(detail::lock_object(g.name())).c_str(), F_OK), 0)
      << "the failed start left its lock behind";
}

// A FIFO or a symbolic link at the name: nobody hangs on it (status, consumers, producers open
// everything non-blocking and check for a regular file), nobody follows the link, nobody
// removes either. Each call runs in a child that must finish within a bound: a hang fails.
TEST(Squatting, AFifoOrALinkAtTheNameHangsNothingAndIsNotFollowed) {
  StreamGuard g("squat-fifo");
  const std::string victim = "/dev/shm/shmframe-test-victim-" + std::to_string(getpid());
  for (const bool fifo : {true, false}) {
    if (fifo) {
      ASSERT_EQ(mkfifo(g.path().c_str(), 0666), 0);
    } else {
      const int fd = open(victim.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(write(fd, "victim", 6), 6);
      close(fd);
      ASSERT_EQ(symlink(victim.c_str(), g.path().c_str()), 0);
    }
    Child status([&] {
      try {
        (void)inspect(g.name());
        return 10;
      } catch (const Error&) {
        return 0;
      }
    });
    EXPECT_EQ(status.exit_code(10s), 0) << (fifo ? "fifo" : "link") << ": inspect() hung or accepted it";
    Child consumer([&] {
      Reader r(g.name());
      try {
        r.attach(500ms);
        return 10;
      } catch (const Error&) {
        return 0;
      }
    });
    EXPECT_EQ(consumer.exit_code(10s), 0) << (fifo ? "fifo" : "link") << ": the consumer hung or attached";
    Child producer([&] {
      try {
        Writer w(g.name(), children::options());
        return 10;
      } catch (const Error&) {
        return 0;
      }
    });
    EXPECT_EQ(producer.exit_code(10s), 0) << (fifo ? "fifo" : "link") << ": the producer hung or replaced it";
    const struct stat st = stat_of(g.path());
    EXPECT_TRUE(fifo ? S_ISFIFO(st.st_mode) : S_ISLNK(st.st_mode)) << "the object at the name was replaced";
    unlink(g.path().c_str());
  }
  struct stat vs = {};
  ASSERT_EQ(stat(victim.c_str(), &vs), 0);
  EXPECT_EQ(vs.st_size, 6) << "the link was followed";
  unlink(victim.c_str());
}

// The lock object is owner-only whatever the stream's mode, and a producer refused because
// another user's producer holds the name is told that the lock is another user's (the pid in
// the record is only that producer's claim).
TEST(Squatting, TheLockIsOwnerOnlyAndAnotherUsersLockIsReportedAsSuch) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("squat-lock");
  LinePipe wp;
  WriterOptions o = children::options();
  o.mode = 0666;
  Child theirs([&] { return children::produce_as_nobody(g.name(), o, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  const std::string lock = detail::object_path(detail::lock_object(g.name()));
  const struct stat st = stat_of(lock);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the lock of a 0666 stream must stay 0600";
  EXPECT_EQ(stat_of(g.path()).st_mode & 07777, 0666u);
  try {
    Writer w(g.name(), children::options());
    ADD_FAILURE() << "a second producer took a live name";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::already_owned);
    const std::string m = e.what();
    EXPECT_NE(m.find("of another user"), std::string::npos) << m;
    EXPECT_NE(m.find("owner uid 65534"), std::string::npos) << m;
  }
  theirs.kill_and_reap(SIGTERM);
}

// Ownership is the object's (fstat), never the header's writer_uid, which anyone with write
// access can forge: a Reader that expects an owner refuses another user's segment even when its
// header claims the expected uid, and accepts the right owner's.
TEST(Squatting, ExpectOwnerJudgesTheFileNotTheHeader) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  StreamGuard g("squat-owner");
  LinePipe wp;
  WriterOptions o = children::options();
  o.mode = 0666;
  Child theirs([&] { return children::produce_as_nobody(g.name(), o, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  theirs.signal(SIGSTOP);  // or its heartbeat would restore writer_uid before we look
  {
    Tamper t(g.name());
    t.header().writer_uid = 0;  // "root's stream"
  }
  ReaderOptions root;
  root.expect_owner = 0;
  Reader refused(g.name(), root);
  try {
    refused.attach(2s);
    ADD_FAILURE() << "attached to uid 65534's segment while expecting uid 0";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::permission_denied);
    EXPECT_NE(std::string(e.what()).find("owned by uid 65534"), std::string::npos) << e.what();
  }
  ReaderOptions nobody;
  nobody.expect_owner = 65534;
  Reader accepted(g.name(), nobody);
  accepted.attach(2s);
  EXPECT_EQ(accepted.info().owner_uid, 65534u);
  theirs.signal(SIGCONT);
  theirs.kill_and_reap(SIGTERM);
}
