// HttpSession: reads HTTP requests on one connection and answers them
// (health, readiness, metrics, the development login, the web client), or
// hands the socket to a WebsocketSession on an upgrade to /ws,
// /ws/chat/<server>/<channel>/ or /ws/personal/<user>/.
//
// Limits, each answered before the connection closes: a request whose
// headers exceed kMaxRequestHeaderBytes gets 431, a body over
// kMaxRequestBodyBytes 413, a chunked body 411, a request that does not
// parse 400, and a
// connection from an address over --max_connections_per_address 429 (every
// accepted connection counts, upgraded or not). A request not complete
// within --http_request_timeout_s (slowloris) is closed without a reply.
//
// With TLS on, the connection's first bytes decide: a TLS handshake (which
// must also finish within --http_request_timeout_s) or plain HTTP, which gets
// 400 ("this port speaks TLS") and is closed.
#ifndef CHATSUITE_GATEWAY_HTTP_SESSION_H_
#define CHATSUITE_GATEWAY_HTTP_SESSION_H_

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "gateway/client_stream.h"
#include "gateway/session_limits.h"

namespace chat::gateway {

class Gateway;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // tls: the context to handshake with; null serves plaintext.
  HttpSession(boost::asio::ip::tcp::socket&& socket, Gateway* gateway,
              std::shared_ptr<boost::asio::ssl::context> tls);
  void Run();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void OnDetect(boost::beast::error_code ec, bool tls);
  void OnHandshake(boost::beast::error_code ec, size_t used);
  void DoRead();
  void OnHeader(boost::beast::error_code ec, size_t bytes);
  void OnRead(boost::beast::error_code ec, size_t bytes);
  // Refuse answers a read error with its documented status, or lets the
  // connection end when there is none (a timeout, a reset).
  void Refuse(boost::beast::error_code ec);
  void Handle(Request req);
  void HandleUpgrade(Request req);
  void HandleDevLogin(Request req);
  void Reply(const Request& req, boost::beast::http::status status, std::string body,
             const std::string& content_type);
  void DoWrite(std::shared_ptr<Response> res);
  void DoClose();
  void Discard();
  // RefuseAndClose answers a request that cannot be served and closes.
  void RefuseAndClose(boost::beast::http::status status, std::string body);

  std::shared_ptr<boost::asio::ssl::context> tls_;  // Outlives the stream that uses it.
  ClientStream stream_;
  bool handshook_ = false;  // A TLS session is up: it ends with a TLS shutdown.
  // With TLS, the deadline the handshake and the first request share.
  std::optional<std::chrono::steady_clock::time_point> first_deadline_;
  boost::beast::flat_buffer buffer_;
  Gateway* gateway_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  // The client address's connection slot, taken on accept and handed to the
  // WebSocket session on an upgrade; null when the address is over its limit.
  std::unique_ptr<SessionLimits::Slot> address_slot_;
};

// kMaxRequestHeaderBytes and kMaxRequestBodyBytes bound one HTTP request
// (larger ones get 431 and 413); LimitRequest applies them to a parser.
inline constexpr size_t kMaxRequestHeaderBytes = 16 * 1024;
inline constexpr size_t kMaxRequestBodyBytes = 64 * 1024;
void LimitRequest(boost::beast::http::request_parser<boost::beast::http::string_body>& parser);

// RefuseHeader decides, once a request's header has arrived, whether its
// body may be read: a chunked body is refused with 411 (bodies must state
// their Content-Length; Beast 1.74's chunk parser asserts on some trailers,
// found by fuzz/http_upgrade_fuzzer). nullopt: read on.
std::optional<boost::beast::http::status> RefuseHeader(
    const boost::beast::http::request_parser<boost::beast::http::string_body>& parser);

// OriginAllowed decides the Cross-Site WebSocket Hijacking check: no Origin
// (non-browser client) passes; "*" in allowed passes all; an empty list passes
// only an Origin whose host[:port] equals host.
bool OriginAllowed(const std::string& origin, const std::string& host,
                   const std::vector<std::string>& allowed);

// DevUserId derives a user id from a display name: lowercase letters, digits,
// '_' and '-' kept, other runs become '-', at most 32 characters. Empty when
// nothing usable remains.
std::string DevUserId(const std::string& name);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_HTTP_SESSION_H_
