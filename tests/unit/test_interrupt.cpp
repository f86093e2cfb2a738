// Reader::interrupt(): a wait that another thread, or a signal handler, ends at once: attached
// (read-write and read-only, under every wait policy), detached, and in attach(); sticky until
// clear_interrupt(). And Event::fatal(), the library's judgment of which errors end a front end.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <shmframe/shmframe.hpp>
#include <thread>

#include "stream_test.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using namespace shmframe;

namespace {

using Clock = std::chrono::steady_clock;

// Starts `r.wait(10 s)` on a thread, waits until that thread is (very likely) asleep in it, then
// runs `interrupt`. Returns how long the wait went on after `interrupt` began, and its event.
// The wait has nothing else to end it for 10 s: no producer commits meanwhile.
struct Ended {
  EventKind kind = EventKind::timeout;
  std::chrono::microseconds after{0};
};
template <class F>
Ended end_wait(Reader& r, F&& interrupt) {
  std::atomic<bool> entered{false};
  std::promise<Ended> done;
  auto result = done.get_future();
  std::atomic<std::int64_t> returned_ns{0};
  std::thread t([&] {
    entered = true;
    const Event e = r.wait(10s);
    returned_ns = Clock::now().time_since_epoch().count();
    done.set_value(Ended{e.kind, {}});
  });
  // The thread must be inside wait(): give it time to get there. Not synchronization: a later
  // interrupt() ends the wait just the same (it is sticky), only the measurement would be of less.
  EXPECT_TRUE(testkit::wait_until([&] { return entered.load(); }, 5s));
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  interrupt();
  const bool ended = result.wait_for(5s) == std::future_status::ready;
  EXPECT_TRUE(ended) << "the wait did not end within 5 s of the interrupt";
  if (!ended) {
    r.interrupt();  // let the thread go, whatever happened
  }
  t.join();
  Ended out = result.get();
  out.after = std::chrono::duration_cast<std::chrono::microseconds>(
      Clock::time_point(Clock::duration(returned_ns.load())) - t0);
  return out;
}

// The bound on "at once": far below every slice the front ends used (50 ms Python, 100 ms
// GStreamer and viewer, 1 s run()), far above a wake-up on a busy 2-CPU machine under a sanitizer.
constexpr auto kAtOnce = 40ms;

class Interrupt : public testkit::StreamTest {};

}  // namespace

TEST_F(Interrupt, EndsAnAttachedWaitAtOnceFromAnotherThread) {
  start();
  const Ended e = end_wait(r(), [&] { r().interrupt(); });
  EXPECT_EQ(e.kind, EventKind::interrupted);
  EXPECT_LT(e.after, kAtOnce);
  EXPECT_TRUE(r().interrupt_requested());
}

TEST_F(Interrupt, IsStickyUntilCleared) {
  start();
  put(1);
  r().interrupt();
  // A frame is waiting, but the interrupt is in force: every wait returns at once.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r().wait(10s).kind, EventKind::interrupted);
  r().clear_interrupt();
  EXPECT_FALSE(r().interrupt_requested());
  const Event e = next_frame();
  EXPECT_EQ(e.frame.seq(), 1u);
  EXPECT_EQ(r().wait(20ms).kind, EventKind::timeout);  // blocks again
}

TEST_F(Interrupt, EndsAReadOnlyReadersWait) {
  WriterOptions o = testkit::small_options();
  o.mode = 0644;
  ReaderOptions ro;
  ro.access = Access::read_only;
  start(o, true, ro);
  ASSERT_TRUE(r().read_only());
  const Ended e = end_wait(r(), [&] { r().interrupt(); });
  EXPECT_EQ(e.kind, EventKind::interrupted);
  EXPECT_LT(e.after, kAtOnce);
}

TEST_F(Interrupt, EndsAPollUnderTheSpinAndPredictivePolicies) {
  for (WaitPolicy p : {WaitPolicy::spin, WaitPolicy::predictive}) {
    ReaderOptions ro;
    ro.wait = p;
    start(testkit::small_options(), true, ro);
    // Teach the predictor a period, so that it polls.
    for (int i = 1; i <= 20; ++i) {
      put(static_cast<std::uint64_t>(i));
      (void)r().wait(100ms);
      std::this_thread::sleep_for(2ms);  // the stream's period, not synchronization
    }
    const Ended e = end_wait(r(), [&] { r().interrupt(); });
    EXPECT_EQ(e.kind, EventKind::interrupted) << to_string(p);
    EXPECT_LT(e.after, kAtOnce) << to_string(p);
  }
}

TEST(InterruptDetached, EndsTheWaitForAStreamThatDoesNotExist) {
  testkit::StreamGuard g("interrupt-detached");
  Reader r(g.name());
  const Ended e = end_wait(r, [&] { r.interrupt(); });
  EXPECT_EQ(e.kind, EventKind::interrupted);
  EXPECT_LT(e.after, kAtOnce);
  EXPECT_FALSE(r.attached());
}

TEST(InterruptDetached, EndsAnAttachWithErrorInterrupted) {
  testkit::StreamGuard g("interrupt-attach");
  Reader r(g.name());
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);  // let attach() start waiting; a sooner interrupt ends it too
    r.interrupt();
  });
  const auto t0 = Clock::now();
  try {
    r.attach(10s);
    ADD_FAILURE() << "attach() returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::interrupted) << e.what();
  }
  EXPECT_LT(Clock::now() - t0, 5s);
  t.join();
}

namespace {
std::atomic<Reader*> g_signal_reader{nullptr};
void interrupt_from_handler(int) {
  if (Reader* r = g_signal_reader.load()) r->interrupt();
}
}  // namespace

TEST_F(Interrupt, CanBeCalledFromASignalHandler) {
  start();
  struct sigaction sa {
  }, old{};
  sa.sa_handler = interrupt_from_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // the wait must end by interrupt(), not by EINTR
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  g_signal_reader = &r();
  // The handler runs on this thread, not on the waiting one.
  const Ended e = end_wait(r(), [] { pthread_kill(pthread_self(), SIGUSR1); });
  g_signal_reader = nullptr;
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(e.kind, EventKind::interrupted);
  EXPECT_LT(e.after, kAtOnce);
}

TEST(EventFatal, OnlyErrorsThatWaitingCannotCureAreFatal) {
  auto error = [](errc c) {
    Event e;
    e.kind = EventKind::error;
    e.error = make_error_code(c);
    return e;
  };
  for (errc c : {errc::init_timeout, errc::creator_died, errc::too_many_consumers, errc::not_found}) {
    EXPECT_FALSE(error(c).fatal()) << make_error_code(c).message();
  }
  for (errc c : {errc::permission_denied, errc::abi_mismatch, errc::bad_magic, errc::corrupt, errc::invalid_argument,
                 errc::system_error}) {
    EXPECT_TRUE(error(c).fatal()) << make_error_code(c).message();
  }
  for (EventKind k : {EventKind::frame, EventKind::attached, EventKind::producer_lost, EventKind::closed,
                      EventKind::timeout, EventKind::interrupted, EventKind::corrupt}) {
    Event e;
    e.kind = k;
    e.error = make_error_code(errc::corrupt);  // whatever it carries, only an error can be fatal
    EXPECT_FALSE(e.fatal()) << to_string(k);
  }
  EXPECT_TRUE(is_fatal(std::make_error_code(std::errc::io_error)));  // not ours: nothing says waiting helps
}
