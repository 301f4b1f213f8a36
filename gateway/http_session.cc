#include "gateway/http_session.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "gateway/frame_codec.h"
#include "gateway/gateway.h"
#include "gateway/seed_endpoints.h"
#include "gateway/websocket_session.h"

namespace chat::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

void LimitRequest(http::request_parser<http::string_body>& parser) {
  parser.header_limit(kMaxRequestHeaderBytes);
  parser.body_limit(kMaxRequestBodyBytes);
}

bool OriginAllowed(const std::string& origin, const std::string& host,
                   const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  for (const std::string& a : allowed) {
    if (a == "*" || a == origin) return true;
  }
  if (!allowed.empty()) return false;
  size_t scheme = origin.find("://");
  if (scheme == std::string::npos) return false;
  return absl::AsciiStrToLower(origin.substr(scheme + 3)) == absl::AsciiStrToLower(host);
}

std::string DevUserId(const std::string& name) {
  std::string id;
  bool dash = false;
  for (char c : absl::AsciiStrToLower(name)) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_') {
      id.push_back(c);
      dash = false;
    } else if (!dash && !id.empty()) {
      id.push_back('-');
      dash = true;
    }
    if (id.size() >= 32) break;
  }
  while (!id.empty() && id.back() == '-') id.pop_back();
  return id;
}

namespace {

ClientStream MakeStream(net::ip::tcp::socket&& socket, net::ssl::context* tls) {
  if (tls == nullptr) return ClientStream(std::in_place_type<PlainStream>, std::move(socket));
  return ClientStream(std::in_place_type<TlsStream>, std::move(socket), *tls);
}

// The answer to plain HTTP on the TLS port, written under the TLS layer.
constexpr absl::string_view kPlaintextRefusal =
    "HTTP/1.1 400 Bad Request\r\nServer: chatsuite-gateway\r\nContent-Type: text/plain\r\n"
    "Content-Length: 45\r\nConnection: close\r\n\r\n"
    "this port speaks TLS: use https:// or wss://\n";

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket&& socket, Gateway* gateway,
                         std::shared_ptr<net::ssl::context> tls)
    : tls_(std::move(tls)), stream_(MakeStream(std::move(socket), tls_.get())), gateway_(gateway) {}

