// shmframe-web as users reach it: real producers, the real server, and clients nobody here
// wrote where it matters (ffprobe, GStreamer's souphttpsrc, promtool, Chromium); the endpoint
// and bad-input checks use a small Beast client.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <shmframe/pattern.hpp>
#include <shmframe/shmframe.hpp>
#include <string>
#include <thread>
#include <vector>

#include "app_process.hpp"
#include "jpeg.hpp"
#include "testkit.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using testkit::App;
using testkit::kConsumer;
using testkit::kProducer;
using testkit::StreamGuard;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

const std::string kWeb = SHMFRAME_WEB_BIN;

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& tag) : path("/tmp/shmframe-web-test-" + std::to_string(getpid()) + "-" + tag) {}
  ~TempFile() { ::unlink(path.c_str()); }
};

// shmframe-web on a port of the kernel's choosing (read from its "serving" line).
struct Web {
  std::unique_ptr<App> app;
  int port = 0;
  explicit Web(std::vector<std::string> extra = {}, const std::vector<std::string>& env = {}) {
    std::vector<std::string> args{kWeb, "--bind", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    app = std::make_unique<App>(args, env);
    const auto line = app->err->recv_prefix("", 10s);
    for (auto l = line; l; l = app->err->recv(10s)) {
      const auto at = l->find("serving http://127.0.0.1:");
      if (at != std::string::npos) {
        port = std::stoi(l->substr(at + 25));
        break;
      }
    }
  }
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it != headers.end() ? it->second : "";
  }
};

// One request on a fresh connection, bounded.
Reply request(int port, const std::string& target, http::verb verb = http::verb::get,
              const std::map<std::string, std::string>& headers = {}) {
  asio::io_context io;
  beast::tcp_stream s(io);
  s.expires_after(10s);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::empty_body> req(verb, target, 11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 << 20);
  beast::error_code ec;
  http::read(s, buf, p, ec);
  Reply r;
  if (ec) return r;
  r.status = static_cast<int>(p.get().result_int());
  for (const auto& f : p.get()) r.headers[std::string(f.name_string())] = std::string(f.value());
  r.body = p.get().body();
  return r;
}

// Runs a shell command line (a real client), bounded; its exit code and stdout.
std::pair<int, std::string> shell(const std::string& cmd, std::chrono::seconds budget = 60s) {
  App a({"/bin/sh", "-c", cmd});
  const int rc = a.proc->exit_code(std::chrono::duration_cast<std::chrono::milliseconds>(budget));
  std::string out;  // the pipe stays open on our side: read what is there, briefly
  while (auto l = a.out->recv(200ms)) out += *l + "\n";
  return {rc, out};
}

// Waits (bounded) until /api/streams lists `name`.
bool listed(int port, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    const Reply r = request(port, "/api/streams");
    if (r.status == 200 && r.body.find("\"" + name + "\"") != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);  // a bounded retry of a listing, not a synchronisation
  }
  return false;
}

// Snapshots until one is live (or the budget ends): the first live picture.
Reply live_snapshot(int port, const std::string& target, std::chrono::seconds budget = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  Reply r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = request(port, target);
    if (r.status == 200 && r.header("X-Stream-State") == "live") return r;
  }
  return r;
}

// A test-pattern producer and shmframe-web serving it, with its first live picture made.
struct Served {
  StreamGuard cam;
  App producer;
  Web web;
  Served(const std::string& tag, const std::vector<std::string>& producer_args, std::vector<std::string> web_args = {},
         const std::vector<std::string>& web_env = {})
      : cam(tag), producer(args_for(cam.name(), producer_args)), web(std::move(web_args), web_env) {}
  // The server is up, lists the stream and has a live picture of it.
  bool ready() {
    return web.port > 0 && listed(web.port, cam.name()) &&
           live_snapshot(web.port, "/snapshot/" + cam.name()).status == 200;
  }
  std::string url(const std::string& page) const {
    return "http://127.0.0.1:" + std::to_string(web.port) + "/" + page + "/" + cam.name();
  }

