// ClientStream: the byte stream under one client connection, plain TCP or,
// when the gateway serves TLS, TLS over TCP. HttpSession and WebsocketSession
// hold one and visit it for each operation; everything above the stream is
// the same for both.
#ifndef CHATSUITE_GATEWAY_CLIENT_STREAM_H_
#define CHATSUITE_GATEWAY_CLIENT_STREAM_H_

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <variant>

namespace chat::gateway {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
using ClientStream = std::variant<PlainStream, TlsStream>;

// TcpOf: the TCP stream at the bottom (timeouts, the socket itself).
template <typename Variant>
boost::beast::tcp_stream& TcpOf(Variant& stream) {
  return std::visit(
      [](auto& s) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(s); },
      stream);
}

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_CLIENT_STREAM_H_
