#include "services/common/metrics_http.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/common/server_options.h"

namespace framepair {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr size_t kMaxBodyBytes = 1024;
constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// One client connection: read a request, answer, repeat while keep-alive. Owned by the
// pending asynchronous operation (shared_from_this); runs on the server's single thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MetricsRegistry* registry, std::chrono::milliseconds timeout,
          std::shared_ptr<std::atomic<int>> open)
      : stream_(std::move(socket)),
        buffer_(kMaxHeaderBytes + kMaxBodyBytes),
        registry_(registry),
        timeout_(timeout),
        open_(std::move(open)) {
    ++*open_;
  }
  ~Session() { --*open_; }

  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(timeout_);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    // Closed by the client, timed out or malformed: nothing useful to answer.
    if (ec) return Close();
    const http::request<http::string_body>& request = parser_->get();
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));  // Prometheus may add query parameters.

    response_ = {};
    response_.version(request.version());
    response_.keep_alive(request.keep_alive());
    response_.set(http::field::server, "framepair");
    if (target != "/metrics") {
      response_.result(http::status::not_found);
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "not found; metrics are at /metrics\n";
    } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "use GET\n";
    } else {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, kContentType);
      response_.body() = registry_->RenderPrometheusText();
    }
    response_.prepare_payload();
    if (request.method() == http::verb::head) response_.body().clear();

    stream_.expires_after(timeout_);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code write_ec, size_t) {
                        if (write_ec || !self->response_.keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  const MetricsRegistry* registry_;
  const std::chrono::milliseconds timeout_;
  const std::shared_ptr<std::atomic<int>> open_;  // sessions alive (the server's count)
};

}  // namespace

struct MetricsHttpServer::Impl {
  Impl(const MetricsRegistry* r, MetricsHttpOptions o) : registry(r), options(o) {}

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        if (*open >= options.max_connections) {
          // Over the cap: closed unanswered (the sessions run on this thread, so the count
          // is exact here).
          beast::error_code ignored;
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.close(ignored);
        } else {
          std::make_shared<Session>(std::move(socket), registry, options.io_timeout, open)->Read();
        }
        return Accept();
      }
      // Other accept errors (e.g. out of file descriptors) are usually transient; retry a
      // little later rather than spinning.
      retry_timer.expires_after(std::chrono::milliseconds(100));
      retry_timer.async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec) Accept();
      });
    });
  }

  const MetricsRegistry* registry;
  const MetricsHttpOptions options;
  std::shared_ptr<std::atomic<int>> open = std::make_shared<std::atomic<int>>(0);
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer retry_timer{io};
  std::thread thread;
  int port = 0;
  bool started = false;
  bool stopped = false;
};

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry, MetricsHttpOptions options)
    : impl_(std::make_unique<Impl>(registry, options)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::Status MetricsHttpServer::Start(std::string_view listen) {
  if (impl_->started) return absl::FailedPreconditionError("metrics server already started");
  absl::StatusOr<HostPort> address = ParseHostPort(listen);
  if (!address.ok()) return address.status();

  beast::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto endpoints = resolver.resolve(address->host, std::to_string(address->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("metrics: cannot resolve '", address->host,
                                                   "': ", ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", std::string(listen),
                                               ": ", ec.message(),
                                               " (is another process using the port?)"));
  }
  impl_->port = acceptor.local_endpoint().port();
  impl_->started = true;
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
  return absl::OkStatus();
}

int MetricsHttpServer::port() const { return impl_->port; }

int MetricsHttpServer::connections() const { return impl_->open->load(); }

void MetricsHttpServer::Stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  // Stopping the io_context abandons pending reads; their sessions are freed when the
  // io_context is destroyed with Impl.
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  impl_->thread.join();
}

}  // namespace framepair
