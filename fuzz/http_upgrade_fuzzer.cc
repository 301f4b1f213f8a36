// Fuzzes the HTTP side of the gateway up to the WebSocket upgrade: the bytes
// of a request, cut into segments as a network would deliver them (the
// first input byte sets the segment size), go through Beast's parser with
// the gateway's own limits, then through what the gateway decides from the
// request: the route and its token from the target and query, the Origin
// check, the development login's name. Besides not crashing, it checks that
// a routed seed endpoint names only valid ids.
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstdint>

#include "common/keys.h"
#include "fuzz/check.h"
#include "gateway/http_session.h"
#include "gateway/seed_endpoints.h"

namespace {

namespace http = boost::beast::http;

using chat::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace gw = chat::gateway;
  if (size == 0) return 0;
  const size_t segment = 1 + data[0] % 64;
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  size_t left = size - 1;

  http::request_parser<http::string_body> parser;
  gw::LimitRequest(parser);
  boost::beast::error_code ec;
  std::string pending;  // What the parser has not consumed yet, as a read buffer holds it.
  bool header_checked = false;
  while (!parser.is_done() && !ec) {
    if (parser.is_header_done() && !header_checked) {
      if (gw::RefuseHeader(parser)) return 0;  // As the gateway: answered, body never read.
      header_checked = true;
    }
    const size_t take = std::min(segment, left);
    pending.append(bytes, take);
    bytes += take;
    left -= take;
    if (pending.empty()) return 0;  // The request never ends (Beast never puts nothing).
    const size_t used = parser.put(boost::asio::buffer(pending), ec);
    pending.erase(0, used);
    if (ec == http::error::need_more) ec = {};
    if (!ec && take == 0 && used == 0) return 0;  // The request never ends.
  }
  if (ec) return 0;
  const http::request<http::string_body>& req = parser.get();
  Check(req.body().size() <= gw::kMaxRequestBodyBytes);
  const absl::string_view target(req.target().data(), req.target().size());
  (void)boost::beast::websocket::is_upgrade(req);
  (void)gw::OriginAllowed(std::string(req[http::field::origin]),
                          std::string(req[http::field::host]), {});
  (void)gw::QueryParam(target, "token");
  if (const std::string id = gw::DevUserId(req.body()); !id.empty()) {
    Check(chat::keys::IsValidId(id));
  }
  if (std::optional<gw::SessionRoute> route = gw::ParseRoute(target)) {
    if (route->mode == gw::SessionMode::kSeedChat) {
      Check(chat::keys::IsValidId(route->server) && chat::keys::IsValidId(route->channel));
    }
    if (route->mode == gw::SessionMode::kSeedPersonal) {
      Check(chat::keys::IsValidId(route->path_user));
    }
  }
  return 0;
}
