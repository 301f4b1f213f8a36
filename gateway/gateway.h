// Gateway: the WebSocket gateway's lifecycle and the components its sessions
// share. It owns the I/O threads (one io_context, one thread per core, a
// strand per connection), the listener, the upstream gRPC clients, the topic
// registry, the presence reporter, the chat budgets and the metrics, and
// knows every live session so that it can drain them.
#ifndef CHATSUITE_GATEWAY_GATEWAY_H_
#define CHATSUITE_GATEWAY_GATEWAY_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc_tls.h"
#include "common/redis_connection.h"
#include "common/tls.h"
#include "gateway/auth.h"
#include "gateway/metrics.h"
#include "gateway/presence_reporter.h"
#include "gateway/rate_limiter.h"
#include "gateway/session_limits.h"
#include "gateway/static_files.h"
#include "gateway/topic_registry.h"
#include "gateway/upstream.h"

namespace chat::gateway {

class Listener;
class WebsocketSession;

struct GatewayOptions {
  std::string listen_host = "0.0.0.0";
  int port = 8080;  // 0 picks a free port.
  int threads = 0;  // 0: one per core.
  std::string chat_target = "127.0.0.1:50051";
  std::string invite_target;    // Empty: invitations and friends are off.
  std::string presence_target;  // Empty: presence is off.
  std::string gateway_id;       // Names this replica to the presence service; empty: random.
  // How often this gateway refreshes its sessions' presence (keep it well
  // under the presence service's session TTL, 30 s by default).
  absl::Duration presence_heartbeat = absl::Seconds(10);
  redis::Options redis;
  // Seed nodes of a Redis Cluster; non-empty: cluster mode (redis then only
  // gives each node connection's options).
  std::vector<HostPort> redis_cluster;
  std::string jwt_secret;
  // A rotation's old key: tokens signed with it stay valid until their exp.
  std::string jwt_previous_secret;
  absl::Duration jwt_clock_skew = absl::Seconds(30);  // Leeway on exp and nbf.
  bool dev_login = false;
  std::vector<std::string> dev_join_servers = {"demo"};
  absl::Duration dev_token_ttl = absl::Hours(24);
  // Origins allowed to open WebSockets ("*" allows all). Empty: only the
  // gateway's own origin (the Origin's host equals the Host header).
  std::vector<std::string> allowed_origins;
  std::string web_root;  // Directory served at "/"; empty serves nothing.
  // PEM certificate chain and key: set, the port speaks only TLS (https and
  // wss), reloaded by ReloadTls. Empty: plaintext (TLS ends at an ingress).
  std::string tls_cert_file;
  std::string tls_key_file;
  // TLS of the calls to the services (common/grpc_tls.h).
  GrpcTls grpc_tls;
  absl::Duration identify_timeout = absl::Seconds(10);
  // The longest one HTTP request (the upgrade included) may take to arrive,
  // and the longest an idle keep-alive connection stays open.
  absl::Duration http_request_timeout = absl::Seconds(10);
  absl::Duration heartbeat_interval = absl::Seconds(15);
  size_t max_frame_bytes = 16 * 1024;
  int max_message_chars = 2000;
  size_t max_outbound_bytes = 4 * 1024 * 1024;
  double chat_rate = 5, chat_burst = 10;     // chat_message per second per user.
  double frame_rate = 20, frame_burst = 50;  // Any frame, per connection.
  double abuse_rate = 1, abuse_burst = 50;   // Rejected frames before close 4008.
  int max_inflight_requests = 32;            // Upstream calls per connection.
  // WebSocket connections one client address may hold on this gateway (0:
  // no limit; behind a proxy every client shares the proxy's address).
  int max_connections_per_address = 0;
  int max_sessions_per_user = 32;  // Identified sessions per user on this gateway (0: no limit).
  // Topics (channels, the user's own, server presence) one session may
  // follow; a user in more servers and channels is closed with 4012. 0: no
  // limit.
  int max_topics_per_session = 5000;
  absl::Duration typing_interval = absl::Seconds(3);  // Typing relays per channel.
  absl::Duration upstream_deadline = absl::Seconds(5);
  absl::Duration drain_window = absl::Seconds(5);
  // How often the pub/sub canary proves the delivery path; zero turns it off.
  absl::Duration canary_interval = absl::Seconds(1);
  // The delivery watch (heartbeat watermarks): how long an event this
  // gateway knows of may take to reach a client before it counts as lost
  // and is sent again, and the probes of log heads (at most one per stream
  // per interval, rate a second in all) that expose a silent subscription.
  absl::Duration watermark_grace = absl::Seconds(5);
  absl::Duration head_probe_interval = absl::Seconds(10);
  double head_probe_rate = 50;
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();

