// Listener: the accept loop. Every accepted socket gets its own strand and an
// HttpSession.
#ifndef CHATSUITE_GATEWAY_LISTENER_H_
#define CHATSUITE_GATEWAY_LISTENER_H_

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <memory>

#include "absl/status/status.h"

namespace chat::gateway {

class Gateway;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(Gateway* gateway, boost::asio::ip::tcp::endpoint endpoint);

  // Open binds and listens. kUnavailable when the address is taken.
  absl::Status Open();
  // Run starts accepting; Close stops. Thread-safe.
  void Run();
  void Close();
  int port() const;

 private:
  void DoAccept();
  void OnAccept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  Gateway* gateway_;
  boost::asio::ip::tcp::endpoint endpoint_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_LISTENER_H_