 private:
  static std::vector<std::string> args_for(const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> a{kProducer, "--name", name};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

// MJPEG clients on one io_context: each counts the parts it received whole and keeps the last
// one's headers and bytes.
class MjpegClients {
 public:
  struct Client {
    std::unique_ptr<beast::tcp_stream> s;
    std::array<char, 65536> buf{};
    std::string pending;
    std::uint64_t parts = 0;
    std::string last_state, last_body;
  };
  MjpegClients(int port, const std::string& target, std::size_t n) : clients_(n) {
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
    for (auto& c : clients_) {
      c.s = std::make_unique<beast::tcp_stream>(io_);
      c.s->connect(ep);
      asio::write(*c.s, asio::buffer(req));
      read(c);
    }
  }
  void run_for(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }
  // Runs until `done` holds for every client (true) or the budget ends (false).
  bool run_until(const std::function<bool(const Client&)>& done, std::chrono::seconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::all_of(clients_.begin(), clients_.end(), done)) return true;
      run_for(50ms);
    }
    return false;
  }
  std::vector<std::uint64_t> counts() const {
    std::vector<std::uint64_t> v;
    for (const auto& c : clients_) v.push_back(c.parts);
    return v;
  }
  std::size_t size() const { return clients_.size(); }

 private:
  void read(Client& c) {
    c.s->async_read_some(asio::buffer(c.buf), [this, &c](beast::error_code ec, std::size_t n) {
      if (ec) return;
      c.pending.append(c.buf.data(), n);
      parse(c);
      read(c);
    });
  }
  // Whole parts off the front of `pending`: "--shmframe", headers, Content-Length bytes.
  static void parse(Client& c) {
    for (;;) {
      const std::size_t at = c.pending.find("--shmframe\r\n");
      const std::size_t end = at == std::string::npos ? at : c.pending.find("\r\n\r\n", at);
      if (end == std::string::npos) return;
      const std::string head = c.pending.substr(at, end - at);
      const std::size_t cl = head.find("Content-Length: ");
      if (cl == std::string::npos) return;
      const std::size_t length = std::stoul(head.substr(cl + 16));
      if (c.pending.size() < end + 4 + length) return;
      const std::size_t st = head.find("X-Stream-State: ");
      c.last_state = st == std::string::npos ? "" : head.substr(st + 16, head.find("\r\n", st) - st - 16);
      c.last_body = c.pending.substr(end + 4, length);
      ++c.parts;
      c.pending.erase(0, end + 4 + length);
    }
  }
  asio::io_context io_;
  std::vector<Client> clients_;
};

}  // namespace

