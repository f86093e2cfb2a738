// Consumers misbehaving in real processes: stalled (SIGSTOP), killed holding a frame, killed
// with the table full, and many at once. The producer must never wait for any of them.
#include <gtest/gtest.h>

#include <memory>

#include "children.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::Record;
using testkit::StreamGuard;

namespace {

// Next frame Record from a report_events() child for which `pred` holds; every frame on the way
// must have had intact pixels.
std::optional<Record> next_frame(LinePipe& p, std::chrono::milliseconds budget,
                                 const std::function<bool(const Record&)>& pred = {}) {
  return p.recv_kind("frame", budget, [&](const Record& f) {
    EXPECT_TRUE(f.get_bool("ok") || !f.get_bool("valid")) << "torn frame accepted: " << f.str();
    return !pred || pred(f);
  });
}

// Waits until `r` has taken `n` more frames; returns the last seq.
std::uint64_t take_frames(Reader& r, int n, std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  std::uint64_t last = 0;
  for (int got = 0; got < n && std::chrono::steady_clock::now() < deadline;) {
    Event e = r.wait(100ms);
    if (e.kind == EventKind::frame) {
      last = e.frame.seq();
      ++got;
    }
  }
  return last;
}

// The producer's log Record saying it reclaimed `pid`'s entry, within `budget`.
std::optional<Record> reclaimed_log(LinePipe& producer_events, pid_t pid, std::chrono::milliseconds budget) {
  const std::string needle = "dead pid " + std::to_string(pid);
  return producer_events.recv_kind("log", budget,
                                   [&](const Record& l) { return l.get("text").find(needle) != std::string::npos; });
}

const ConsumerInfo* entry_of(const StreamStatus& st, pid_t pid) {
  for (const auto& c : st.consumers)
    if (c.pid == pid) return &c;
  return nullptr;
}

}  // namespace

TEST(Consumers, AStalledConsumerSlowsNobodyAndJumpsToTheLatestWhenResumed) {
  StreamGuard g("stall");
  LinePipe wp, fast, slow;
  Child writer([&] { return children::produce(g.name(), children::options(), 0, 2000, &wp); });  // 500 fps
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child c1([&] { return children::report_events(g.name(), fast, {}, 60s); });
  Child c2([&] { return children::report_events(g.name(), slow, {}, 60s); });
  auto before = next_frame(slow, 10s, [](const Record& f) { return f.get_u64("seq") >= 20; });
  ASSERT_TRUE(before);
  c2.signal(SIGSTOP);
  // Drain what c2 wrote before it stopped; its last Record is where it stopped.
  std::uint64_t stop_seq = before->get_u64("seq"), stop_drops = before->get_u64("drops");
  while (auto f = next_frame(slow, 200ms)) {
    stop_seq = f->get_u64("seq");
    stop_drops = f->get_u64("drops");
  }
  // While c2 is stopped: the producer keeps committing and c1 keeps receiving.
  Reader observer(g.name());
  observer.attach(5s);
  const std::uint64_t seen0 = take_frames(observer, 1, 5s);
  auto c1_later = next_frame(fast, 10s, [&](const Record& f) { return f.get_u64("seq") >= seen0 + 200; });
  ASSERT_TRUE(c1_later) << "the running consumer stopped receiving while another was stopped";
  const std::uint64_t latest_at_cont = take_frames(observer, 1, 5s);
  ASSERT_GE(latest_at_cont, stop_seq + 200) << "the producer slowed down while a consumer was stopped";
  c2.signal(SIGCONT);
  auto resumed = next_frame(slow, 10s);
  ASSERT_TRUE(resumed);
  const std::uint64_t seq = resumed->get_u64("seq"), drops = resumed->get_u64("drops");
  EXPECT_GE(seq, latest_at_cont) << "did not jump to the newest frame";
  EXPECT_EQ(drops - stop_drops, seq - stop_seq - 1) << "missed frames not counted as drops";
  writer.kill_and_reap(SIGTERM);
}

