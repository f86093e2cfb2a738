// Consumers misbehaving in real processes: stalled (SIGSTOP), killed holding a lease, and
// many at once. The producer must never wait for any of them.
#include <gtest/gtest.h>

#include "mp_common.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::Child;
using testkit::LinePipe;
using testkit::StreamGuard;

namespace {

// Reads frame lines ("frame SEQ GEN OK VALID DROPS") until one satisfies `pred`.
std::optional<std::vector<std::string>> next_frame(LinePipe& p, std::chrono::milliseconds budget,
                                                   const std::function<bool(const std::vector<std::string>&)>& pred = {}) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < deadline) {
    auto l = p.recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!l) break;
    auto w = testkit::words(*l);
    if (w.empty() || w[0] != "frame") continue;
    EXPECT_EQ(w[3], "1") << "torn frame: " << *l;
    if (!pred || pred(w)) return w;
  }
  return std::nullopt;
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

}  // namespace

TEST(Consumers, AStalledConsumerSlowsNobodyAndJumpsToTheLatestWhenResumed) {
  StreamGuard g("stall");
  LinePipe wp, fast, slow;
  Child writer([&] { return mp::produce(g.name(), mp::small_format(), 0, 2000, &wp); });  // 500 fps
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
  Child c1([&] { return mp::report_events(g.name(), fast, {}, 60s); });
  Child c2([&] { return mp::report_events(g.name(), slow, {}, 60s); });
  auto before = next_frame(slow, 10s, [](auto& w) { return std::stoull(w[1]) >= 20; });
  ASSERT_TRUE(before);
  c2.signal(SIGSTOP);
  // Drain what c2 wrote before it stopped; its last line is where it stopped.
  std::uint64_t stop_seq = std::stoull((*before)[1]), stop_drops = std::stoull((*before)[5]);
  while (auto w = next_frame(slow, 200ms)) {
    stop_seq = std::stoull((*w)[1]);
    stop_drops = std::stoull((*w)[5]);
  }
  // While c2 is stopped: the producer keeps committing and c1 keeps receiving.
  Reader observer(g.name());
  observer.attach(5s);
  const std::uint64_t seen0 = take_frames(observer, 1, 5s);
  auto c1_later = next_frame(fast, 10s, [&](auto& w) { return std::stoull(w[1]) >= seen0 + 200; });
  ASSERT_TRUE(c1_later) << "the running consumer stopped receiving while another was stopped";
  const std::uint64_t latest_at_cont = take_frames(observer, 1, 5s);
  ASSERT_GE(latest_at_cont, stop_seq + 200) << "the producer slowed down while a consumer was stopped";
  c2.signal(SIGCONT);
  auto resumed = next_frame(slow, 10s);
  ASSERT_TRUE(resumed);
  const std::uint64_t seq = std::stoull((*resumed)[1]), drops = std::stoull((*resumed)[5]);
  EXPECT_GE(seq, latest_at_cont) << "did not jump to the newest frame";
  EXPECT_EQ(drops - stop_drops, seq - stop_seq - 1) << "missed frames not counted as drops";
  writer.kill_and_reap(SIGTERM);
}

TEST(Consumers, AConsumerKilledHoldingALeaseIsReclaimedAndNeverWaitedFor) {
  StreamGuard g("leasekill");
  LinePipe wp, cp, hold;
  WriterOptions o = mp::small_format(3);  // three slots: a live lease would keep its slot untouched
  o.max_consumers = 4;
  Child writer([&] { return mp::produce(g.name(), o, 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
  Child holder([&] {
    Reader r(g.name());
    r.attach(5s);
    for (;;) {
      Event e = r.wait(1s);
      if (e.kind == EventKind::frame) {
        Frame held = std::move(e.frame);  // keep the lease
        cp.send("holding " + std::to_string(held.seq()));
        (void)hold.recv(60s);  // until killed
        return 0;
      }
    }
  });
  ASSERT_TRUE(cp.recv_prefix("holding", 10s));
  {
    auto st = inspect(g.name());
    ASSERT_EQ(st.consumers.size(), 1u);
    EXPECT_EQ(st.consumers[0].held_slots, 1u);
  }
  const pid_t victim = holder.pid();
  holder.kill_and_reap(SIGKILL);
  auto reaped = wp.recv_prefix("log ", 10s);
  while (reaped && reaped->find("dead pid " + std::to_string(victim)) == std::string::npos) reaped = wp.recv_prefix("log ", 10s);
  ASSERT_TRUE(reaped) << "the dead consumer's entry was not reclaimed";
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

TEST(Consumers, SixteenConsumersAtOnceAllReceiveUntornFrames) {
  StreamGuard g("sixteen");
  LinePipe wp, rp;
  Child writer([&] { return mp::produce(g.name(), mp::small_format(4), 0, 2000, &wp); });
  ASSERT_TRUE(wp.recv_prefix("ready", 10s));
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
        if (!testkit::check_pattern(e.frame.data(), e.frame.format().frame_bytes(), e.frame.seq()) && e.frame.still_valid()) return 21;
        last = e.frame.seq();
        ++got;
      }
      rp.send("done " + std::to_string(got) + " " + std::to_string(r.stats().drops));
      return got == 100 ? 0 : 22;
    }));
  }
  for (auto& c : consumers) EXPECT_EQ(c->exit_code(90s), 0);
  int done = 0;
  while (auto l = rp.recv(500ms)) done += l->rfind("done 100", 0) == 0;
  EXPECT_EQ(done, 16);
  writer.kill_and_reap(SIGTERM);
}
