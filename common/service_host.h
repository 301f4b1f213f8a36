// ServiceHost: what every gRPC service binary shares: a Redis client (one
// instance, or a Redis Cluster) on its own I/O thread, a gRPC server with the standard health
// service (serving while Redis is connected, updated as the connection comes and goes) and the RPC
// observer (rpc_observer.h), a Prometheus /metrics endpoint, and graceful
// shutdown. Each *_server wires its store,
// core and gRPC adapter onto one.
#ifndef CHATSUITE_COMMON_SERVICE_HOST_H_
#define CHATSUITE_COMMON_SERVICE_HOST_H_

#include <grpcpp/server.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/grpc_tls.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "common/redis_client.h"
#include "common/redis_cluster_client.h"

namespace chat {

class ServiceHost {
 public:
  // listen: "host:port" (port 0 picks one); service_name: for health checks;
  // tls: the gRPC server's certificate, and the CA its clients must be
  // signed by (grpc_tls.h); empty serves plaintext.
  // metrics_listen: "host:port" of /metrics (metrics_server.h; port 0 picks
  // one), empty for none.
  ServiceHost(std::string listen, RedisTarget redis, std::string service_name, GrpcTls tls = {},
              std::string metrics_listen = "");
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  // The Redis client exists from construction and connects at Start; its
  // callbacks and io_context() handlers run on the host's I/O thread.
  const std::shared_ptr<redis::Commands>& redis() const { return commands_; }
  boost::asio::io_context& io_context() { return ioc_; }

  // Start connects Redis and serves services (not owned; they must outlive the
  // host). kUnavailable if an address cannot be bound; kInvalidArgument if
  // a TLS file or the metrics address cannot be used.
  absl::Status Start(const std::vector<grpc::Service*>& services);

  // AddMetrics adds a service's own families to /metrics (call before
  // Start); render runs on the I/O thread and must not block.
  void AddMetrics(std::function<void(std::string*)> render) {
    extra_metrics_.push_back(std::move(render));
  }
  // client_rpcs counts the service's own calls to other services
  // (CallUnary's observed), rendered with the rest.
  metrics::RpcMetrics* client_rpcs() { return &client_rpcs_; }
  // RenderMetrics is the /metrics body. Thread-safe.
  std::string RenderMetrics() const;
  // metrics_port: the bound /metrics port (0 when off or not started).
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }
  // Shutdown lets running calls finish within grace, then stops. Idempotent.
  void Shutdown(absl::Duration grace);

  int port() const { return port_; }

 private:
  // SetHealth records whether Redis is connected and tells the health
  // service, once it exists. Runs on the Redis client's strand (in cluster
  // mode, on the I/O thread: WatchCluster polls the client's health).
  void SetHealth(bool redis_up) ABSL_LOCKS_EXCLUDED(health_mu_);
  void WatchCluster();
  void ApplyHealth() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu_);

  std::string listen_;
  std::string service_name_;
  GrpcTls tls_;
  std::string metrics_listen_;
  metrics::RpcMetrics server_rpcs_{"server"};
  metrics::RpcMetrics client_rpcs_{"client"};
  std::vector<std::function<void(std::string*)>> extra_metrics_;
  boost::asio::io_context ioc_;
  // After ioc_: its acceptor must go before the io_context it was made on.
  std::shared_ptr<metrics::MetricsServer> metrics_server_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  // One of redis_ (an instance) and cluster_; commands_ is that one.
  std::shared_ptr<redis::RedisClient> redis_;
  std::shared_ptr<redis::ClusterClient> cluster_;
  std::shared_ptr<redis::Commands> commands_;
  std::unique_ptr<boost::asio::steady_timer> cluster_watch_;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex health_mu_;
  bool redis_up_ ABSL_GUARDED_BY(health_mu_) = false;
  bool serving_ ABSL_GUARDED_BY(health_mu_) = false;  // server_ started, not shut down.
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

}  // namespace chat

#endif  // CHATSUITE_COMMON_SERVICE_HOST_H_