void HttpSession::Run() {
  beast::error_code ec;
  const auto endpoint = TcpOf(stream_).socket().remote_endpoint(ec);
  if (!ec) address_slot_ = gateway_->limits().AdmitAddress(endpoint.address().to_string());
  if (tls_ == nullptr) {
    return net::dispatch(TcpOf(stream_).get_executor(),
                         beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
  }
  // The handshake and the first request share one deadline: a slow client
  // is cut off however it spreads its bytes.
  first_deadline_ = std::chrono::steady_clock::now() +
                    absl::ToChronoNanoseconds(gateway_->options().http_request_timeout);
  TcpOf(stream_).expires_at(*first_deadline_);
  net::dispatch(TcpOf(stream_).get_executor(), [self = shared_from_this()] {
    beast::async_detect_ssl(TcpOf(self->stream_), self->buffer_,
                            beast::bind_front_handler(&HttpSession::OnDetect, self));
  });
}

void HttpSession::OnDetect(beast::error_code ec, bool tls) {
  // A connection closed or silent before its first bytes (a load balancer's
  // TCP check, a slowloris) is no handshake failure: it just ends.
  if (ec) return;
  if (!tls) {
    gateway_->metrics().tls_plaintext_refused.fetch_add(1, std::memory_order_relaxed);
    net::async_write(TcpOf(stream_),
                     net::buffer(kPlaintextRefusal.data(), kPlaintextRefusal.size()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->DoClose();
                     });
    return;
  }
  std::get<TlsStream>(stream_).async_handshake(
      net::ssl::stream_base::server, buffer_.data(),
      beast::bind_front_handler(&HttpSession::OnHandshake, shared_from_this()));
}

void HttpSession::OnHandshake(beast::error_code ec, size_t used) {
  if (ec) {
    gateway_->metrics().tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  handshook_ = true;
  buffer_.consume(used);
  DoRead();
}

std::optional<http::status> RefuseHeader(const http::request_parser<http::string_body>& parser) {
  if (parser.chunked()) return http::status::length_required;
  return std::nullopt;
}

void HttpSession::DoRead() {
  parser_.emplace();
  LimitRequest(*parser_);
  if (first_deadline_) {
    TcpOf(stream_).expires_at(*first_deadline_);
    first_deadline_.reset();
  } else {
    TcpOf(stream_).expires_after(
        absl::ToChronoNanoseconds(gateway_->options().http_request_timeout));
  }
  std::visit(
      [this](auto& s) {
        http::async_read_header(
            s, buffer_, *parser_,
            beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
      },
      stream_);
}

void HttpSession::Refuse(beast::error_code ec) {
  if (ec == http::error::header_limit) {
    return RefuseAndClose(http::status::request_header_fields_too_large,
                          "request headers too large\n");
  }
  if (ec == http::error::body_limit) {
    return RefuseAndClose(http::status::payload_too_large, "request body too large\n");
  }
  if (ec != http::error::end_of_stream && ec != http::error::partial_message &&
      ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return RefuseAndClose(http::status::bad_request, "malformed request\n");
  }
  // Timeouts (the stream is already closed) and resets end the connection.
}

void HttpSession::OnHeader(beast::error_code ec, size_t) {
  if (ec == http::error::end_of_stream) return DoClose();
  if (ec) return Refuse(ec);
  if (std::optional<http::status> refusal = RefuseHeader(*parser_)) {
    return RefuseAndClose(*refusal, "request bodies must have a Content-Length\n");
  }
  std::visit(
      [this](auto& s) {
        http::async_read(s, buffer_, *parser_,
                         beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
      },
      stream_);
}

void HttpSession::OnRead(beast::error_code ec, size_t) {
  if (ec) return Refuse(ec);
  if (address_slot_ == nullptr) {
    return RefuseAndClose(http::status::too_many_requests,
                          "too many connections from this address\n");
  }
  Request req = parser_->release();
  if (beast::websocket::is_upgrade(req)) return HandleUpgrade(std::move(req));
  Handle(std::move(req));
}

void HttpSession::Handle(Request req) {
  std::string path(req.target().substr(0, req.target().find('?')));
  if (path == "/healthz") return Reply(req, http::status::ok, "ok\n", "text/plain");
  if (path == "/readyz") {
    bool ready = gateway_->Ready();
    return Reply(req, ready ? http::status::ok : http::status::service_unavailable,
                 ready ? "ready\n" : "not ready\n", "text/plain");
  }
  if (path == "/metrics") {
    Upstream::Status up = gateway_->upstream().Connected();
    std::string body = gateway_->metrics().Render();
    absl::StrAppend(&body,
                    "# HELP chat_gateway_upstream_connected Whether an upstream channel is "
                    "connected.\n# TYPE chat_gateway_upstream_connected gauge\n",
                    "chat_gateway_upstream_connected{service=\"chat\"} ", up.chat ? 1 : 0, "\n",
                    "chat_gateway_upstream_connected{service=\"invite\"} ", up.invite ? 1 : 0, "\n",
                    "chat_gateway_upstream_connected{service=\"presence\"} ", up.presence ? 1 : 0,
                    "\n",
                    "# HELP chat_gateway_pubsub_connected Whether the Redis pub/sub connection is "
                    "up.\n# TYPE chat_gateway_pubsub_connected gauge\n",
                    "chat_gateway_pubsub_connected ", gateway_->topics().connected() ? 1 : 0, "\n");
    gateway_->topics().AppendRedisMetrics(&body);
    return Reply(req, http::status::ok, std::move(body), "text/plain; version=0.0.4");
  }
  if (path == "/api/dev/login") {
    if (!gateway_->options().dev_login) {
      return Reply(req, http::status::not_found, R"({"error":"development login is disabled"})",
                   "application/json");
    }
    if (req.method() != http::verb::post) {
      return Reply(req, http::status::method_not_allowed, R"({"error":"use POST"})",
                   "application/json");
    }
    return HandleDevLogin(std::move(req));
  }
  if (req.method() == http::verb::get || req.method() == http::verb::head) {
    if (const StaticFiles::File* f = gateway_->static_files().Find(path)) {
      return Reply(req, http::status::ok, f->body, f->content_type);
    }
  }
  Reply(req, http::status::not_found, "not found\n", "text/plain");
}

void HttpSession::HandleUpgrade(Request req) {
  const std::string origin(req[http::field::origin]);
  const std::string host(req[http::field::host]);
  if (!OriginAllowed(origin, host, gateway_->options().allowed_origins)) {
    gateway_->metrics().origin_rejections.fetch_add(1, std::memory_order_relaxed);
    return Reply(req, http::status::forbidden, "origin not allowed\n", "text/plain");
  }
  std::optional<SessionRoute> route =
      ParseRoute(absl::string_view(req.target().data(), req.target().size()));
  if (!route) {
    return Reply(req, http::status::not_found, "no such WebSocket endpoint\n", "text/plain");
  }
  TcpOf(stream_).expires_never();
  auto session = std::make_shared<WebsocketSession>(std::move(stream_), std::move(tls_), gateway_,
                                                    *std::move(route));
  session->HoldSlot(std::move(address_slot_));
  gateway_->AddSession(session);
  session->Run(std::move(req));
}

void HttpSession::HandleDevLogin(Request req) {
  DevLoginRequest login;
  std::string name;
  if (!google::protobuf::util::JsonStringToMessage(req.body(), &login).ok()) {
    return Reply(req, http::status::bad_request, R"({"error":"expected {\"name\": \"...\"}"})",
                 "application/json");
  }
  name = std::string(absl::StripAsciiWhitespace(login.name()));
  std::string id = DevUserId(name);
  if (id.empty() || name.size() > 32) {
    return Reply(req, http::status::bad_request,
                 R"({"error":"name must be 1-32 characters with at least one letter or digit"})",
                 "application/json");
  }
  User user;
  user.set_id(id);
  user.set_name(name);
  auto self = shared_from_this();
  auto keep_alive = req.keep_alive();
  auto version = req.version();
  // Finish runs on this session's strand with the outcome of the admin calls.
  auto finish = [self, user, keep_alive, version](absl::Status status) {
    net::post(TcpOf(self->stream_).get_executor(), [self, user, status, keep_alive, version] {
      Request shape;
      shape.version(version);
      shape.keep_alive(keep_alive);
      if (!status.ok()) {
        self->gateway_->metrics().upstream_errors.fetch_add(1);
        return self->Reply(shape, http::status::service_unavailable,
                           R"({"error":"chat service unavailable"})", "application/json");
      }
      absl::StatusOr<std::string> token =
          self->gateway_->verifier().Mint(user, self->gateway_->options().dev_token_ttl);
      if (!token.ok()) {
        return self->Reply(shape, http::status::internal_server_error,
                           R"({"error":"cannot mint token"})", "application/json");
      }
      DevLoginResponse resp;
      resp.set_token(*token);
      *resp.mutable_user() = user;
      self->Reply(shape, http::status::ok, ToJson(resp), "application/json");
    });
  };
  gateway_->upstream().UpsertUser(user, [self, user, finish](absl::StatusOr<User> r) mutable {
    if (!r.ok()) return finish(r.status());
    const auto& servers = self->gateway_->options().dev_join_servers;
    if (servers.empty()) return finish(absl::OkStatus());
    // Joins run in parallel; the last reply finishes with the first failure.
    struct Joins {
      absl::Mutex mu;
      size_t remaining;
      absl::Status error;
    };
    auto joins = std::make_shared<Joins>();
    joins->remaining = servers.size();
    for (const std::string& server : servers) {
      AddMemberRequest add;
      add.set_server(server);
      add.set_user_id(user.id());
      self->gateway_->upstream().AddMember(
          add, [joins, finish](absl::StatusOr<AddMemberResponse> r) {
            absl::MutexLock lock(&joins->mu);
            // A missing demo server is not fatal: the user just joins nothing.
            if (!r.ok() && r.status().code() != absl::StatusCode::kNotFound && joins->error.ok()) {
              joins->error = r.status();
            }
            if (--joins->remaining == 0) finish(joins->error);
          });
    }
  });
}

void HttpSession::Reply(const Request& req, http::status status, std::string body,
                        const std::string& content_type) {
  auto res = std::make_shared<Response>(status, req.version());
  res->set(http::field::server, "chatsuite-gateway");
  res->set(http::field::content_type, content_type);
  res->set(http::field::cache_control, "no-store");
  res->set("X-Content-Type-Options", "nosniff");
  res->keep_alive(req.keep_alive());
  if (req.method() == http::verb::head) {
    res->content_length(body.size());
  } else {
    res->body() = std::move(body);
    res->prepare_payload();
  }
  DoWrite(std::move(res));
}

void HttpSession::RefuseAndClose(http::status status, std::string body) {
  Request shape;
  shape.version(11);
  shape.keep_alive(false);
  Reply(shape, status, std::move(body), "text/plain");
}

void HttpSession::DoWrite(std::shared_ptr<Response> res) {
  std::visit(
      [this, &res](auto& s) {
        http::async_write(s, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
          if (ec) return;
          if (!res->keep_alive()) return self->DoClose();
          self->DoRead();
        });
      },
      stream_);
}

void HttpSession::DoClose() {
  // A refused request may still be arriving: read it away for a moment, so
  // that closing with unread bytes (a reset) cannot destroy the reply before
  // the client has read it. A TLS session's shutdown does that reading.
  TcpOf(stream_).expires_after(std::chrono::seconds(2));
  if (handshook_) {
    return std::get<TlsStream>(stream_).async_shutdown(
        [self = shared_from_this()](beast::error_code) {
          beast::error_code ignored;
          TcpOf(self->stream_).socket().close(ignored);
        });
  }
  beast::error_code ec;
  TcpOf(stream_).socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  Discard();
}

void HttpSession::Discard() {
  buffer_.clear();
  TcpOf(stream_).async_read_some(buffer_.prepare(16 * 1024),
                                 [self = shared_from_this()](beast::error_code ec, size_t) {
                                   if (!ec) self->Discard();
                                 });
}

}  // namespace chat::gateway
