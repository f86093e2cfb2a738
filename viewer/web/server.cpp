#include "server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <nlohmann/json.hpp>
#include <shmframe/clock.hpp>
#include <shmframe/format.hpp>
#include <shmframe/inspect.hpp>
#include <shmframe/names.hpp>
#include <sstream>

#include "app.hpp"
#include "pages.hpp"
#include "render.hpp"

namespace shmframe::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kBoundary = "shmframe";
// A snapshot answers with a frame captured at most this long ago, if one comes before its timeout.
constexpr std::uint64_t kFreshNs = 250'000'000;

struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};

Target parse_target(std::string_view t) {
  Target out;
  const std::size_t q = t.find('?');
  out.path = std::string(t.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    const std::size_t eq = kv.find('=');
    if (!kv.empty()) out.query[std::string(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

// An integer query value in [lo, hi]; the error names the parameter and the range.
std::optional<int> int_param(const Target& t, const std::string& key, int lo, int hi, std::string& error) {
  const auto it = t.query.find(key);
  if (it == t.query.end()) return std::nullopt;
  int v = 0;
  const auto* b = it->second.data();
  const auto* e = b + it->second.size();
  const auto r = std::from_chars(b, e, v);
  if (r.ec != std::errc{} || r.ptr != e || v < lo || v > hi) {
    error = "bad value for '" + key + "': '" + it->second.substr(0, 32) + "' (an integer from " + std::to_string(lo) +
            " to " + std::to_string(hi) + ")";
  }
  return v;
}

// Every query key must be one of `allowed` ("_" is always: a cache buster).
bool known_params(const Target& t, std::initializer_list<const char*> allowed, std::string& error) {
  for (const auto& [k, v] : t.query) {
    if (k == "_") continue;
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      error = "unknown parameter '" + k.substr(0, 32) + "'" + (list.empty() ? "" : " (this page takes " + list + ")");
      return false;
    }
  }
  return true;
}

std::string seconds_text(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llu.%06llu", static_cast<unsigned long long>(ns / 1'000'000'000ull),
                static_cast<unsigned long long>(ns % 1'000'000'000ull / 1000));
  return buf;
}

std::string label(const std::string& v) {  // Prometheus label value: escape \ " and newline
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size()))
    s.replace(i, from.size(), to);
  return s;
}

nlohmann::ordered_json web_json(const viewer::FeedStatus& st, std::uint64_t now) {
  return {{"state", state_text(st, now)}, {"fps", st.fps},
          {"frames", st.frames},          {"drops", st.drops},
          {"overruns", st.overruns},      {"undecodable", st.undecodable},
          {"last_seq", st.last_seq},      {"handoff_ms", st.handoff_ms},
          {"e2e_ms", st.e2e_ms}};
}

}  // namespace

// One connection: requests until it closes, or one /stream (then only pictures go out).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server& server) : stream_(std::move(socket)), srv_(server), timer_(srv_.io_) {
    srv_.counters_.clients.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    leave_stream();
    srv_.counters_.clients.fetch_sub(1, std::memory_order_relaxed);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read_request(); }

  // Refuses the connection (--max-clients) with a 503, then closes it.
  void refuse() {
    keep_alive_ = false;
    respond(http::status::service_unavailable, "too many clients (--max-clients): try again later\n", "text/plain",
            {{"Retry-After", "5"}});
  }

  // A new picture of the variant this session streams (or waits for, for a snapshot).
  void offer(const std::shared_ptr<const Picture>& p) {
    if (closed_) return;
    if (mode_ == Mode::snapshot) {
      finish_snapshot(p);
      return;
    }
    if (mode_ != Mode::stream || p == sending_) return;
    if (writing_ || Clock::now() < next_allowed_) {
      if (writing_ && pending_ != nullptr) srv_.counters_.frames_skipped.fetch_add(1, std::memory_order_relaxed);
      pending_ = p;
      if (!writing_) arm_rate_timer();
      return;
    }
    send_part(p);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    leave_stream();
  }

 private:
  enum class Mode { requests, stream, snapshot };
  using Headers = std::vector<std::pair<std::string, std::string>>;

  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_.opt_.header_limit));
    parser_->body_limit(0);
    // The whole header within the timeout (slowloris); an idle kept-alive connection the same.
    stream_.expires_after(first_request_ ? srv_.opt_.header_timeout : srv_.opt_.idle_timeout);
    first_request_ = false;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      respond(http::status::request_header_fields_too_large,
              "request header larger than " + std::to_string(srv_.opt_.header_limit) + " bytes\n", "text/plain");
      return;
    }
    if (ec == http::error::body_limit || ec == http::error::unexpected_body) {
      keep_alive_ = false;
      respond(http::status::payload_too_large, "requests take no body\n", "text/plain");
      return;
    }
    if (ec) {  // closed, timed out (slowloris, idle) or not HTTP
      if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::operation_aborted &&
          ec != asio::error::eof && ec != asio::error::connection_reset) {
        keep_alive_ = false;
        respond(http::status::bad_request, "not an HTTP request: " + ec.message() + "\n", "text/plain");
        return;
      }
      close();
      return;
    }
    srv_.counters_.requests.fetch_add(1, std::memory_order_relaxed);
    stream_.expires_never();
    handle(parser_->get());
  }

  void handle(const http::request<http::empty_body>& req) {
    keep_alive_ = req.keep_alive();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      respond(http::status::method_not_allowed, "only GET\n", "text/plain", {{"Allow", "GET, HEAD"}});
      return;
    }
    head_ = req.method() == http::verb::head;
    target_ = std::string(req.target().data(), std::min<std::size_t>(req.target().size(), 256));
    const Target t = parse_target(std::string_view(req.target().data(), req.target().size()));
    if (t.path == "/healthz") {
      respond(http::status::ok, "ok\n", "text/plain");
      return;
    }
    if (srv_.opt_.auth && !srv_.opt_.auth->check(std::string(req[http::field::authorization].data(),
                                                             req[http::field::authorization].size()))) {
      respond(http::status::unauthorized, "authentication required\n", "text/plain",
              {{"WWW-Authenticate", "Basic realm=\"shmframe\", charset=\"UTF-8\""}});
      return;
    }
    route(t);
  }

  void route(const Target& t) {
    std::string error;
    if (t.path == "/" || t.path == "/index.html") {
      if (known_params(t, {}, error)) respond(http::status::ok, kIndexPage, "text/html; charset=utf-8");
    } else if (t.path == "/metrics") {
      if (known_params(t, {}, error))
        respond(http::status::ok, srv_.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    } else if (t.path == "/api/streams") {
      if (known_params(t, {}, error)) respond(http::status::ok, srv_.api_streams(), "application/json");
    } else if (auto name = under(t.path, "/api/streams/")) {
      if (Hub* h = known_params(t, {}, error) ? stream_or_404(*name) : nullptr) {
        (void)h;
        respond(http::status::ok, srv_.api_stream(*name), "application/json");
      }
    } else if (auto vname = under(t.path, "/view/")) {
      if (known_params(t, {}, error) && stream_or_404(*vname) != nullptr) {
        respond(http::status::ok, replace_all(kViewPage, "%NAME%", *vname), "text/html; charset=utf-8");
      }
    } else if (auto sname = under(t.path, "/stream/")) {
      if (known_params(t, {"quality", "width", "fps"}, error)) start_stream(*sname, t, error);
    } else if (auto pname = under(t.path, "/snapshot/")) {
      if (known_params(t, {"quality", "width", "format"}, error)) start_snapshot(*pname, t, error);
    } else {
      respond(http::status::not_found,
              "no page " + t.path.substr(0, 64) +
                  ": the pages are /, /view/NAME, /stream/NAME, /snapshot/NAME, /api/streams, /metrics, /healthz\n",
              "text/plain");
      return;
    }
    if (!error.empty()) respond(http::status::bad_request, error + "\n", "text/plain");
  }

  // "/stream/NAME" -> NAME for `prefix` "/stream/".
  static std::optional<std::string> under(const std::string& path, const std::string& prefix) {
    if (path.size() <= prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    return path.substr(prefix.size());
  }

  // The stream's hub, or null after answering 400 (a bad name) or 404 (no such stream).
  Hub* stream_or_404(const std::string& name) {
    if (const auto why = check_stream_name(name)) {
      respond(http::status::bad_request, "bad stream name: " + *why + "\n", "text/plain");
      return nullptr;
    }
    Hub* h = srv_.hub(name);
    if (h == nullptr) {
      respond(http::status::not_found,
              "no stream '" + name + "' on this host: /api/streams lists the streams there are\n", "text/plain");
    }
    return h;
  }

  std::optional<Variant> variant(const Target& t, std::string& error) {
    Variant v;
    if (auto q = int_param(t, "quality", 1, 100, error)) v.quality = *q;
    if (auto w = int_param(t, "width", 16, 16384, error)) v.width = static_cast<std::uint32_t>(*w);
    if (auto f = t.query.find("format"); f != t.query.end()) {
      if (f->second == "png") {
        v = Variant{0, 0, true};
      } else if (f->second != "jpeg" && f->second != "jpg") {
        error = "bad value for 'format': '" + f->second.substr(0, 32) + "' (jpeg or png)";
      }
    }
    if (!error.empty()) return std::nullopt;
    return v;
  }

  void start_stream(const std::string& name, const Target& t, std::string& error) {
    const auto v = variant(t, error);
    const auto fps = int_param(t, "fps", 1, 1000, error);
    if (!v || !error.empty()) return;
    Hub* h = stream_or_404(name);
    if (h == nullptr) return;
    if (head_) {
      respond(http::status::ok, "", std::string("multipart/x-mixed-replace; boundary=") + kBoundary);
      return;
    }
    spdlog::debug("{} -> 200, streaming", target_);
    mode_ = Mode::stream;
    if (fps) min_interval_ = std::chrono::microseconds(1'000'000 / *fps);
    header_ = std::string("HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=") + kBoundary +
              "\r\nCache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n"
              "Connection: close\r\n\r\n";
    writing_ = true;
    stream_.expires_after(srv_.opt_.write_timeout);
    asio::async_write(stream_, asio::buffer(header_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_written(ec, n); });
    join_stream(h, *v);
    // Clients send nothing more: a read that completes means the client went away.
    stream_.socket().async_read_some(asio::buffer(&probe_, 1),
                                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                       spdlog::debug("{}: client gone ({})", self->target_, ec.message());
                                       self->close();
                                     });
  }

  void start_snapshot(const std::string& name, const Target& t, std::string& error) {
    const auto v = variant(t, error);
    if (!v || !error.empty()) return;
    Hub* h = stream_or_404(name);
    if (h == nullptr) return;
    auto now = h->latest(*v);
    if (now != nullptr && now->seq != 0 && monotonic_ns() - std::min(monotonic_ns(), now->capture_ns) <= kFreshNs) {
      send_picture(now);
      return;
    }
    // A live picture, waited for up to the snapshot timeout (a stream just opened is not
    // attached yet); then the placeholder saying why there is none, or 503 without one.
    mode_ = Mode::snapshot;
    pending_ = std::move(now);
    join_stream(h, *v);
    timer_.expires_after(srv_.opt_.snapshot_timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->mode_ != Mode::snapshot) return;
      if (self->pending_ != nullptr) {
        self->finish_snapshot(std::exchange(self->pending_, nullptr), true);
        return;
      }
      self->mode_ = Mode::requests;
      self->leave_stream();
      self->respond(http::status::service_unavailable, "no picture of the stream came in time\n", "text/plain");
    });
  }

  void finish_snapshot(const std::shared_ptr<const Picture>& p, bool timed_out = false) {
    // A placeholder, or a frame older than kFreshNs (the one a stream nobody watched kept): the
    // fallback while waiting for a new frame, answered only at the timeout.
    const std::uint64_t now = monotonic_ns();
    const bool old = p->seq != 0 && now > p->capture_ns && now - p->capture_ns > kFreshNs;
    if ((p->seq == 0 || old) && !timed_out) {
      pending_ = p;
      return;
    }
    pending_ = nullptr;
    mode_ = Mode::requests;
    timer_.cancel();
    leave_stream();
    send_picture(p);
  }

  void send_picture(const std::shared_ptr<const Picture>& p) {
    respond(http::status::ok, std::string(p->bytes.begin(), p->bytes.end()), p->content_type(),
            {{"X-Timestamp", seconds_text(p->wall_ns)},
             {"X-Seq", std::to_string(p->seq)},
             {"X-Stream-State", p->state},
             {"Cache-Control", "no-cache"}});
  }

  void join_stream(Hub* h, const Variant& v) {
    hub_ = h;
    variant_ = v;
    srv_.watch(h->name(), v, shared_from_this());
    h->subscribe(v);
  }
  void leave_stream() {
    if (hub_ != nullptr) hub_->unsubscribe(variant_);
    hub_ = nullptr;
  }

  void send_part(const std::shared_ptr<const Picture>& p) {
    writing_ = true;
    sending_ = p;
    part_ = std::string("--") + kBoundary + "\r\nContent-Type: " + p->content_type() +
            "\r\nContent-Length: " + std::to_string(p->bytes.size()) + "\r\nX-Timestamp: " + seconds_text(p->wall_ns) +
            "\r\nX-Seq: " + std::to_string(p->seq) + "\r\nX-Stream-State: " + p->state + "\r\n\r\n";
    const std::array<asio::const_buffer, 3> bufs{asio::buffer(part_), asio::buffer(p->bytes), asio::buffer("\r\n", 2)};
    stream_.expires_after(srv_.opt_.write_timeout);
    asio::async_write(stream_, bufs, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->srv_.counters_.frames_sent.fetch_add(1, std::memory_order_relaxed);
      self->on_written(ec, n);
    });
  }

  void on_written(beast::error_code ec, std::size_t n) {
    writing_ = false;
    srv_.counters_.bytes_sent.fetch_add(n, std::memory_order_relaxed);
    if (ec || closed_) {
      close();
      return;
    }
    stream_.expires_never();
    next_allowed_ = Clock::now() + min_interval_;
    if (pending_ != nullptr) offer(std::exchange(pending_, nullptr));
  }

  void arm_rate_timer() {
    if (rate_timer_armed_) return;
    rate_timer_armed_ = true;
    timer_.expires_at(next_allowed_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      self->rate_timer_armed_ = false;
      if (!ec && self->pending_ != nullptr && !self->writing_) self->offer(std::exchange(self->pending_, nullptr));
    });
  }

  void respond(http::status status, std::string body, const std::string& type, const Headers& extra = {}) {
    spdlog::debug("{} -> {}", target_, static_cast<int>(status));
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "shmframe-web");
    res->set(http::field::content_type, type);
    for (const auto& [k, v] : extra) res->set(k, v);
    res->keep_alive(keep_alive_);
    const std::size_t size = body.size();
    if (!head_) res->body() = std::move(body);
    res->content_length(size);
    stream_.expires_after(srv_.opt_.write_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t n) {
      self->srv_.counters_.bytes_sent.fetch_add(n, std::memory_order_relaxed);
      if (ec || !self->keep_alive_ || self->closed_) {
        self->close();
        return;
      }
      if (self->mode_ == Mode::requests) self->read_request();
    });
  }

  beast::tcp_stream stream_;
  Server& srv_;
  asio::steady_timer timer_;  // snapshot timeout, or the --fps limit's next frame
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  Mode mode_ = Mode::requests;
  bool first_request_ = true, keep_alive_ = false, head_ = false, closed_ = false;
  bool writing_ = false, rate_timer_armed_ = false;
  Hub* hub_ = nullptr;
  Variant variant_;
  std::shared_ptr<const Picture> sending_, pending_;
  Clock::duration min_interval_{0};
  Clock::time_point next_allowed_{};
  std::string header_, part_;
  std::string target_;  // of the request being answered (debug log)
  char probe_ = 0;
};

