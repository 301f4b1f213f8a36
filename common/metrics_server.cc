#include "common/metrics_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/config.h"

namespace chat::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Connection serves one scraper's requests, one at a time.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, MetricsServer::Render render)
      : stream_(std::move(socket)), render_(std::move(render)) {}

  void DoRead() {
    parser_.emplace();
    parser_->header_limit(8192);
    parser_->body_limit(0);
    stream_.expires_after(std::chrono::seconds(10));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::OnRead, shared_from_this()));
  }

 private:
  void OnRead(beast::error_code ec, size_t) {
    if (ec) return;  // Closed, timed out or malformed: the socket just ends.
    const auto& req = parser_->get();
    res_ = {};
    res_.version(req.version());
    res_.keep_alive(req.keep_alive());
    res_.set(http::field::content_type, "text/plain; charset=utf-8");
    const beast::string_view target = req.target();
    const beast::string_view path = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res_.result(http::status::method_not_allowed);
      res_.set(http::field::allow, "GET, HEAD");
      res_.body() = "method not allowed\n";
    } else if (path == "/metrics") {
      res_.result(http::status::ok);
      res_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res_.body() = render_();
    } else if (path == "/healthz") {
      res_.result(http::status::ok);
      res_.body() = "ok\n";
    } else {
      res_.result(http::status::not_found);
      res_.body() = "not found: this port serves /metrics and /healthz\n";
    }
    res_.prepare_payload();
    if (req.method() == http::verb::head) res_.body().clear();
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Connection::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec || !res_.keep_alive()) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    DoRead();
  }

  beast::tcp_stream stream_;
  MetricsServer::Render render_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> res_;
};

}  // namespace

MetricsServer::MetricsServer(asio::any_io_executor executor, Render render)
    : executor_(executor), render_(std::move(render)), acceptor_(executor) {}

absl::Status MetricsServer::Listen(const std::string& listen) {
  absl::StatusOr<HostPort> hp = ParseHostPort(listen, /*allow_port_zero=*/true);
  if (!hp.ok()) return absl::InvalidArgumentError(absl::StrCat("metrics: ", hp.status().message()));
  std::string host = hp->host;
  const int port = hp->port;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError("metrics: not an IP address: '" + host + "'");
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  if (acceptor_.open(endpoint.protocol(), ec); !ec) {
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    acceptor_.bind(endpoint, ec);
  }
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError("metrics: cannot listen on " + listen + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  DoAccept();
  return absl::OkStatus();
}

void MetricsServer::DoAccept() {
  acceptor_.async_accept(
      asio::make_strand(executor_),
      [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
          // Out of descriptors, most likely: wait instead of spinning.
          spdlog::warn("event=metrics_accept_failed error=\"{}\"", ec.message());
          auto timer = std::make_shared<asio::steady_timer>(self->executor_);
          timer->expires_after(std::chrono::milliseconds(100));
          timer->async_wait([self, timer](beast::error_code) { self->DoAccept(); });
          return;
        }
        std::make_shared<Connection>(std::move(socket), self->render_)->DoRead();
        self->DoAccept();
      });
}

void MetricsServer::Stop() {
  asio::post(executor_, [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

}  // namespace chat::metrics