// Every page answers, /api/streams has exactly the keys of `shmframe-consumer --status`, and
// Prometheus' own checker accepts /metrics. Ctrl-C ends the server with 0.
TEST(Web, PagesApiAndMetrics) {
  Served s("web-pages", {"--fps", "30", "--width", "320", "--height", "240", "--format", "nv12"});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  const StreamGuard& cam = s.cam;
  Web& web = s.web;
  App& producer = s.producer;
  EXPECT_EQ(request(web.port, "/healthz").body, "ok\n");
  const Reply index = request(web.port, "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.body.find("/api/streams"), std::string::npos);
  const Reply view = request(web.port, "/view/" + cam.name());
  EXPECT_EQ(view.status, 200);
  EXPECT_NE(view.body.find("/stream/" + cam.name()), std::string::npos);

  const json api = json::parse(request(web.port, "/api/streams/" + cam.name()).body);
  App status({kConsumer, "--status", "--name", cam.name()});
  ASSERT_EQ(status.proc->exit_code(10s), 0) << status.errors();
  std::string text;
  while (auto l = status.out->recv(200ms)) text += *l;
  const json list = json::parse(text);
  ASSERT_TRUE(list.is_array() && !list.empty()) << text;
  for (const auto& [k, v] : list[0].items()) EXPECT_TRUE(api.contains(k)) << "/api/streams lacks --status key " << k;
  for (const auto& [k, v] : api.items()) {
    if (k == "web") continue;  // shmframe-web's own view of the stream
    EXPECT_TRUE(list[0].contains(k)) << "/api/streams has a key --status lacks: " << k;
  }
  EXPECT_EQ(api["web"]["state"], "live");

  TempFile metrics("metrics.txt");
  const Reply m = request(web.port, "/metrics");
  EXPECT_EQ(m.status, 200);
  std::ofstream(metrics.path) << m.body;
  EXPECT_NE(m.body.find("shmframe_stream_commits_total{stream=\"" + cam.name() + "\"}"), std::string::npos);
  EXPECT_NE(m.body.find("shmframe_stream_handoff_seconds_bucket{stream=\"" + cam.name()), std::string::npos);
  EXPECT_NE(m.body.find("shmframe_web_frames_encoded_total"), std::string::npos);
  const auto [rc, out] = shell("promtool check metrics < " + metrics.path + " 2>&1");
  EXPECT_EQ(rc, 0) << out;

  web.app->proc->signal(SIGINT);
  EXPECT_EQ(web.app->proc->exit_code(10s), 0) << web.app->errors();
  producer.proc->signal(SIGINT);
  EXPECT_EQ(producer.proc->exit_code(10s), 0);
}

// Clients nobody here wrote read /stream as MJPEG: ffprobe decodes 30 frames of the stream's
// size, GStreamer's souphttpsrc ! multipartdemux ! jpegdec 30 buffers.
TEST(Web, MjpegIsReadByFfprobeAndGstreamer) {
  Served s("web-mjpeg", {"--fps", "60", "--width", "320", "--height", "240", "--format", "yuyv"});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  const std::string url = s.url("stream");
  const auto [rc, out] = shell("ffprobe -v error -f mpjpeg -i " + url +
                               " -read_intervals %+#30 -count_frames -select_streams v"
                               " -show_entries stream=codec_name,width,height,nb_read_frames -of compact=p=0");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("codec_name=mjpeg|width=320|height=240|nb_read_frames=30"), std::string::npos) << out;
  const auto [grc, gout] = shell("gst-launch-1.0 -q souphttpsrc location=" + url +
                                 " ! multipartdemux ! jpegdec ! video/x-raw,width=320,"
                                 "height=240 ! fakesink num-buffers=30 2>&1");
  EXPECT_EQ(grc, 0) << gout;
}

// A jpeg stream is passed through: the snapshot is the published payload, byte for byte; a
// quality or width asks for a re-encoding.
TEST(Web, JpegPassesThroughUnchanged) {
  StreamGuard cam("web-jpeg");
  shmframe::WriterOptions o;
  o.format = shmframe::FrameFormat{64, 48, shmframe::PixelFormat::jpeg, 0};
  shmframe::Writer w(cam.name(), o);
  std::vector<uchar> jpg;
  cv::imencode(".jpg", cv::Mat(48, 64, CV_8UC3, cv::Scalar(30, 160, 220)), jpg, {cv::IMWRITE_JPEG_QUALITY, 77});
  Web web;
  ASSERT_GT(web.port, 0) << web.app->errors();
  ASSERT_TRUE(listed(web.port, cam.name()));
  const Reply before = request(web.port, "/snapshot/" + cam.name());
  EXPECT_EQ(before.header("X-Seq"), "0") << "before the first frame: a placeholder";
  EXPECT_NE(before.header("X-Stream-State"), "live");
  const auto r = w.publish_payload(std::as_bytes(std::span(jpg.data(), jpg.size())), shmframe::monotonic_ns());
  ASSERT_TRUE(r);
  const Reply snap = live_snapshot(web.port, "/snapshot/" + cam.name());
  ASSERT_EQ(snap.status, 200);
  EXPECT_EQ(snap.header("X-Seq"), std::to_string(r.seq));
  EXPECT_EQ(snap.body, std::string(jpg.begin(), jpg.end())) << "the JPEG was re-encoded, not passed through";
  const Reply q = request(web.port, "/snapshot/" + cam.name() + "?quality=30");
  EXPECT_EQ(q.status, 200);
  EXPECT_NE(q.body, snap.body);
  EXPECT_FALSE(cv::imdecode(std::vector<uchar>(q.body.begin(), q.body.end()), cv::IMREAD_COLOR).empty());
}