Server::Server(asio::io_context& io, ServerOptions options) : io_(io), opt_(std::move(options)), acceptor_(io) {}

Server::~Server() { hubs_.clear(); }

void Server::listen() {
  beast::error_code ec;
  const auto addr = asio::ip::make_address(opt_.address, ec);
  if (ec) throw std::runtime_error("--bind: '" + opt_.address + "' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)");
  const tcp::endpoint ep(addr, opt_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + opt_.address + ":" + std::to_string(opt_.port) + ": " +
                             ec.message() +
                             (ec == asio::error::address_in_use  ? " (another server has the port: choose another "
                                                                   "with --bind ADDR:PORT)"
                              : ec == asio::error::access_denied ? " (ports below 1024 need root: use 8080)"
                                                                 : ""));
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
}

void Server::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    beast::error_code ec;
    acceptor_.close(ec);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) s->close();
    }
    sessions_.clear();
    watchers_.clear();
    // The hubs' threads end here: nothing posts any more, so run() returns once the closed
    // sessions' operations have completed (no handler outlives the server).
    hubs_.clear();
  });
}

void Server::accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      const bool full = counters_.clients.load(std::memory_order_relaxed) >= opt_.max_clients;
      auto s = std::make_shared<Session>(std::move(socket), *this);
      if (full) {
        counters_.refused.fetch_add(1, std::memory_order_relaxed);
        s->refuse();
      } else {
        std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
        sessions_.push_back(s);
        s->start();
      }
    }
    accept();
  });
}

