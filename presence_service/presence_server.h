// PresenceServer wires the presence service on a ServiceHost: the Redis store,
// the core, the gRPC adapter, and the sweeper that re-evaluates users whose
// sessions expired or whose offline grace ended. main.cc and the tests both
// use it.
#ifndef CHATSUITE_PRESENCE_SERVICE_PRESENCE_SERVER_H_
#define CHATSUITE_PRESENCE_SERVICE_PRESENCE_SERVER_H_

#include <boost/asio/steady_timer.hpp>
#include <string>

#include "common/config.h"
#include "common/grpc_tls.h"
#include "common/service_host.h"
#include "presence_service/presence_core.h"
#include "presence_service/presence_service_impl.h"
#include "presence_service/redis_presence_store.h"

namespace chat::presence_service {

struct PresenceServerOptions {
  std::string listen = "0.0.0.0:50052";  // Port 0 picks a free port.
  RedisTarget redis{"127.0.0.1", 6379};  // One instance, or a cluster's seeds.
  GrpcTls tls;                           // Served with, and (invite) dialled with: grpc_tls.h.
  std::string metrics_listen;            // host:port of /metrics; empty: none.
  PresenceCoreOptions core;
  // store.sweep_lease is raised to at least 2 * (session_ttl + offline_grace).
  RedisPresenceStoreOptions store;
  // How often the sweeper looks for due users; a user goes offline at most
  // this long after their deadline (longer only if a round is backlogged).
  absl::Duration sweep_interval = absl::Milliseconds(500);
};

class PresenceServer {
 public:
  explicit PresenceServer(PresenceServerOptions options);
  ~PresenceServer();

  // Start connects to Redis (in the background; the health status follows the
  // connection), starts serving and starts the sweeper. kUnavailable if the
  // address cannot be bound.
  absl::Status Start();
  // Shutdown stops accepting calls, lets running ones finish within grace,
  // then stops the sweeper and the Redis client. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  int port() const { return host_.port(); }
  int metrics_port() const { return host_.metrics_port(); }

 private:
  // Sweep runs one sweeper round on the host's I/O thread and schedules the
  // next: at once while rounds come back full, else after sweep_interval.
  void Sweep();

  PresenceServerOptions options_;
  ServiceHost host_;
  RedisPresenceStore store_;
  PresenceCore core_;
  PresenceServiceImpl service_;
  boost::asio::steady_timer sweep_timer_;
  bool sweep_failing_ = false;  // On the I/O thread; so failures are logged once.
};

}  // namespace chat::presence_service

#endif  // CHATSUITE_PRESENCE_SERVICE_PRESENCE_SERVER_H_