TEST(Consumers, AConsumerKilledHoldingAFrameIsReclaimedAndNeverWaitedFor) {
  StreamGuard g("holdkill");
  LinePipe wp, cp, hold;
  WriterOptions o = children::options(3);  // three slots: a live hold would keep its slot untouched
  o.max_consumers = 4;
  Child writer([&] { return children::produce(g.name(), o, 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child holder([&] {
    Reader r(g.name());
    r.attach(5s);
    for (;;) {
      Event e = r.wait(1s);
      if (e.kind == EventKind::frame) {
        Frame held = std::move(e.frame);  // keep the hold
        cp.send(Record("holding").set("seq", held.seq()));
        (void)hold.recv(60s);  // until killed
        return 0;
      }
    }
  });
  ASSERT_TRUE(cp.recv_kind("holding", 10s));
  {
    auto st = inspect(g.name());
    ASSERT_EQ(st.consumers.size(), 1u);
    EXPECT_EQ(st.consumers[0].held_slots, 1u);
  }
  const pid_t victim = holder.pid();
  holder.kill_and_reap(SIGKILL);
  ASSERT_TRUE(reclaimed_log(wp, victim, 10s)) << "the dead consumer's entry was not reclaimed";
  // The producer logs the reclaim from inside its reaper, before it adds the batch to the
  // counter: wait (bounded) for the counter rather than assume the order.
  EXPECT_TRUE(testkit::wait_until([&] { return inspect(g.name()).consumers_reaped == 1; }, 2s));
  auto st = inspect(g.name());
  EXPECT_TRUE(st.consumers.empty());
  EXPECT_EQ(st.consumers_reaped, 1u);
  // The producer kept going all along, and a new consumer gets fresh frames.
  Reader r(g.name());
  r.attach(5s);
  const std::uint64_t a = take_frames(r, 1, 5s);
  const std::uint64_t b = take_frames(r, 20, 10s);
  EXPECT_GT(b, a + 10);
  writer.kill_and_reap(SIGTERM);
}

// A full table (2 entries), one owner SIGKILLed: a third consumer is refused while both owners
// live, takes the dead owner's entry over at once (through the kReaping sentinel: issue 10, no
// waiting for 3 silent beats), and is then never reaped while it is alive, although the entry it
// took carried a dead owner's start time and stale heartbeat.
TEST(Consumers, AFullTableIsTakenOverFromADeadOwnerAndTheNewOwnerIsNeverReaped) {
  StreamGuard g("takeover");
  LinePipe wp, vp, sp;
  WriterOptions o = children::options(2);
  o.max_consumers = 2;
  Child writer([&] { return children::produce(g.name(), o, 0, 2000, &wp); });  // 500 fps
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  Child victim([&] { return children::report_events(g.name(), vp, {}, 60s); });
  Child survivor([&] { return children::report_events(g.name(), sp, {}, 60s); });
  ASSERT_TRUE(next_frame(vp, 10s));
  ASSERT_TRUE(next_frame(sp, 10s));

  Reader third(g.name());
  try {
    third.attach(1s);
    FAIL() << "a third consumer attached to a full 2-entry table";
  } catch (const Error& e) {
    ASSERT_EQ(e.value(), errc::too_many_consumers) << e.what();
  }

  const std::uint64_t t0 = shmframe::monotonic_ns();
  const auto before = inspect(g.name());
  const ConsumerInfo* v = entry_of(before, victim.pid());
  ASSERT_NE(v, nullptr);
  const std::uint32_t victim_entry = v->entry;
  victim.kill_and_reap(SIGKILL);

  // Retry at once and then every millisecond (bounded): the first attempt must succeed.
  int refusals = 0;
  std::uint64_t t_attached = 0;
  std::string unexpected;
  const bool attached = testkit::wait_until(
      [&] {
        try {
          third.attach(0ms);
          t_attached = shmframe::monotonic_ns();
          return true;
        } catch (const Error& e) {
          if (e.value() != errc::too_many_consumers) unexpected = e.what();
          ++refusals;
          return false;
        }
      },
      5s);
  ASSERT_TRUE(attached) << "no entry became free after the owner was killed; last error: " << unexpected;
  EXPECT_TRUE(unexpected.empty()) << unexpected;
  EXPECT_EQ(refusals, 0) << "refused after the owner was dead";

  const auto after = inspect(g.name());
  const ConsumerInfo* mine = entry_of(after, getpid());
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->entry, victim_entry);
  EXPECT_EQ(entry_of(after, victim.pid()), nullptr);
  const bool taken_over = after.consumers_reaped == 0;  // else the reaper freed it first
  RecordProperty("path", taken_over ? "take-over through the sentinel" : "reaped, then claimed");
  RecordProperty("refusals", refusals);
  std::printf("third consumer attached %.0f ms after the kill (%d refusals) by %s\n",
              static_cast<double>(t_attached - t0) / 1e6, refusals,
              taken_over ? "take-over" : "claiming a reaped entry");

  // ~10 heartbeats of reading: frames keep coming, the entry stays ours, nothing re-attaches.
  const auto until = std::chrono::steady_clock::now() + 10 * children::kHeartbeat;
  int frames = 0, torn = 0, other_events = 0;
  while (std::chrono::steady_clock::now() < until) {
    Event e = third.wait(100ms);
    if (e.kind == EventKind::frame) {
      ++frames;
      const bool ok = testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq());
      if (!ok && e.frame.still_valid()) ++torn;
    } else if (e.kind != EventKind::timeout) {
      ++other_events;
      ADD_FAILURE() << "unexpected " << to_string(e.kind) << " " << e.message;
    }
  }
  EXPECT_GT(frames, 10);
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(other_events, 0);
  EXPECT_EQ(third.stats().attaches, 1u) << "the new owner was reaped and had to attach again";
  const auto end = inspect(g.name());
  const ConsumerInfo* still = entry_of(end, getpid());
  ASSERT_NE(still, nullptr) << "the producer reaped a live consumer";
  EXPECT_EQ(still->entry, victim_entry);
  EXPECT_EQ(end.consumers_reaped, taken_over ? 0u : 1u) << "only the dead owner may ever be reaped";
  EXPECT_NE(entry_of(end, survivor.pid()), nullptr);
  // The producer's log names the victim at most, never us or the survivor.
  while (auto l = wp.recv_kind("log", 100ms)) {
    const std::string& text = l->get("text");
    EXPECT_EQ(text.find("dead pid " + std::to_string(getpid())), std::string::npos) << text;
    EXPECT_EQ(text.find("dead pid " + std::to_string(survivor.pid())), std::string::npos) << text;
  }
  writer.kill_and_reap(SIGTERM);
}

TEST(Consumers, SixteenConsumersAtOnceAllReceiveUntornFrames) {
  StreamGuard g("sixteen");
  LinePipe wp, rp;
  Child writer([&] { return children::produce(g.name(), children::options(4), 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_kind("ready", 10s));
  std::vector<std::unique_ptr<Child>> consumers;
  for (int i = 0; i < 16; ++i) {
    consumers.push_back(std::make_unique<Child>([&] {
      Reader r(g.name());
      r.attach(10s);
      std::uint64_t last = 0;
      int got = 0;
      const auto deadline = std::chrono::steady_clock::now() + 60s;
      while (got < 100 && std::chrono::steady_clock::now() < deadline) {
        Event e = r.wait(200ms);
        if (e.kind != EventKind::frame) continue;
        if (e.frame.seq() <= last) return 20;  // sequence must only grow
        if (!testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq()) &&
            e.frame.still_valid())
          return 21;
        last = e.frame.seq();
        ++got;
      }
      rp.send(Record("done").set("got", got).set("drops", r.stats().drops));
      return got == 100 ? 0 : 22;
    }));
  }
  for (auto& c : consumers) EXPECT_EQ(c->exit_code(90s), 0);
  int done = 0;
  while (auto d = rp.recv_kind("done", 500ms)) done += d->get_u64("got") == 100;
  EXPECT_EQ(done, 16);
  writer.kill_and_reap(SIGTERM);
}