Hub* Server::hub(const std::string& name) {
  if (auto it = hubs_.find(name); it != hubs_.end()) return it->second.get();
  const auto names = list_streams();
  if (std::find(names.begin(), names.end(), name) == names.end()) return nullptr;
  viewer::Display d;
  d.decode_compressed_and_yuv = false;  // encoded from the planes, or passed through
  auto h = std::make_unique<Hub>(name, opt_.reader, d,
                                 [this](const std::string& s, const Variant& v, std::shared_ptr<const Picture> p) {
                                   asio::post(io_, [this, s, v, p = std::move(p)] { deliver(s, v, p); });
                                 });
  Hub* raw = h.get();
  hubs_.emplace(name, std::move(h));
  return raw;
}

void Server::watch(const std::string& stream, const Variant& v, const std::shared_ptr<Session>& s) {
  auto& list = watchers_[{stream, v}];
  std::erase_if(list, [](const std::weak_ptr<Session>& w) { return w.expired(); });
  list.push_back(s);
}

void Server::deliver(const std::string& stream, const Variant& v, const std::shared_ptr<const Picture>& p) {
  auto it = watchers_.find({stream, v});
  if (it == watchers_.end()) return;
  auto list = it->second;  // offer() may add or remove watchers
  for (auto& w : list) {
    if (auto s = w.lock()) s->offer(p);
  }
  std::erase_if(it->second, [](const std::weak_ptr<Session>& w) { return w.expired(); });
}

