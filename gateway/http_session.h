// HttpSession: reads HTTP requests on one connection and answers them
// (health, readiness, metrics, the development login, the web client), or
// hands the socket to a WebsocketSession on an upgrade to /ws,
// /ws/chat/<server>/<channel>/ or /ws/personal/<user>/.
#ifndef CHATSUITE_GATEWAY_HTTP_SESSION_H_
#define CHATSUITE_GATEWAY_HTTP_SESSION_H_

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>

namespace chat::gateway {

class Gateway;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket&& socket, Gateway* gateway);
  void Run();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void DoRead();
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void Handle(Request req);
  void HandleUpgrade(Request req);
  void HandleDevLogin(Request req);
  void Reply(const Request& req, boost::beast::http::status status, std::string body,
             const std::string& content_type);
  void DoWrite(std::shared_ptr<Response> res);
  void DoClose();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  Gateway* gateway_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

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
