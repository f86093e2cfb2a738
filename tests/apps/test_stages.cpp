// Plugins, pipeline stages and delivery modes as a user runs them: real shmframe-producer and
// shmframe-consumer processes, plugins loaded from .so files.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>
#include <string>

#include "app_process.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;
using testkit::App;
using testkit::kConsumer;
using testkit::kProducer;
using testkit::StreamGuard;

namespace {

const std::string kTestPlugin = SHMFRAME_TEST_PLUGIN;
const std::string kWrongAbi = SHMFRAME_WRONG_ABI_PLUGIN;
const std::string kNotPlugin = SHMFRAME_NOT_A_PLUGIN;
const std::string kOldTable = SHMFRAME_OLD_TABLE_PLUGIN;

// Next stdout line as JSON, whatever it is (bounded).
std::optional<json> next_json(App& app, std::chrono::milliseconds budget) {
  auto l = app.out->recv(budget);
  if (!l) return std::nullopt;
  json j = json::parse(*l, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// `shmframe-consumer --status` of one stream, parsed.
json status_of(const std::string& name) {
  App s({kConsumer, "--name", name, "--status"});
  std::string all;
  json j;
  // Until the array is complete (the pipe stays open on our side, so no end-of-file).
  while (auto l = s.out->recv(5s)) {
    all += *l + "\n";
    j = json::parse(all, nullptr, false);
    if (!j.is_discarded()) break;
  }
  EXPECT_EQ(s.proc->exit_code(10s), 0);
  if (j.is_discarded() || !j.is_array() || j.empty()) return json::object();
  return j[0];
}

// The entry of the consumer with `pid` in a status object (null if absent).
json entry_of(const json& status, pid_t pid) {
  for (const auto& c : status.value("consumers", json::array()))
    if (c.value("pid", 0) == pid) return c;
  return json();
}

}  // namespace

TEST(Plugins, APluginRunsAndTheConsumerExitsAfterItsFrames) {
  StreamGuard g("plug-run");
  App consumer({kConsumer, "--name", g.name(), "--plugin", kTestPlugin, "--plugin-arg", "print=true", "--frames", "10",
                "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--fps", "100"});
  std::uint64_t last = 0;
  for (int i = 0; i < 10; ++i) {
    auto j = next_json(consumer, 10s);
    ASSERT_TRUE(j) << consumer.errors();
    EXPECT_GT((*j)["seq"].get<std::uint64_t>(), last);
    EXPECT_EQ((*j)["origin_seq"], (*j)["seq"]) << "a producer's frame is its own origin";
    EXPECT_EQ((*j)["hops"], 0);
    last = (*j)["seq"];
  }
  EXPECT_EQ(consumer.proc->exit_code(10s), 0) << consumer.errors();
  EXPECT_NE(consumer.errors().find("plugin 'test'"), std::string::npos);
}

// plugin.h's growth rule, host side: a plugin whose table is older and smaller (it ends at
// on_frame) loads and runs; the host calls none of the callbacks beyond its size (the bytes
// there would crash it), though the run lasts past an idle period (on_idle).
TEST(Plugins, APluginWithAnOlderSmallerTableLoadsAndRuns) {
  StreamGuard g("plug-old");
  App consumer({kConsumer, "--name", g.name(), "--plugin", kOldTable, "--frames", "4", "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--fps", "2"});  // 4 frames: ~2 s, past the 1 s idle period
  EXPECT_EQ(consumer.proc->exit_code(30s), 0) << consumer.errors();
  const std::string log = consumer.errors();
  EXPECT_NE(log.find("old-table frame"), std::string::npos) << log;
}

TEST(Plugins, BadPluginsAreRefusedCleanlyWithExit2NamingTheFileAndTheReason) {
  StreamGuard g("plug-bad");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {{"--plugin", kNotPlugin}, {kNotPlugin, "not a shmframe plugin"}},
      {{"--plugin", kWrongAbi}, {kWrongAbi, "plugin ABI 99", "speaks 1", "rebuild"}},
      {{"--plugin", kTestPlugin, "--plugin-arg", "colour=red"}, {kTestPlugin, "unknown argument 'colour'", "takes:"}},
      {{"--plugin", kTestPlugin, "--plugin-arg", "fail_create=true"}, {kTestPlugin, "cannot create", "fail_create"}},
      {{"--plugin", kTestPlugin, "--plugin-arg", "throw_every=often"}, {"throw_every=often is not a number"}},
      {{"--plugin", kTestPlugin, "--plugin-arg", "novalue"}, {"not KEY=VALUE"}},
      {{"--plugin", "/nonexistent/x.so"}, {"/nonexistent/x.so", "no such file"}},
      {{"--plugin", "no-such-plugin"}, {"'no-such-plugin' not found", "SHMFRAME_PLUGIN_PATH"}},
      {{"--plugin", "/etc/passwd"}, {"/etc/passwd", "cannot load"}},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{kConsumer, "--name", g.name()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    App consumer(argv);
    EXPECT_EQ(consumer.proc->exit_code(10s), 2) << c.args[1];
    const std::string err = consumer.errors();
    for (const auto& s : c.says) EXPECT_NE(err.find(s), std::string::npos) << "expected '" << s << "' in: " << err;
  }
}

TEST(Plugins, AThrowingPluginIsLoggedAndCountedAndTheConsumerStaysUp) {
  StreamGuard g("plug-throw");
  App consumer({kConsumer, "--name", g.name(), "--plugin", kTestPlugin, "--plugin-arg", "throw_every=2", "--frames",
                "10", "--timeout-ms", "20000"});
  App producer({kProducer, "--name", g.name(), "--fps", "200"});
  EXPECT_EQ(consumer.proc->exit_code(20s), 0) << "the consumer died with its plugin";
  const std::string err = consumer.errors();
  EXPECT_NE(err.find("test plugin throws on call 2"), std::string::npos) << err;
  EXPECT_NE(err.find("processed 10 frames"), std::string::npos) << err;
  EXPECT_NE(err.find("processor errors"), std::string::npos) << err;
}

// camera -> stage -> stage -> probe: the probe at the end knows the camera frame behind each
// frame, its pixels are the camera's (same crc32 for the same origin seq), and end-to-end
// latency covers every hop.
TEST(Stages, AThreeStageChainCarriesOriginAndEndToEndLatency) {
  StreamGuard s0("chain-cam"), s1("chain-s1"), s2("chain-s2");
  App source_probe({kConsumer, "--name", s0.name(), "--processor", "probe", "--every-frame", "--timeout-ms", "20000"});
  App end_probe({kConsumer, "--name", s2.name(), "--processor", "probe", "--frames", "30", "--timeout-ms", "20000"});
  App stage2(
      {kConsumer, "--name", s1.name(), "--plugin", kTestPlugin, "--plugin-arg", "pass=true", "--output", s2.name()});
  App stage1(
      {kConsumer, "--name", s0.name(), "--plugin", kTestPlugin, "--plugin-arg", "pass=true", "--output", s1.name()});
  App producer({kProducer, "--name", s0.name(), "--fps", "60", "--width", "320", "--height", "240", "--slots", "8"});
  std::vector<json> ends;
  for (int i = 0; i < 30; ++i) {
    auto f = end_probe.event("frame", 15s);
    ASSERT_TRUE(f) << "frame " << i << ": " << end_probe.errors() << stage1.errors() << stage2.errors();
    ends.push_back(*f);
  }
  EXPECT_EQ(end_probe.proc->exit_code(10s), 0);
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
  std::map<std::uint64_t, std::string> source_crc;
  while (auto f = source_probe.event("frame", 1s)) source_crc[(*f)["seq"]] = (*f)["crc32"];
  std::size_t matched = 0;
  for (const auto& f : ends) {
    EXPECT_EQ(f["origin_stream"], s0.name());
    EXPECT_EQ(f["hops"], 2);
    EXPECT_EQ(f["width"], 320);
    const std::uint64_t e2e = f["e2e_latency_ns"], handoff = f["handoff_ns"];
    EXPECT_GT(e2e, 0u);
    EXPECT_GE(e2e, handoff) << "end-to-end latency must cover the last hop";
    const auto it = source_crc.find(f["origin_seq"]);
    if (it != source_crc.end()) {
      EXPECT_EQ(f["crc32"], it->second) << "origin seq " << f["origin_seq"] << " has other pixels: misrouted";
      ++matched;
    }
  }
  EXPECT_GT(matched, 10u) << "too few origin seqs seen by the source probe to compare";
}

// A lossless consumer whose work stalls now and then but keeps up on average gets every frame.
TEST(Delivery, ALosslessConsumerWithRandomStallsGetsEverySeq) {
  StreamGuard g("lossless-app");
  App consumer({kConsumer, "--name", g.name(), "--lossless", "--plugin", kTestPlugin, "--plugin-arg", "print=true",
                "--plugin-arg", "stall_every=7", "--plugin-arg", "stall_ms=40", "--exit-on-close", "--timeout-ms",
                "30000"});
  App producer(
      {kProducer, "--name", g.name(), "--fps", "100", "--frames", "300", "--slots", "8", "--max-block-ms", "2000"});
  std::vector<std::uint64_t> seqs;
  while (seqs.empty() || seqs.back() < 300) {
    auto j = next_json(consumer, 15s);
    if (!j) break;
    seqs.push_back((*j)["seq"]);
  }
  EXPECT_EQ(producer.proc->exit_code(30s), 0);
  EXPECT_EQ(consumer.proc->exit_code(30s), 0) << consumer.errors();
  ASSERT_FALSE(seqs.empty()) << consumer.errors();
  EXPECT_EQ(seqs.back(), 300u);
  for (std::size_t i = 1; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], seqs[i - 1] + 1) << "a frame was lost";
  EXPECT_GE(seqs.size(), 250u) << "attached late: from seq " << seqs.front();
  EXPECT_EQ(consumer.errors().find("demoted"), std::string::npos) << consumer.errors();
}

// A SIGSTOPped lossless consumer holds the producer for one max block, is demoted, and the
// other consumers keep their rate; resumed, it catches up and is lossless again.
TEST(Delivery, AStoppedLosslessConsumerIsDemotedAndOthersKeepTheirRate) {
  StreamGuard g("lossless-stop");
  App producer({kProducer, "--name", g.name(), "--fps", "100", "--slots", "4", "--max-block-ms", "100"});
  App lossless({kConsumer, "--name", g.name(), "--lossless", "--processor", "probe", "--timeout-ms", "30000"});
  App other({kConsumer, "--name", g.name(), "--processor", "probe", "--timeout-ms", "30000"});
  ASSERT_TRUE(lossless.event("frame", 10s)) << lossless.errors();
  ASSERT_TRUE(other.event("frame", 10s)) << other.errors();
  ASSERT_TRUE(testkit::wait_until(
      [&] { return entry_of(status_of(g.name()), lossless.proc->pid()).value("delivery", "") == "lossless"; }, 10s));
  lossless.proc->signal(SIGSTOP);
  // The other consumer goes on: 100 frames at 100 fps take ~1 s; allow a loaded machine 10 s.
  std::uint64_t first = 0, last = 0;
  for (int i = 0; i < 100; ++i) {
    auto f = other.event("frame", 10s);
    ASSERT_TRUE(f) << "the other consumer stalled after " << i << " frames";
    if (i == 0) first = (*f)["seq"];
    last = (*f)["seq"];
  }
  EXPECT_GE(last - first, 99u);
  const json st = status_of(g.name());
  const json e = entry_of(st, lossless.proc->pid());
  ASSERT_FALSE(e.is_null()) << st.dump();
  EXPECT_EQ(e["delivery"], "demoted") << st.dump();
  EXPECT_EQ(e["demotions"], 1) << "demoted once, then it cost the producer nothing";
  // Resumed: it catches up (frames lost while stopped are drops) and is lossless again.
  lossless.proc->signal(SIGCONT);
  while (lossless.out->recv(0ms)) {
  }  // what it printed before the stop
  ASSERT_TRUE(lossless.event("frame", 10s));
  EXPECT_TRUE(testkit::wait_until(
      [&] { return entry_of(status_of(g.name()), lossless.proc->pid()).value("delivery", "") == "lossless"; }, 10s));
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}

// --wait reaches the reader, and --status shows each consumer's policy and last hand-off.
TEST(Delivery, StatusShowsEachConsumersWaitPolicyAndWakeLatency) {
  StreamGuard g("wait-status");
  App producer({kProducer, "--name", g.name(), "--fps", "100"});
  App predictive(
      {kConsumer, "--name", g.name(), "--wait", "predictive", "--processor", "probe", "--timeout-ms", "20000"});
  App spin({kConsumer, "--name", g.name(), "--wait", "spin", "--spin-limit-us", "500", "--processor", "probe",
            "--timeout-ms", "20000"});
  ASSERT_TRUE(predictive.event("frame", 10s)) << predictive.errors();
  ASSERT_TRUE(spin.event("frame", 10s)) << spin.errors();
  const json st = status_of(g.name());
  const json p = entry_of(st, predictive.proc->pid()), s = entry_of(st, spin.proc->pid());
  ASSERT_FALSE(p.is_null()) << st.dump();
  ASSERT_FALSE(s.is_null()) << st.dump();
  EXPECT_EQ(p["wait"], "predictive");
  EXPECT_EQ(s["wait"], "spin");
  EXPECT_GT(p["wake_latency_ns"].get<std::uint64_t>(), 0u);
  App bad({kConsumer, "--name", g.name(), "--wait", "sometimes"});
  EXPECT_EQ(bad.proc->exit_code(10s), 2);
  EXPECT_NE(bad.errors().find("--wait"), std::string::npos);
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}