// YUV is encoded from its planes: the picture is the documented test pattern of the frame it
// names (X-Seq), within JPEG's tolerance (35 dB, the pattern check of jpeg streams).
TEST(Web, YuvSnapshotsShowTheTestPattern) {
  for (const char* format : {"nv12", "i420", "yuyv", "uyvy", "bgr8", "gray8", "bayer_rggb8"}) {
    Served s(std::string("web-yuv-") + format,
             {"--fps", "30", "--width", "320", "--height", "240", "--format", format});
    ASSERT_TRUE(s.ready()) << s.web.app->errors();
    const Reply snap = live_snapshot(s.web.port, "/snapshot/" + s.cam.name() + "?quality=95");
    ASSERT_EQ(snap.status, 200) << format;
    const std::uint64_t seq = std::stoull(snap.header("X-Seq"));
    shmframe::app::Jpeg codec;
    const auto check = shmframe::app::check_jpeg_pattern(
        codec, seq, shmframe::FrameFormat{320, 240, shmframe::PixelFormat::bgr8, 0},
        reinterpret_cast<const std::byte*>(snap.body.data()), snap.body.size());
    // gray8 has no colour to compare, and a demosaiced Bayer picture is not the pattern to
    // 35 dB before any encoding (the window viewer's picture neither): their size is checked below.
    if (std::string(format) != "gray8" && std::string(format) != "bayer_rggb8") {
      EXPECT_TRUE(check.ok) << format << ": " << check.problem << " (" << check.psnr_db << " dB)";
    }
    const cv::Mat img = cv::imdecode(std::vector<uchar>(snap.body.begin(), snap.body.end()), cv::IMREAD_UNCHANGED);
    EXPECT_EQ(img.cols, 320) << format;
    EXPECT_EQ(img.rows, 240) << format;
  }
}

// While a stream has no producer its clients get a placeholder saying so; a new producer at
// another size is followed without a reload.
TEST(Web, PlaceholderThenTheRestartedProducerAtANewSize) {
  StreamGuard cam("web-restart");
  Web web;
  ASSERT_GT(web.port, 0) << web.app->errors();
  {
    App p({kProducer, "--name", cam.name(), "--fps", "30", "--width", "320", "--height", "240", "--frames", "30"});
    ASSERT_TRUE(listed(web.port, cam.name()));
    ASSERT_EQ(live_snapshot(web.port, "/snapshot/" + cam.name()).status, 200);
    ASSERT_EQ(p.proc->exit_code(20s), 0);
  }
  Reply closed;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    closed = request(web.port, "/snapshot/" + cam.name());
    if (closed.header("X-Stream-State").find("closed") != std::string::npos) break;
  }
  EXPECT_NE(closed.header("X-Stream-State").find("closed"), std::string::npos) << closed.header("X-Stream-State");
  EXPECT_EQ(closed.header("X-Seq"), "0");
  App p2({kProducer, "--name", cam.name(), "--fps", "30", "--width", "160", "--height", "120"});
  const Reply live = live_snapshot(web.port, "/snapshot/" + cam.name());
  ASSERT_EQ(live.status, 200);
  const cv::Mat img = cv::imdecode(std::vector<uchar>(live.body.begin(), live.body.end()), cv::IMREAD_COLOR);
  EXPECT_EQ(img.size(), cv::Size(160, 120));
  p2.proc->signal(SIGINT);
  EXPECT_EQ(p2.proc->exit_code(10s), 0);
}

