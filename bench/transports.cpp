// The transports under test, producer and consumer sides, each run in a fork()ed process.
#include "transports.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <opencv2/core.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>
#include <type_traits>

#ifdef SHMFRAME_BENCH_ZMQ
#include <zmq.h>
#endif
#ifdef SHMFRAME_BENCH_ICEORYX
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#endif

namespace bench {

// ---------------------------------------------------------------------------------------
// shmframe, through its public API.
namespace {

std::string shm_stream() { return "bench-" + std::to_string(getppid()); }

int shmframe_producer(const Case& c, Shared& s) {
  shmframe::WriterOptions o;
  o.format = shmframe::FrameFormat{static_cast<std::uint32_t>(c.width), static_cast<std::uint32_t>(c.height),
                                   shmframe::PixelFormat::bgr8, 0};
  o.slots = 2;
  o.max_consumers = kMaxConsumers;
  shmframe::Writer w(shm_stream(), o);
  auto src = make_source_frame(c.bytes());
  const cv::Mat ready(c.height, c.width, CV_8UC3, src.data());  // a frame ready in the producer's memory
  if (!wait_ready(s, static_cast<std::uint32_t>(c.consumers))) return 10;
  const bool copy = c.mode == "copy";
  const int rc = produce_loop(c, s, [&](std::uint64_t n) {
    if (copy) {
      if (!w.publish(ready, now_ns())) return -1;  // acquire + copy + commit, through the public API
    } else {
      shmframe::WriteSlot slot = w.acquire();
      // Zero copy: the frame is produced in the slot (a camera or decoder writing in place);
      // the producer's own rendering cost is not the transport's, so we only stamp it.
      std::memcpy(slot.data(), &n, sizeof n);
      if (!w.commit(slot, now_ns())) return -1;
    }
    return 1;
  });
  return rc;  // ~Writer closes the stream: consumers see "closed"
}

int shmframe_consumer(const Case& c, Shared& s, int index) {
  shmframe::ReaderOptions ro;
  const auto slash = c.mode.find('/');
  const std::string wait = slash == std::string::npos ? "block" : c.mode.substr(slash + 1);
  if (wait == "predictive") ro.wait = shmframe::WaitPolicy::predictive;
  if (wait == "spin") ro.wait = shmframe::WaitPolicy::spin;  // no limit: a busy-poll consumer
  shmframe::Reader r(shm_stream(), ro);
  auto& res = s.consumers[index];
  std::uint64_t cpu0 = 0;
  for (;;) {
    shmframe::Event e = r.wait(std::chrono::seconds(10));
    if (e.kind == shmframe::EventKind::attached) {
      cpu0 = cpu_ns();
      signal_ready(s);
    } else if (e.kind == shmframe::EventKind::frame) {
      const std::uint64_t t = now_ns();
      res.record(t - e.frame.capture_ns(), t - e.frame.commit_ns());
    } else if (e.kind == shmframe::EventKind::closed || e.kind == shmframe::EventKind::timeout ||
               e.kind == shmframe::EventKind::error) {
      break;
    }
  }
  res.drops = r.stats().drops;
  res.cpu_ns = cpu_ns() - cpu0;
  return 0;
}

// ---------------------------------------------------------------------------------------
// UNIX-domain stream socket: the frame is copied into the socket and out again.
int g_sock[2] = {-1, -1};

// Moves exactly n bytes through `io` (read or write), retrying short transfers and EINTR.
template <class Io, class Ptr>
bool transfer_all(Io io, int fd, Ptr* p, std::size_t n) {
  auto* b = reinterpret_cast<std::conditional_t<std::is_const_v<Ptr>, const std::uint8_t, std::uint8_t>*>(p);
  while (n > 0) {
    const ssize_t k = io(fd, b, n);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      return false;
    }
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool write_all(int fd, const void* p, std::size_t n) { return transfer_all(::write, fd, p, n); }
bool read_all(int fd, void* p, std::size_t n) { return transfer_all(::read, fd, p, n); }

// Writes the frame header (seq, ready = publish time) at the start of a copied frame.
void stamp(std::vector<std::uint8_t>& frame, std::uint64_t seq, std::uint64_t t) {
  FrameHeader h{};
  h.seq = seq;
  h.t_ready = t;
  h.t_publish = t;
  std::memcpy(frame.data(), &h, sizeof h);
}

int socket_producer(const Case& c, Shared& s) {
  ::close(g_sock[1]);
  auto src = make_source_frame(c.bytes());
  if (!wait_ready(s, 1)) return 10;
  const int rc = produce_loop(c, s, [&](std::uint64_t n) {
    stamp(src, n, now_ns());
    return write_all(g_sock[0], src.data(), src.size()) ? 1 : -1;
  });
  ::close(g_sock[0]);
  return rc;
}

int socket_consumer(const Case& c, Shared& s, int index) {
  ::close(g_sock[0]);
  std::vector<std::uint8_t> buf = make_source_frame(c.bytes());
  auto& res = s.consumers[index];
  const std::uint64_t cpu0 = cpu_ns();
  signal_ready(s);
  while (read_all(g_sock[1], buf.data(), buf.size())) {
    const std::uint64_t t = now_ns();
    FrameHeader h;
    std::memcpy(&h, buf.data(), sizeof h);
    res.record(t - h.t_ready, t - h.t_publish);
  }
  res.cpu_ns = cpu_ns() - cpu0;
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------
#ifdef SHMFRAME_BENCH_ZMQ
namespace {

std::string zmq_endpoint() { return "ipc:///tmp/shmframe-bench-" + std::to_string(getppid()) + ".ipc"; }

int zmq_producer(const Case& c, Shared& s) {
  void* ctx = zmq_ctx_new();
  void* pub = zmq_socket(ctx, ZMQ_PUB);
  int hwm = 4;
  zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
  if (zmq_bind(pub, zmq_endpoint().c_str()) != 0) return 12;
  auto src = make_source_frame(c.bytes());
  // PUB/SUB drops everything before the subscription arrives: send warm-up frames (seq =
  // max) until the consumer reports that it receives.
  for (int i = 0; i < 2000 && flag(s.ready).load() == 0; ++i) {
    FrameHeader h{};
    h.seq = ~0ull;
    std::memcpy(src.data(), &h, sizeof h);
    zmq_send(pub, src.data(), sizeof h, ZMQ_DONTWAIT);
    futex_wait(&s.ready, 0, 5'000'000);
  }
  if (flag(s.ready).load() == 0) return 13;
  const int rc = produce_loop(c, s, [&](std::uint64_t n) {
    stamp(src, n, now_ns());
    zmq_send(pub, src.data(), src.size(), 0);  // copies into a zmq message
    return 1;
  });
  zmq_close(pub);
  zmq_ctx_term(ctx);
  return rc;
}

int zmq_consumer(const Case&, Shared& s, int index) {
  void* ctx = zmq_ctx_new();
  void* sub = zmq_socket(ctx, ZMQ_SUB);
  int hwm = 4;
  zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
  zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
  if (zmq_connect(sub, zmq_endpoint().c_str()) != 0) return 14;
  auto& res = s.consumers[index];
  std::uint64_t cpu0 = 0, last = 0;
  bool ready = false;
  zmq_msg_t msg;
  zmq_msg_init(&msg);
  for (;;) {
    zmq_pollitem_t item{sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 100) <= 0) {
      if (is_done(s)) break;
      continue;
    }
    if (zmq_msg_recv(&msg, sub, 0) < 0) continue;
    const std::uint64_t t = now_ns();  // the consumer holds the message data (no further copy)
    FrameHeader h;
    std::memcpy(&h, zmq_msg_data(&msg), sizeof h);
    if (h.seq == ~0ull) {
      if (!ready) {
        ready = true;
        cpu0 = cpu_ns();
        signal_ready(s);
      }
      continue;
    }
    if (res.frames != 0 && h.seq > last + 1) res.drops += h.seq - last - 1;
    last = h.seq;
    res.record(t - h.t_ready, t - h.t_publish);
  }
  zmq_msg_close(&msg);
  res.cpu_ns = cpu_ns() - cpu0;
  zmq_close(sub);
  zmq_ctx_term(ctx);
  return 0;
}

}  // namespace
#endif

// ---------------------------------------------------------------------------------------
#ifdef SHMFRAME_BENCH_ICEORYX
namespace {

const iox::capro::ServiceDescription kService{"shmframe", "bench", "frames"};

void iox_init(const char* role) {
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kOff,
                                                           iox::log::LogLevelOutput::kHideLogLevel);
  std::string n = std::string("shmframe_bench_") + role + "_" + std::to_string(getpid());
  iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, n.c_str()));
}

int iceoryx_producer(const Case& c, Shared& s) {
  iox_init("pub");
  iox::popo::PublisherOptions po;
  po.historyCapacity = 0;
  iox::popo::UntypedPublisher pub(kService, po);
  auto src = make_source_frame(c.bytes());
  // Discovery runs through RouDi: wait (bounded) until the subscribers are connected.
  const std::uint64_t deadline = now_ns() + 10'000'000'000ull;
  while (!pub.hasSubscribers() && now_ns() < deadline) futex_wait(&s.ready, flag(s.ready).load(), 2'000'000);
  if (!wait_ready(s, static_cast<std::uint32_t>(c.consumers))) return 10;
  const bool copy = c.mode == "copy";
  const int rc = produce_loop(c, s, [&](std::uint64_t n) {
    const std::uint64_t t_ready = now_ns();
    auto loaned = pub.loan(static_cast<std::uint32_t>(c.bytes()), 64);
    if (loaned.has_error()) return 0;  // pool exhausted: the sample is dropped
    void* chunk = loaned.value();
    if (copy) std::memcpy(chunk, src.data(), src.size());
    FrameHeader h{};
    h.seq = n;
    h.t_ready = copy ? t_ready : now_ns();
    h.t_publish = now_ns();
    std::memcpy(chunk, &h, sizeof h);
    pub.publish(chunk);
    return 1;
  });
  std::exit(rc);  // run the runtime's destructor: deregister from RouDi
}

int iceoryx_consumer(const Case&, Shared& s, int index) {
  iox_init("sub");
  iox::popo::SubscriberOptions so;
  so.queueCapacity = 2;
  so.queueFullPolicy = iox::popo::QueueFullPolicy::DISCARD_OLDEST_DATA;
  iox::popo::UntypedSubscriber sub(kService, so);
  iox::popo::WaitSet<> ws;
  if (ws.attachState(sub, iox::popo::SubscriberState::HAS_DATA).has_error()) return 15;
  auto& res = s.consumers[index];
  const std::uint64_t cpu0 = cpu_ns();
  signal_ready(s);
  std::uint64_t last = 0;
  while (!is_done(s)) {
    auto fired = ws.timedWait(iox::units::Duration::fromMilliseconds(100));
    if (fired.empty()) continue;
    // Take the newest: drain the queue, count what was skipped.
    const void* newest = nullptr;
    for (auto got = sub.take(); !got.has_error(); got = sub.take()) {
      if (newest != nullptr) sub.release(newest);
      newest = got.value();
    }
    if (newest == nullptr) continue;
    const std::uint64_t t = now_ns();
    FrameHeader h;
    std::memcpy(&h, newest, sizeof h);
    if (res.frames != 0 && h.seq > last + 1) res.drops += h.seq - last - 1;
    last = h.seq;
    res.record(t - h.t_ready, t - h.t_publish);
    sub.release(newest);
  }
  res.cpu_ns = cpu_ns() - cpu0;
  std::exit(0);  // run the runtime's destructor: deregister from RouDi
}

}  // namespace
#endif

// ---------------------------------------------------------------------------------------
std::vector<Transport> transports() {
  std::vector<Transport> t;
  t.push_back({"shmframe", shmframe_producer, shmframe_consumer, {}, {}});
  t.push_back({"unix_socket", socket_producer, socket_consumer,
               [](const Case&) {
                 if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_sock) != 0) return false;
                 int sz = 8 << 20;
                 for (int fd : g_sock) {
                   setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
                   setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
                 }
                 return true;
               },
               [] {
                 for (int& fd : g_sock) {
                   if (fd >= 0) ::close(fd);
                   fd = -1;
                 }
               }});
#ifdef SHMFRAME_BENCH_ZMQ
  t.push_back({"zeromq", zmq_producer, zmq_consumer, {}, {}});
#endif
#ifdef SHMFRAME_BENCH_ICEORYX
  t.push_back({"iceoryx", iceoryx_producer, iceoryx_consumer, {}, {}});
#endif
  return t;
}

bool have_iceoryx() {
#ifdef SHMFRAME_BENCH_ICEORYX
  return true;
#else
  return false;
#endif
}

}  // namespace bench
