// viewer/web/server.hpp: shmframe-web's HTTP server (Boost.Beast over Boost.Asio, one thread
// for every connection: a slow client costs a socket and at most one picture, never a thread).
//
// Routes: / (index), /view/NAME, /stream/NAME (multipart MJPEG), /snapshot/NAME, /api/streams,
// /api/streams/NAME, /metrics (Prometheus text), /healthz. A stream gets a Hub (reader + encoder
// threads) on its first request and keeps it while the server runs.
//
// Thread contract: run() on one thread (the io_context's); stop() from any thread or a signal
// handler's thread of control (it posts to the io_context).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>
#include <shmframe/reader.hpp>

#include "auth.hpp"
#include "hub.hpp"

namespace shmframe::web {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t max_clients = 100;                      // open connections; beyond: 503
  std::size_t header_limit = 8192;                    // request header bytes; beyond: 431
  std::chrono::milliseconds header_timeout{10'000};   // a whole request header within this (slowloris)
  std::chrono::milliseconds idle_timeout{30'000};     // a kept-alive connection with no request
  std::chrono::milliseconds write_timeout{30'000};    // a client that takes no bytes this long is closed
  std::chrono::milliseconds snapshot_timeout{2'000};  // waiting for a live picture (then the placeholder)
  std::optional<Auth> auth;                           // none: no authentication (loopback or --no-auth)
  ReaderOptions reader;                               // read-only by default (main.cpp)
};

class Session;

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  ~Server();
  // Binds and listens; throws std::runtime_error naming the address and the fix.
  void listen();
  // The bound port (the one asked for, or the kernel's choice for port 0).
  std::uint16_t port() const { return port_; }
  // Closes the listener and every connection and stops every stream's threads; the
  // io_context's run() then returns, with no handler left that refers to the server.
  void stop();

  // Statistics (/metrics).
  struct Counters {
    std::atomic<std::uint64_t> clients{0};
    std::atomic<std::uint64_t> bytes_sent{0};
    std::atomic<std::uint64_t> frames_sent{0};
    std::atomic<std::uint64_t> frames_skipped{0};  // newer pictures replaced one a slow client had not taken
    std::atomic<std::uint64_t> refused{0};         // connections answered 503 (--max-clients)
    std::atomic<std::uint64_t> requests{0};
  };
  Counters& counters() { return counters_; }

 private:
  friend class Session;
  void accept();
  // The stream's hub (made on first use); null when no such stream exists on this host.
  Hub* hub(const std::string& name);
  // Streaming sessions of (stream, variant): each new picture is offered to them.
  void watch(const std::string& stream, const Variant& v, const std::shared_ptr<Session>& s);
  void deliver(const std::string& stream, const Variant& v, const std::shared_ptr<const Picture>& p);
  std::string metrics();
  std::string api_stream(const std::string& name);
  std::string api_streams();
  // A stream's --list object, with "web" (this server's view of it) when it has a hub.
  nlohmann::ordered_json stream_entry(const std::string& name, std::uint64_t now) const;

  boost::asio::io_context& io_;
  ServerOptions opt_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  Counters counters_;
  std::map<std::string, std::unique_ptr<Hub>> hubs_;                                         // io thread only
  std::map<std::pair<std::string, Variant>, std::vector<std::weak_ptr<Session>>> watchers_;  // io thread only
  std::vector<std::weak_ptr<Session>> sessions_;                                             // io thread only
  bool stopped_ = false;
};

}  // namespace shmframe::web