std::string Server::api_streams() {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  const std::uint64_t now = monotonic_ns();
  for (const auto& n : list_streams()) out.push_back(stream_entry(n, now));
  return out.dump() + "\n";
}

nlohmann::ordered_json Server::stream_entry(const std::string& name, std::uint64_t now) const {
  nlohmann::ordered_json s = app::stream_json(name);
  if (auto it = hubs_.find(name); it != hubs_.end()) s["web"] = web_json(it->second->status(), now);
  return s;
}

std::string Server::api_stream(const std::string& name) { return stream_entry(name, monotonic_ns()).dump() + "\n"; }

std::string Server::metrics() {
  std::ostringstream m;
  auto family = [&m](const char* name, const char* type, const char* help) {
    m << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  struct Row {
    std::string name;
    std::optional<StreamStatus> st;
    const Hub* hub = nullptr;
  };
  std::vector<Row> rows;
  for (const auto& n : list_streams()) {
    Row r{n, std::nullopt, nullptr};
    try {
      r.st = inspect(n);
    } catch (const Error&) {  // unreadable (another user's, a foreign object): listed without numbers
    }
    if (auto it = hubs_.find(n); it != hubs_.end()) r.hub = it->second.get();
    rows.push_back(std::move(r));
  }
  auto per_stream = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (const auto& r : rows) {
      if (r.st) m << name << "{stream=\"" << label(r.name) << "\"} " << value(*r.st) << '\n';
    }
  };
  auto sum = [](const StreamStatus& s, auto field) {
    std::uint64_t total = 0;
    for (const auto& c : s.consumers) total += field(c);
    return total;
  };
  per_stream("shmframe_stream_commits_total", "counter", "Frames the producer committed in this generation.",
             [](const StreamStatus& s) { return s.info.last_seq; });
  per_stream("shmframe_stream_frames_total", "counter", "Frames the stream's consumers took.",
             [&](const StreamStatus& s) { return sum(s, [](const ConsumerInfo& c) { return c.frames; }); });
  per_stream("shmframe_stream_drops_total", "counter", "Frames the stream's consumers skipped.",
             [&](const StreamStatus& s) { return sum(s, [](const ConsumerInfo& c) { return c.drops; }); });
  per_stream("shmframe_stream_overruns_total", "counter", "Frames overwritten while a consumer read them.",
             [&](const StreamStatus& s) { return sum(s, [](const ConsumerInfo& c) { return c.overruns; }); });
  per_stream("shmframe_stream_consumers", "gauge", "Consumers attached to the stream.",
             [](const StreamStatus& s) { return s.consumers.size(); });
  per_stream("shmframe_stream_generation", "gauge", "The stream's generation (changes when a producer restarts).",
             [](const StreamStatus& s) { return s.info.generation; });
  per_stream("shmframe_stream_producer_alive", "gauge", "1 while the stream's producer process is alive.",
             [](const StreamStatus& s) { return s.producer_alive ? 1 : 0; });
  per_stream("shmframe_stream_heartbeat_age_seconds", "gauge", "Time since the producer's last heartbeat.",
             [](const StreamStatus& s) { return static_cast<double>(s.info.heartbeat_age_ns) / 1e9; });
  family("shmframe_stream_fps", "gauge", "Frames a second shmframe-web receives, over the last second.");
  for (const auto& r : rows) {
    if (r.hub != nullptr)
      m << "shmframe_stream_fps{stream=\"" << label(r.name) << "\"} " << r.hub->status().fps << '\n';
  }
  family("shmframe_stream_handoff_seconds", "histogram", "Commit to shmframe-web's reader taking the frame.");
  for (const auto& r : rows) {
    if (r.hub == nullptr) continue;
    const viewer::FeedStatus st = r.hub->status();
    const std::string l = "stream=\"" + label(r.name) + "\"";
    for (const double le : {1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1}) {
      m << "shmframe_stream_handoff_seconds_bucket{" << l << ",le=\"" << le << "\"} "
        << st.handoff.count_at_most(static_cast<std::uint64_t>(le * 1e9)) << '\n';
    }
    m << "shmframe_stream_handoff_seconds_bucket{" << l << ",le=\"+Inf\"} " << st.handoff.count() << '\n';
    m << "shmframe_stream_handoff_seconds_sum{" << l << "} " << static_cast<double>(st.handoff.sum_ns()) / 1e9 << '\n';
    m << "shmframe_stream_handoff_seconds_count{" << l << "} " << st.handoff.count() << '\n';
  }
  auto per_consumer = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (const auto& r : rows) {
      if (!r.st) continue;
      for (const auto& c : r.st->consumers) {
        m << name << "{stream=\"" << label(r.name) << "\",entry=\"" << c.entry << "\",pid=\"" << c.pid << "\"} "
          << value(c) << '\n';
      }
    }
  };
  per_consumer("shmframe_consumer_lag", "gauge", "Frames committed since the consumer's last one.",
               [](const ConsumerInfo& c) { return c.lag; });
  per_consumer("shmframe_consumer_drops_total", "counter", "Frames the consumer skipped.",
               [](const ConsumerInfo& c) { return c.drops; });
  const auto put = [&](const char* name, const char* type, const char* help, std::uint64_t v) {
    family(name, type, help);
    m << name << ' ' << v << '\n';
  };
  std::uint64_t encoded = 0;
  for (const auto& [n, h] : hubs_) encoded += h->frames_encoded();
  put("shmframe_web_clients", "gauge", "Open HTTP connections.", counters_.clients.load());
  put("shmframe_web_bytes_sent_total", "counter", "Bytes sent to clients.", counters_.bytes_sent.load());
  put("shmframe_web_frames_encoded_total", "counter", "Pictures encoded (once per frame and variant in use).", encoded);
  put("shmframe_web_frames_sent_total", "counter", "Pictures sent to stream clients.", counters_.frames_sent.load());
  put("shmframe_web_frames_skipped_total", "counter",
      "Pictures a slow client never got: a newer one replaced it while it was still taking the previous.",
      counters_.frames_skipped.load());
  put("shmframe_web_refused_total", "counter", "Connections refused with 503 (--max-clients).",
      counters_.refused.load());
  return m.str();
}

}  // namespace shmframe::web