  // Start binds the port, connects upstream, and runs the I/O threads.
  // kUnavailable if the port cannot be bound; kInvalidArgument for bad options.
  absl::Status Start();
  // Drain stops accepting and closes every session with 4010 ("reconnect
  // elsewhere"), spread over drain_window so clients do not reconnect at once.
  void Drain();
  // Stop ends everything at once. Idempotent; called by the destructor.
  void Stop();

  int port() const { return port_; }
  // Ready: not draining, the delivery path proven by the canary (pub/sub
  // connected and its canary coming back), the chat service connected.
  bool Ready() const;

  // tls_context: the context new connections handshake with; null when TLS
  // is off. Thread-safe.
  std::shared_ptr<boost::asio::ssl::context> tls_context() const ABSL_LOCKS_EXCLUDED(tls_mu_);
  // ReloadTls re-reads the certificate and key files (main calls it on
  // SIGHUP): connections accepted afterwards use them, open ones keep what
  // they handshook with. On failure the previous ones stay in use and the
  // error is logged and counted. kFailedPrecondition when TLS is off.
  absl::Status ReloadTls() ABSL_LOCKS_EXCLUDED(tls_mu_);

  const GatewayOptions& options() const { return options_; }
  const TokenVerifier& verifier() const { return *verifier_; }
  Upstream& upstream() { return *upstream_; }
  TopicRegistry& topics() { return *topics_; }
  // log_readers read the channel and personal logs (for catch-up and resume).
  const LogReaders& log_readers() const { return readers_; }
  Metrics& metrics() { return metrics_; }
  const StaticFiles& static_files() const { return static_files_; }
  boost::asio::io_context& io_context() { return ioc_; }

  // chat_budgets: the per-user chat budgets. presence: null when presence is off.
  ChatBudgets& chat_budgets() { return chat_budgets_; }
  SessionLimits& limits() { return limits_; }
  PresenceReporter* presence() { return presence_.get(); }
  bool presence_enabled() const { return presence_ != nullptr; }
  const std::string& gateway_id() const { return gateway_id_; }

  // AddSession and RemoveSession track live sessions for Drain. Thread-safe.
  void AddSession(const std::shared_ptr<WebsocketSession>& s) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveSession(WebsocketSession* s) ABSL_LOCKS_EXCLUDED(mu_);
  // WaitDrained blocks (main's thread, never an I/O thread) until every
  // session has ended or timeout passes; true if all ended.
  bool WaitDrained(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  // stopping: Stop has begun; sessions being destroyed then leave the
  // registries alone (they are torn down with the gateway).
  bool stopping() const { return stopped_.load(std::memory_order_acquire); }

 private:
  void SetTls(TlsServerContext tls) ABSL_LOCKS_EXCLUDED(tls_mu_);

  // Declaration order is destruction order in reverse: the io_context goes
  // after the components whose I/O objects it owns handlers for, and before
  // the state that sessions destroyed with its handlers still touch.
  GatewayOptions options_;
  Metrics metrics_;
  StaticFiles static_files_;
  ChatBudgets chat_budgets_;
  SessionLimits limits_;
  mutable absl::Mutex tls_mu_;
  std::shared_ptr<boost::asio::ssl::context> tls_ ABSL_GUARDED_BY(tls_mu_);
  absl::Mutex mu_;
  absl::flat_hash_map<WebsocketSession*, std::weak_ptr<WebsocketSession>> sessions_
      ABSL_GUARDED_BY(mu_);
  std::string gateway_id_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> draining_{false};
  int port_ = 0;
  boost::asio::io_context ioc_;
  std::vector<std::thread> threads_;
  std::shared_ptr<Listener> listener_;
  std::unique_ptr<TokenVerifier> verifier_;
  std::unique_ptr<Upstream> upstream_;
  LogReaders readers_;
  std::shared_ptr<redis::ClusterClient> cluster_;  // Cluster mode only.
  std::unique_ptr<TopicRegistry> topics_;
  std::unique_ptr<PresenceReporter> presence_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_GATEWAY_H_