// Every bad input gets a status and a message naming what to fix; never a crash or a hang.
TEST(Web, BadRequestsGetClearAnswers) {
  StreamGuard cam("web-bad");
  App producer({kProducer, "--name", cam.name(), "--fps", "30", "--width", "64", "--height", "48"});
  Web web({"--max-clients", "3", "--header-timeout-ms", "500"});
  ASSERT_GT(web.port, 0) << web.app->errors();
  ASSERT_TRUE(listed(web.port, cam.name()));
  struct Case {
    std::string target;
    int status;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"/stream/nosuchstream", 404, "/api/streams"},
      {"/snapshot/nosuchstream", 404, "/api/streams"},
      {"/api/streams/nosuchstream", 404, "/api/streams"},
      {"/stream/" + cam.name() + "?quality=0", 400, "'quality'"},
      {"/stream/" + cam.name() + "?quality=abc", 400, "'quality'"},
      {"/stream/" + cam.name() + "?width=99999999999", 400, "'width'"},
      {"/stream/" + cam.name() + "?fps=-1", 400, "'fps'"},
      {"/stream/" + cam.name() + "?colour=red", 400, "unknown parameter 'colour'"},
      {"/snapshot/" + cam.name() + "?format=gif", 400, "'format'"},
      {"/stream/..%2F..%2Fetc%2Fpasswd", 400, "bad stream name"},
      {"/stream/../../etc/passwd", 400, "bad stream name"},
      {"/../../etc/passwd", 404, "no page"},
      {"/nothing", 404, "/api/streams"},
  };
  for (const auto& c : cases) {
    const Reply r = request(web.port, c.target);
    EXPECT_EQ(r.status, c.status) << c.target << ": " << r.body;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.target << ": " << r.body;
  }
  EXPECT_EQ(request(web.port, "/api/streams", http::verb::post).status, 405);
  EXPECT_EQ(request(web.port, "/", http::verb::get, {{"X-Big", std::string(20000, 'a')}}).status, 431);

  // Slowloris: a connection that never finishes its header is closed after the header timeout.
  asio::io_context io;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(web.port));
  beast::tcp_stream slow(io);
  slow.connect(ep);
  asio::write(slow, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n")));
  slow.expires_after(10s);
  char c = 0;
  beast::error_code ec;
  slow.read_some(asio::buffer(&c, 1), ec);
  EXPECT_EQ(ec, asio::error::eof) << "the server did not close a half-sent request: " << ec.message();

  // --max-clients 3: three open connections, the fourth is answered 503.
  std::vector<std::unique_ptr<beast::tcp_stream>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<beast::tcp_stream>(io));
    open.back()->connect(ep);
  }
  const Reply full = request(web.port, "/healthz");  // the server has accepted the three before (one thread, in order)
  EXPECT_EQ(full.status, 503) << full.body;
  EXPECT_NE(full.body.find("--max-clients"), std::string::npos) << full.body;
  open.clear();
}

// Authentication: a non-loopback address without it is refused at start; with --auth-file, the
// pages need a user's password (hashed by --hash-password); /healthz does not.
TEST(Web, AuthenticationAndNonLoopbackBinding) {
  App refused({kWeb, "--bind", "0.0.0.0:0"});
  EXPECT_EQ(refused.proc->exit_code(10s), 2);
  EXPECT_NE(refused.errors().find("--auth-file"), std::string::npos);
  {  // --no-auth serves it, with a warning
    App open_bind({kWeb, "--bind", "0.0.0.0:0", "--no-auth"});
    bool warned = false, serving = false;
    while (!serving) {
      const auto l = open_bind.err->recv(10s);
      if (!l) break;
      warned = warned || l->find("WITHOUT authentication") != std::string::npos;
      serving = l->find("serving http://0.0.0.0:") != std::string::npos;
    }
    EXPECT_TRUE(warned && serving) << "--no-auth on 0.0.0.0: no warning, or not serving";
    open_bind.proc->signal(SIGINT);
    EXPECT_EQ(open_bind.proc->exit_code(10s), 0);
  }

  TempFile auth("auth");
  const auto [rc, hash] = shell("echo 's3cret pass' | " + kWeb + " --hash-password");
  ASSERT_EQ(rc, 0) << hash;
  ASSERT_EQ(hash.rfind("$y$", 0), 0u) << "not a yescrypt hash: " << hash;
  std::ofstream(auth.path) << "# users\nalice:" << hash;
  Web web({"--auth-file", auth.path});
  ASSERT_GT(web.port, 0) << web.app->errors();
  const Reply anon = request(web.port, "/api/streams");
  EXPECT_EQ(anon.status, 401);
  EXPECT_NE(anon.header("WWW-Authenticate").find("Basic"), std::string::npos);
  const auto basic = [](const std::string& user_pass) {
    std::string out(beast::detail::base64::encoded_size(user_pass.size()), '\0');
    out.resize(beast::detail::base64::encode(out.data(), user_pass.data(), user_pass.size()));
    return "Basic " + out;
  };
  EXPECT_EQ(request(web.port, "/api/streams", http::verb::get, {{"Authorization", basic("alice:s3cret pass")}}).status,
            200);
  EXPECT_EQ(request(web.port, "/api/streams", http::verb::get, {{"Authorization", basic("alice:wrong")}}).status, 401);
  EXPECT_EQ(request(web.port, "/api/streams", http::verb::get, {{"Authorization", basic("bob:s3cret pass")}}).status,
            401);
  EXPECT_EQ(request(web.port, "/healthz").status, 200);

  TempFile plain("plain");
  std::ofstream(plain.path) << "alice:secret\n";
  App bad({kWeb, "--bind", "127.0.0.1:0", "--auth-file", plain.path});
  EXPECT_EQ(bad.proc->exit_code(10s), 2);
  const std::string err = bad.errors();
  EXPECT_NE(err.find("line 1"), std::string::npos) << err;
  EXPECT_NE(err.find("--hash-password"), std::string::npos) << err;
}

