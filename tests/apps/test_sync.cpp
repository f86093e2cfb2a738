// Synchronised sets as a user runs them (issue 21): shmframe-producer --phase-lock cameras read by
// shmframe-consumer --sync --processor probe, which prints a JSON object per set and a summary.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <shmframe/shmframe.hpp>

#include "app_process.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;
using testkit::App;
using testkit::kConsumer;
using testkit::kProducer;
using testkit::StreamGuard;

namespace {

struct SyncOut {
  std::vector<json> sets;
  std::vector<json> events;  // attached, closed, producer_lost...
  json summary;
};

// Reads the consumer's objects until its summary (it exits) or `budget`.
SyncOut read_sync(App& consumer, std::chrono::milliseconds budget) {
  SyncOut o;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (auto l = consumer.out->recv(testkit::left_until(deadline))) {
    json j = json::parse(*l);
    if (j["event"] == "set") o.sets.push_back(j);
    else if (j["event"] == "summary") {
      o.summary = j;
      break;
    } else if (j["event"] != "sync") o.events.push_back(j);
  }
  return o;
}

// A phase-locked test-pattern producer on stream `name`: `frames` frames (0: until stopped).
std::vector<std::string> camera(const std::string& name, const std::string& fps, int frames,
                                const std::string& offset_ms = "0") {
  return {kProducer,
          "--name",
          name,
          "--fps",
          fps,
          "--frames",
          std::to_string(frames),
          "--phase-lock",
          "--phase-offset-ms",
          offset_ms,
          "--width",
          "160",
          "--height",
          "120"};
}

std::vector<std::string> sync_consumer(const std::string& a, const std::string& b,
                                       const std::vector<std::string>& more = {}) {
  std::vector<std::string> args{kConsumer,         "--name",       a,      "--name", b, "--processor", "probe",
                                "--exit-on-close", "--timeout-ms", "20000"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// How many ticks apart two cameras of one grid started (each numbers its frames from 1), from the
// first set's seqs.
std::int64_t start_skew(const SyncOut& o) {
  const auto first_a = o.sets.front()["members"][0]["seq"].get<std::int64_t>();
  const auto first_b = o.sets.front()["members"][1]["seq"].get<std::int64_t>();
  return std::abs(first_a - first_b) + std::min(first_a, first_b) - 1;
}

std::uint64_t unmatched(const SyncOut& o, const std::string& name) {
  return o.summary["unmatched"][name].get<std::uint64_t>();
}

}  // namespace

// Two phase-locked 30 fps cameras: every pair both captured is a set, spread under 1 ms, and the
// only unmatched frames are those one camera captured while the other was not running yet.
TEST(Sync, PhaseLockedCamerasAreDeliveredAsSetsOfEveryPair) {
  StreamGuard a("sync-app-a"), b("sync-app-b");
  App consumer(sync_consumer(a.name(), b.name(), {"--sync", "approximate"}));
  std::vector<std::string> ca = camera(a.name(), "30", 300), cb = camera(b.name(), "30", 300);
  App pa(ca), pb(cb);
  const SyncOut o = read_sync(consumer, 30s);
  ASSERT_FALSE(o.summary.is_null()) << consumer.errors();
  ASSERT_FALSE(o.sets.empty());
  // The cameras started apart by `skew` ticks: frames 1..300 of each, on one grid.
  const std::int64_t skew = start_skew(o);
  EXPECT_LE(skew, 30) << "the cameras started a second apart";
  EXPECT_EQ(static_cast<std::int64_t>(o.sets.size()), 300 - skew);
  for (const json& s : o.sets) {
    EXPECT_LT(s["spread_ns"].get<std::uint64_t>(), 1'000'000u) << s.dump();
    EXPECT_EQ(s["members"][0]["capture_ns"], s["members"][1]["capture_ns"]) << s.dump();
  }
  // Only frames without a partner are unmatched: the earlier camera's first `skew` (one taken
  // before the reader attached is not counted) and the later camera's last `skew` (still queued
  // when the run ends, they are not counted either).
  EXPECT_LE(static_cast<std::int64_t>(unmatched(o, a.name())), skew) << o.summary.dump();
  EXPECT_LE(static_cast<std::int64_t>(unmatched(o, b.name())), skew) << o.summary.dump();
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  EXPECT_EQ(pa.proc->exit_code(10s), 0);
  EXPECT_EQ(pb.proc->exit_code(10s), 0);
}

// --wait reaches the one wait on both streams: spin polls (the summary counts it) and every pair
// both cameras captured is still a set.
TEST(Sync, WaitSpinPollsForTheSets) {
  StreamGuard a("sync-spin-a"), b("sync-spin-b");
  App consumer(sync_consumer(a.name(), b.name(), {"--sync", "exact", "--wait", "spin", "--spin-limit-us", "2000"}));
  std::vector<std::string> ca = camera(a.name(), "30", 120), cb = camera(b.name(), "30", 120);
  App pa(ca), pb(cb);
  const SyncOut o = read_sync(consumer, 30s);
  ASSERT_FALSE(o.summary.is_null()) << consumer.errors();
  ASSERT_FALSE(o.sets.empty()) << o.summary.dump();
  EXPECT_EQ(static_cast<std::int64_t>(o.sets.size()), 120 - start_skew(o)) << o.summary.dump();
  for (const json& s : o.sets) EXPECT_EQ(s["members"][0]["capture_ns"], s["members"][1]["capture_ns"]) << s.dump();
  EXPECT_GT(o.summary["polled"].get<std::uint64_t>(), 0u) << o.summary.dump();
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  EXPECT_EQ(pa.proc->exit_code(10s), 0);
  EXPECT_EQ(pb.proc->exit_code(10s), 0);
}

// One camera 12 ms late: no set within 5 ms (every frame unmatched), every pair within 20 ms.
TEST(Sync, AnOffsetOutsideTheToleranceMakesNoSetInsideItEveryPair) {
  for (const std::string tol : {"5", "20"}) {
    StreamGuard a("sync-off-a" + tol), b("sync-off-b" + tol);
    App consumer(sync_consumer(a.name(), b.name(), {"--sync", "approximate", "--tolerance-ms", tol}));
    std::vector<std::string> ca = camera(a.name(), "30", 60), cb = camera(b.name(), "30", 60, "12");
    App pa(ca), pb(cb);
    const SyncOut o = read_sync(consumer, 20s);
    ASSERT_FALSE(o.summary.is_null()) << consumer.errors();
    const std::uint64_t lost = unmatched(o, a.name()) + unmatched(o, b.name());
    if (tol == "5") {
      EXPECT_TRUE(o.sets.empty()) << o.sets.size() << " sets at 5 ms";
      EXPECT_GE(lost, 110u) << "frames taken and not counted unmatched: " << o.summary.dump();
    } else {
      EXPECT_GE(o.sets.size(), 55u);
      EXPECT_LE(lost, 2 * (60 - o.sets.size())) << o.summary.dump();
      for (const json& s : o.sets) EXPECT_NEAR(s["spread_ns"].get<double>(), 12e6, 1e3) << s.dump();
    }
    EXPECT_EQ(consumer.proc->exit_code(10s), 0);
  }
}

// 30 fps with 15 fps: a set per slow frame, and half the fast stream's frames unmatched.
TEST(Sync, ThirtyWithFifteenGivesSetsAtFifteenAndHalfTheFastFramesUnmatched) {
  StreamGuard a("sync-30"), b("sync-15");
  App consumer(sync_consumer(a.name(), b.name(), {"--sync", "approximate"}));
  std::vector<std::string> ca = camera(a.name(), "30", 90), cb = camera(b.name(), "15", 45);
  App pa(ca), pb(cb);
  const SyncOut o = read_sync(consumer, 20s);
  ASSERT_FALSE(o.summary.is_null()) << consumer.errors();
  EXPECT_GE(o.sets.size(), 40u);
  EXPECT_LE(o.sets.size(), 45u);
  // A slow frame is either in a set or unmatched (or, its partner's camera done, still queued at
  // the end: not counted).
  EXPECT_LE(unmatched(o, b.name()), 45 - o.sets.size()) << "slow frames without a set: " << o.summary.dump();
  EXPECT_NEAR(static_cast<double>(unmatched(o, a.name())), 45.0, 5.0) << o.summary.dump();
  for (std::size_t i = 1; i < o.sets.size(); ++i) {
    const auto gap = o.sets[i]["members"][1]["capture_ns"].get<double>() -
                     o.sets[i - 1]["members"][1]["capture_ns"].get<double>();
    EXPECT_NEAR(gap, 66.7e6, 1e6) << "sets not at 15 Hz";
  }
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
}

// One camera SIGKILLed and restarted at another size: sets resume, and no set mixes its old
// generation with the new one.
TEST(Sync, ACameraKilledAndRestartedAtANewSizeResumesTheSets) {
  StreamGuard a("sync-kill-a"), b("sync-kill-b");
  App consumer({kConsumer, "--name", a.name(), "--name", b.name(), "--sync", "approximate", "--processor", "probe",
                "--frames", "40", "--timeout-ms", "20000"});
  std::vector<std::string> ca = camera(a.name(), "30", 0), cb = camera(b.name(), "30", 0);
  App pa(ca);
  std::optional<App> pb(std::in_place, cb);
  std::map<std::string, std::uint64_t> generation;  // of each stream, from its attached events
  std::size_t sets = 0, after = 0;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (auto l = consumer.out->recv(testkit::left_until(deadline))) {
    const json j = json::parse(*l);
    if (j["event"] == "attached") generation[j["stream"]] = j["generation"].get<std::uint64_t>();
    if (j["event"] == "summary") break;
    if (j["event"] != "set") continue;
    for (const json& m : j["members"]) {
      EXPECT_EQ(m["generation"].get<std::uint64_t>(), generation[m["stream"]])
          << "a set mixed generations: " << j.dump();
    }
    ++sets;
    if (killed) ++after;
    if (sets == 10 && !killed) {
      pb->proc->signal(SIGKILL);
      EXPECT_NE(pb->proc->exit_code(10s), 0);
      pb.reset();
      std::vector<std::string> bigger = cb;
      bigger[bigger.size() - 3] = "320";
      bigger[bigger.size() - 1] = "240";
      pb.emplace(bigger);
      killed = true;
    }
  }
  EXPECT_TRUE(killed);
  EXPECT_GE(after, 20u) << "sets did not resume after the restart";
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
}

// One camera SIGSTOPped: the other's frames are released within the documented bound (its period
// + the slowest period + the tolerance), not held until the stopped one resumes.
TEST(Sync, AStoppedCameraDoesNotMakeTheOtherStreamsFramesStayHeld) {
  StreamGuard a("sync-stop-a"), b("sync-stop-b");
  App consumer(sync_consumer(a.name(), b.name(), {"--sync", "approximate"}));
  std::vector<std::string> ca = camera(a.name(), "10", 0), cb = camera(b.name(), "10", 0);
  ca.insert(ca.end(), {"--slots", "8"});  // room for 7 held frames: only the bound can keep it lower
  App pa(ca), pb(cb);
  ASSERT_TRUE(consumer.event("set", 10s)) << consumer.errors();
  pb.proc->signal(SIGSTOP);
  // Bound at 10 fps: 100 + 100 + 50 (default tolerance) = 250 ms: at most 3 frames of 10 fps.
  std::uint32_t most = 0;
  std::string last;
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    App status({kConsumer, "--status", "--name", a.name()});
    EXPECT_EQ(status.proc->exit_code(10s), 0);
    std::string text;
    while (auto l = status.out->recv(200ms)) text += *l;
    const json streams = json::parse(text);
    for (const json& c : streams[0]["consumers"]) most = std::max(most, c["held_slots"].get<std::uint32_t>());
    last = text;
  }
  pb.proc->signal(SIGCONT);
  EXPECT_GE(most, 1u) << "the status never showed the consumer holding anything: " << last;
  EXPECT_LE(most, 3u) << "frames of the running camera stayed held while the other was stopped";
  consumer.proc->signal(SIGINT);
  EXPECT_EQ(consumer.proc->exit_code(10s), 0);
}

TEST(Sync, BadArgumentsAreRefusedWithAReason) {
  struct Case {
    std::vector<std::string> args;
    int code;
    const char* says;
  };
  std::vector<std::string> nine{kConsumer, "--sync", "exact"};
  for (int i = 0; i < 9; ++i) nine.insert(nine.end(), {"--name", "s" + std::to_string(i)});
  const Case cases[] = {
      {nine, 2, "2 to 8 streams, not 9"},
      {{kConsumer, "--name", "a", "--name", "a", "--sync", "exact"}, 2, "named twice"},
      {{kConsumer, "--name", "a", "--name", "b", "--sync", "approximate", "--tolerance-ms", "0"}, 2, "matches nothing"},
      {{kConsumer, "--name", "a", "--name", "b"}, 2, "need --sync"},
      {{kConsumer, "--name", "a", "--name", "b", "--sync", "close"}, 2, "--sync"},
      {{kConsumer, "--name", "a", "--name", "b", "--sync", "exact", "--output", "c"}, 2, "needs a --plugin"},
      {{kConsumer, "--name", "sync-never-a", "--name", "sync-never-b", "--sync", "exact", "--timeout-ms", "300"},
       3,
       "no set from streams"},
  };
  for (const auto& c : cases) {
    App app(c.args);
    EXPECT_EQ(app.proc->exit_code(10s), c.code) << c.args.back();
    const std::string err = app.errors();
    EXPECT_NE(err.find(c.says), std::string::npos) << c.args.back() << ": " << err;
  }
}

// --status with --sync says how a set of these streams would be read on this kernel: the wait
// (futex_waitv, or the first-word fallback when it is missing or turned off).
TEST(Sync, StatusSaysWhichWaitTheSetWouldUse) {
  StreamGuard a("sync-status-a"), b("sync-status-b");
  std::vector<std::string> ca = camera(a.name(), "30", 0), cb = camera(b.name(), "30", 0);
  App pa(ca), pb(cb);
  for (const bool fallback : {false, true}) {
    // Both streams there: exit 0 once each is inspectable (a producer still starting is retried).
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    json j;
    while (std::chrono::steady_clock::now() < deadline) {
      App status({kConsumer, "--status", "--name", a.name(), "--name", b.name(), "--sync", "exact"},
                 fallback ? std::vector<std::string>{"SHMFRAME_FUTEX_WAITV=0"} : std::vector<std::string>{});
      const int code = status.proc->exit_code(10s);
      text.clear();
      while (auto l = status.out->recv(200ms)) text += *l;
      j = json::parse(text, nullptr, false);
      if (code == 0) break;
    }
    ASSERT_TRUE(j.is_object()) << text;
    ASSERT_EQ(j["streams"].size(), 2u) << text;
    EXPECT_FALSE(j["streams"][0].contains("error")) << text;
    EXPECT_EQ(j["sync"]["policy"], "exact");
    const std::string wait = j["sync"]["wait"];
    if (fallback) {
      EXPECT_EQ(wait, "first-word");
    } else {
      EXPECT_TRUE(wait == "futex_waitv" || wait == "first-word") << wait;
    }
  }
  for (App* p : {&pa, &pb}) {
    p->proc->signal(SIGINT);
    EXPECT_EQ(p->proc->exit_code(10s), 0);
  }
}
