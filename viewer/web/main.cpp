// viewer/web/main.cpp: shmframe-web, every stream on this host in a browser (server.hpp).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <iostream>
#include <shmframe/inspect.hpp>

#include "app.hpp"
#include "server.hpp"

namespace {

constexpr int kUsageError = 2;
constexpr int kFailed = 1;

bool is_loopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" || address == "localhost";
}

// "ADDR:PORT", "[V6]:PORT" or ":PORT" (loopback).
void parse_bind(const std::string& text, shmframe::web::ServerOptions& o) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos)
    throw CLI::ValidationError("--bind", "'" + text + "' is not ADDR:PORT (e.g. 127.0.0.1:8080)");
  std::string addr = text.substr(0, colon);
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  if (addr.empty()) addr = "127.0.0.1";
  if (addr == "localhost") addr = "127.0.0.1";
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    throw CLI::ValidationError("--bind", "port '" + port + "' is not a number from 0 to 65535");
  }
  o.address = addr;
  o.port = static_cast<std::uint16_t>(std::stoul(port));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "shmframe-web: every shmframe stream on this host in a browser: an index with live thumbnails, a page per\n"
      "stream with its statistics, MJPEG (/stream/NAME), snapshots, JSON (/api/streams) and Prometheus metrics\n"
      "(/metrics). JPEG streams are passed through; YUV is encoded from its planes; each frame is encoded once\n"
      "per quality and width in use, whatever the number of clients.\n"
      "Examples: shmframe-web                       # http://127.0.0.1:8080/\n"
      "          shmframe-web --bind 0.0.0.0:8080 --auth-file /etc/shmframe/web.auth"};
  shmframe::web::ServerOptions opt;
  opt.reader.access = shmframe::Access::read_only;  // a web server must not be able to disturb a stream
  std::string bind = "127.0.0.1:8080";
  std::string auth_file;
  bool no_auth = false;
  bool hash = false;
  bool verbose = false;
  cli.add_option("--bind", bind, "ADDR:PORT to listen on; a non-loopback address needs --auth-file or --no-auth")
      ->capture_default_str();
  cli.add_option("--auth-file", auth_file,
                 "HTTP basic authentication: a file of user:hash lines (crypt(3) yescrypt/SHA-512 hashes; make "
                 "one with --hash-password)")
      ->check(CLI::ExistingFile);
  cli.add_flag("--no-auth", no_auth, "Serve a non-loopback address without authentication (prints a warning)");
  cli.add_option("--max-clients", opt.max_clients, "Open connections at most; more are answered 503")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  int header_timeout_ms = static_cast<int>(opt.header_timeout.count());
  cli.add_option("--header-timeout-ms", header_timeout_ms,
                 "A client must send its whole request header within this (slow clients that never finish are closed)")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  cli.add_flag("--hash-password", hash,
               "Read a password from stdin and print its salted hash for --auth-file (as user:HASH with your user)");
  shmframe::app::add_access_option(cli, opt.reader.access);
  shmframe::app::add_expect_owner_option(cli, opt.reader.expect_owner);
  cli.add_flag("-v,--verbose", verbose, "Debug logging");
  try {
    cli.parse(argc, argv);
    parse_bind(bind, opt);
    opt.header_timeout = std::chrono::milliseconds(header_timeout_ms);
    if (!auth_file.empty() && no_auth)
      throw CLI::ValidationError("--no-auth", "give --auth-file or --no-auth, not both");
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return kUsageError;
  }
  if (hash) {
    std::string password;
    if (::isatty(0) != 0) std::cerr << "password: " << std::flush;
    std::getline(std::cin, password);
    if (password.empty()) {
      std::cerr << "shmframe-web: an empty password; give one on stdin\n";
      return kUsageError;
    }
    std::cout << shmframe::web::hash_password(password) << "\n";
    return 0;
  }
  shmframe::app::setup_logging("web", verbose);
  try {
    if (!auth_file.empty()) opt.auth = shmframe::web::Auth::load(auth_file);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kUsageError;
  }
  if (!is_loopback(opt.address) && !opt.auth) {
    if (!no_auth) {
      spdlog::error(
          "--bind {}:{} serves every stream to the network: give --auth-file FILE (users with hashed "
          "passwords; make a hash with --hash-password) or, knowingly, --no-auth",
          opt.address, opt.port);
      return kUsageError;
    }
    spdlog::warn("serving {}:{} WITHOUT authentication: anyone who can reach it sees every stream", opt.address,
                 opt.port);
  }
  shmframe::app::install_signal_handlers();

  boost::asio::io_context io(1);
  shmframe::web::Server server(io, opt);
  try {
    server.listen();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kFailed;
  }
  const std::string host = opt.address.find(':') != std::string::npos ? "[" + opt.address + "]" : opt.address;
  spdlog::info("serving http://{}:{}/ ({} stream(s) now; {}{})", host, server.port(), shmframe::list_streams().size(),
               opt.auth ? "basic authentication" : "no authentication",
               opt.reader.access == shmframe::Access::read_only ? ", read-only" : "");
  // Ctrl-C / SIGTERM: the handler writes the app's eventfd; the server stops from the io thread.
  boost::asio::posix::stream_descriptor stop_fd(io, ::dup(shmframe::app::g_stop_fd));
  std::uint64_t stop_value = 0;
  stop_fd.async_read_some(boost::asio::buffer(&stop_value, sizeof stop_value), [&](auto, std::size_t) {
    spdlog::info("stopping");
    server.stop();
  });
  io.run();
  return 0;
}
