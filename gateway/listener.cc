#include "gateway/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "gateway/gateway.h"
#include "gateway/http_session.h"

namespace chat::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(Gateway* gateway, tcp::endpoint endpoint)
    : gateway_(gateway),
      endpoint_(endpoint),
      acceptor_(net::make_strand(gateway->io_context())),
      retry_timer_(acceptor_.get_executor()) {}

absl::Status Listener::Open() {
  boost::beast::error_code ec;
  acceptor_.open(endpoint_.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint_, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError("cannot listen: " + ec.message());
  return absl::OkStatus();
}

int Listener::port() const { return acceptor_.local_endpoint().port(); }

void Listener::Run() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->DoAccept(); });
}

void Listener::Close() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::beast::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void Listener::DoAccept() {
  acceptor_.async_accept(net::make_strand(gateway_->io_context()),
                         boost::beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Listener::OnAccept(boost::beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Typically EMFILE: count it, and retry after a pause instead of spinning.
    gateway_->metrics().accept_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=accept_failed error=\"{}\"", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this()](boost::beast::error_code ec) {
      if (!ec) self->DoAccept();
    });
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::make_shared<HttpSession>(std::move(socket), gateway_, gateway_->tls_context())->Run();
  DoAccept();
}

}  // namespace chat::gateway
