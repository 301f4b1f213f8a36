// MetricsServer: the HTTP endpoint of a gRPC service binary that Prometheus
// scrapes (the gateway serves /metrics on its own port). GET /metrics answers
// with what render returns, GET /healthz with "ok"; anything else is 404 (405
// for other methods). Connections are kept alive between scrapes, each
// request must arrive within 10 s, and headers are capped at 8 KiB. Runs on
// the executor it is given; render runs there too and must not block.
#ifndef CHATSUITE_COMMON_METRICS_SERVER_H_
#define CHATSUITE_COMMON_METRICS_SERVER_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace chat::metrics {

class MetricsServer : public std::enable_shared_from_this<MetricsServer> {
 public:
  using Render = std::function<std::string()>;
  MetricsServer(boost::asio::any_io_executor executor, Render render);

  // Listen binds "host:port" (port 0 picks one) and starts accepting.
  // kInvalidArgument for a malformed address, kUnavailable if it cannot be
  // bound. Call once.
  absl::Status Listen(const std::string& listen);
  // Stop closes the acceptor; open connections end after their request.
  // Thread-safe.
  void Stop();
  int port() const { return port_; }

 private:
  void DoAccept();

  boost::asio::any_io_executor executor_;
  Render render_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
};

}  // namespace chat::metrics

#endif  // CHATSUITE_COMMON_METRICS_SERVER_H_