namespace {

// Headless Chromium's screenshot of `url` (a real browser: HTML, JavaScript, MJPEG in <img>),
// after it ran for `ms`. Empty when Chromium fails.
cv::Mat screenshot(const std::string& url, const std::string& png, int ms = 3000) {
  ::unlink(png.c_str());
  const auto [rc, out] = shell(
      "HOME=/tmp chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars"
      " --window-size=800,600 --timeout=" +
      std::to_string(ms) + " --screenshot=" + png + " '" + url + "' >/dev/null 2>&1");
  if (rc != 0) return {};
  return cv::imread(png, cv::IMREAD_COLOR);
}

// The bounding box of the largest region that is not the pages' background (#111): the picture.
cv::Rect largest_picture(const cv::Mat& shot) {
  cv::Mat mask;
  cv::inRange(shot, cv::Scalar(14, 14, 14), cv::Scalar(20, 20, 20), mask);
  cv::bitwise_not(mask, mask);
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids);
  cv::Rect best;
  for (int i = 1; i < n; ++i) {
    const cv::Rect r(stats.at<int>(i, cv::CC_STAT_LEFT), stats.at<int>(i, cv::CC_STAT_TOP),
                     stats.at<int>(i, cv::CC_STAT_WIDTH), stats.at<int>(i, cv::CC_STAT_HEIGHT));
    if (r.area() > best.area()) best = r;
  }
  return best;
}

std::uint64_t web_last_seq(int port, const std::string& name) {
  const json j = json::parse(request(port, "/api/streams/" + name).body, nullptr, false);
  return j.is_discarded() ? 0 : j.value("last_seq", std::uint64_t{0});
}

}  // namespace

// A browser shows /view/NAME: the picture is the documented test pattern of one of the frames
// committed meanwhile (PSNR against the best of them), and the stats line changes between two
// screenshots.
TEST(Web, ChromiumShowsThePatternAndLiveStats) {
  Served s("web-chromium", {"--fps", "30", "--width", "320", "--height", "240"});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  const StreamGuard& cam = s.cam;
  const Web& web = s.web;
  TempFile png1("shot1.png"), png2("shot2.png");
  const std::string url = s.url("view");
  const std::uint64_t before = web_last_seq(web.port, cam.name());
  const cv::Mat shot1 = screenshot(url, png1.path);
  const std::uint64_t after = web_last_seq(web.port, cam.name());
  ASSERT_FALSE(shot1.empty()) << "headless Chromium made no screenshot";
  const cv::Rect pic = largest_picture(shot1);
  ASSERT_EQ(pic.size(), cv::Size(320, 240)) << "the picture is not on the page at its size";
  const shmframe::FrameFormat f{320, 240, shmframe::PixelFormat::bgr8, 0};
  cv::Mat expected(240, 320, CV_8UC3);
  double best = 0;
  for (std::uint64_t seq = before > 60 ? before - 60 : 1; seq <= after + 5; ++seq) {
    shmframe::fill_test_pattern(seq, f, reinterpret_cast<std::byte*>(expected.data), expected.step[0]);
    best = std::max(best, cv::PSNR(shot1(pic), expected));
  }
  EXPECT_GE(best, 30.0) << "the picture is not the test pattern of frames " << before << ".." << after;

  const cv::Mat shot2 = screenshot(url, png2.path);
  ASSERT_FALSE(shot2.empty());
  const cv::Rect stats(0, 0, shot1.cols, pic.y);  // the links and the stats line, above the picture
  EXPECT_GT(cv::norm(shot1(stats), shot2(stats), cv::NORM_L1), 0) << "the stats line did not change";
}

// 50 clients on /stream and one that stops reading (SIGSTOP): the others keep the source's
// rate, the producer's rate is unchanged, the server's memory stays bounded, and all recover
// once the stopped client is killed.
TEST(Web, FiftyClientsAndAStalledOne) {
  // Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) before it is
  // reused, which would read as growth: a small one keeps the RSS about the server's own memory.
  // Other builds ignore ASAN_OPTIONS.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_options = "ASAN_OPTIONS=" + std::string(asan != nullptr ? asan : "") +
                                   (asan != nullptr ? ":" : "") + "quarantine_size_mb=8";
  Served s("web-load", {"--fps", "30", "--width", "640", "--height", "480"}, {"--max-clients", "200"}, {asan_options});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  const int port = s.web.port;
  // The stalled client: a real curl, stopped once it has started.
  App stalled({"/usr/bin/curl", "-s", "-N", "-o", "/dev/null", s.url("stream")});
  const auto rss_kib = [&] {
    std::ifstream st("/proc/" + std::to_string(s.web.app->proc->pid()) + "/status");
    std::string line;
    while (std::getline(st, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0L;
  };
  MjpegClients clients(port, "/stream/" + s.cam.name(), 50);
  clients.run_for(1s);  // warm up
  stalled.proc->signal(SIGSTOP);
  const long rss0 = rss_kib();
  const auto seq0 = web_last_seq(port, s.cam.name());
  const auto c0 = clients.counts();
  const auto t0 = std::chrono::steady_clock::now();
  clients.run_for(4s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto c1 = clients.counts();
  const double source_fps = static_cast<double>(web_last_seq(port, s.cam.name()) - seq0) / secs;
  EXPECT_GT(source_fps, 30 * 0.9) << "the producer slowed down";
  for (std::size_t i = 0; i < clients.size(); ++i) {
    EXPECT_GE(static_cast<double>(c1[i] - c0[i]) / secs, 0.95 * source_fps) << "client " << i;
  }
  EXPECT_LT(rss_kib() - rss0, 64 * 1024) << "the server's memory grew with a stalled client";
  stalled.proc->kill_and_reap();
  clients.run_for(1s);
  const auto c2 = clients.counts();
  clients.run_for(2s);
  const auto c3 = clients.counts();
  for (std::size_t i = 0; i < clients.size(); ++i) EXPECT_GT(c3[i], c2[i]) << "client " << i << " stopped";
  const Reply m = request(port, "/metrics");
  EXPECT_NE(m.body.find("shmframe_web_clients 51"), std::string::npos) << "the killed client's connection stayed";
}

// A producer SIGKILLed under 10 stream clients: they get the "producer lost" placeholder, then,
// from its successor at another size, the new picture, without reconnecting.
TEST(Web, ProducerKilledAndRestartedAtANewSizeUnderTenClients) {
  Served s("web-kill", {"--fps", "30", "--width", "320", "--height", "240"});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  MjpegClients clients(s.web.port, "/stream/" + s.cam.name(), 10);
  const auto size_of = [](const MjpegClients::Client& c) {
    const cv::Mat img = cv::imdecode(std::vector<uchar>(c.last_body.begin(), c.last_body.end()), cv::IMREAD_COLOR);
    return img.size();
  };
  ASSERT_TRUE(clients.run_until([](const auto& c) { return c.last_state == "live"; }, 10s));
  s.producer.proc->kill_and_reap(SIGKILL);
  EXPECT_TRUE(clients.run_until([](const auto& c) { return c.last_state.find("lost") != std::string::npos; }, 10s))
      << "no client got the producer-lost placeholder";
  App successor({kProducer, "--name", s.cam.name(), "--fps", "30", "--width", "160", "--height", "120"});
  EXPECT_TRUE(
      clients.run_until([&](const auto& c) { return c.last_state == "live" && size_of(c) == cv::Size(160, 120); }, 15s))
      << "the clients did not follow the new producer";
  successor.proc->signal(SIGINT);
  EXPECT_EQ(successor.proc->exit_code(10s), 0);
}

// The index follows producers without a reload: a page that loaded while one stream existed
// shows a card (the #222 boxes of the page) for every stream, including one that started after
// its first /api/streams. Chromium takes its screenshot at the page's load event or at --timeout:
// the index is shown in an iframe of a page that also holds an <img> from a socket of ours that
// never answers, so the load event never comes and the screenshot is the index after 5 s.
TEST(Web, IndexShowsAStreamThatStartsWhileItIsOpen) {
  Served s("web-index-a", {"--fps", "30", "--width", "160", "--height", "120"}, {"-v"});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  StreamGuard second("web-index-b");
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  TempFile png("index.png"), page("index.html");
  std::ofstream(page.path) << "<html><body style=\"margin:0;background:#111\"><iframe src=\"http://127.0.0.1:"
                           << s.web.port << "/\" width=\"1600\" height=\"1390\" style=\"border:0\"></iframe>"
                           << "<img src=\"http://127.0.0.1:" << silent.local_endpoint().port()
                           << "/never\" width=\"1\" height=\"1\"></body></html>";
  App chromium({"/bin/sh", "-c",
                "HOME=/tmp chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1600,1400"
                " --timeout=5000 --screenshot=" +
                    png.path + " 'file://" + page.path + "' >/dev/null 2>&1"});
  // The page's first listing (the server's debug log), then the second producer.
  bool listed_once = false;
  while (!listed_once) {
    const auto l = s.web.app->err->recv(20s);
    if (!l) break;
    listed_once = l->find("/api/streams -> 200") != std::string::npos;
  }
  ASSERT_TRUE(listed_once) << "Chromium did not load the index";
  App producer2({kProducer, "--name", second.name(), "--fps", "30", "--width", "160", "--height", "120"});
  ASSERT_TRUE(listed(s.web.port, second.name()));
  ASSERT_EQ(chromium.proc->exit_code(60s), 0);
  const json streams = json::parse(request(s.web.port, "/api/streams").body);
  const cv::Mat shot = cv::imread(png.path, cv::IMREAD_COLOR);
  ASSERT_FALSE(shot.empty()) << "headless Chromium made no screenshot";
  cv::Mat card;
  cv::inRange(shot, cv::Scalar(34, 34, 34), cv::Scalar(34, 34, 34), card);
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(card, labels, stats, centroids);
  int cards = 0;
  for (int i = 1; i < n; ++i) cards += stats.at<int>(i, cv::CC_STAT_WIDTH) >= 300 ? 1 : 0;
  EXPECT_EQ(cards, std::min<int>(16, static_cast<int>(streams.size())))
      << "the page does not show every stream, or missed the one that started after it loaded";
}

// A stream nobody watches costs the server one copy a second, not one a frame; a client that
// comes back gets a picture at once, and every frame again.
TEST(Web, AnUnwatchedStreamIsNotCopiedEveryFrame) {
  Served s("web-idle", {"--fps", "30", "--width", "320", "--height", "240"});
  ASSERT_TRUE(s.ready()) << s.web.app->errors();
  const auto web_counts = [&] {
    const json j = json::parse(request(s.web.port, "/api/streams/" + s.cam.name()).body);
    return std::make_pair(j["web"]["frames"].get<std::uint64_t>(), j["web"]["last_seq"].get<std::uint64_t>());
  };
  const auto [copies0, seq0] = web_counts();
  std::this_thread::sleep_for(2s);  // a measurement window (no client), not a synchronisation
  const auto [copies1, seq1] = web_counts();
  EXPECT_GE(seq1 - seq0, 45u) << "the stream did not run";
  EXPECT_LE(copies1 - copies0, 4u) << "an unwatched stream was copied " << copies1 - copies0 << " times for "
                                   << seq1 - seq0 << " frames";
  MjpegClients client(s.web.port, "/stream/" + s.cam.name(), 1);
  ASSERT_TRUE(client.run_until([](const auto& c) { return c.parts >= 30; }, 10s))
      << "a returning client got " << client.counts()[0] << " parts";
}
