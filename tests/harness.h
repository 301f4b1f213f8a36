// Test harness for cross-service tests: a real redis-server, the real chat
// service on port 0, real gateways on port 0, and a real WebSocket client.
#ifndef CHATSUITE_TESTS_HARNESS_H_
#define CHATSUITE_TESTS_HARNESS_H_

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chat_service/chat_server.h"
#include "common/grpc_tls.h"
#include "common/redis_test_server.h"
#include "gateway/gateway.h"
#include "invite_service/invite_server.h"
#include "presence_service/presence_server.h"
#include "proto/chat.grpc.pb.h"
#include "tests/slot_guard.h"

namespace chat::testing {

inline constexpr char kSecret[] = "test-secret";

// WsClient is a WebSocket client whose socket lives on its own I/O thread:
// every received frame is queued, Next waits for one with a timeout.
class WsClient {
 public:
  WsClient();
  ~WsClient();

  // Connect opens ws://127.0.0.1:port<target>. Fails if the upgrade is refused.
  absl::Status Connect(int port, const std::string& target, const std::string& origin = "");
  void Send(std::string text);
  void SendBinary(std::string bytes);
  // Next returns the next frame's payload, or nullopt on timeout or close.
  // JSON presence frames, which arrive at any time, are skipped: use
  // NextOfType("presence") for them.
  std::optional<std::string> Next(absl::Duration timeout = absl::Seconds(5));
  // NextOfType returns the first queued or arriving text frame whose JSON
  // "type" is type, leaving other frames queued; nullopt on timeout or close.
  std::optional<std::string> NextOfType(const std::string& type,
                                        absl::Duration timeout = absl::Seconds(5));
  // WaitClosed waits for the connection to end; returns the close code the
  // server sent (0 if none) or -1 on timeout.
  int WaitClosed(absl::Duration timeout = absl::Seconds(5));
  bool last_was_binary() const { return last_binary_; }

 private:
  void DoRead();

  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, bool>> frames_;
  bool closed_ = false;
  int close_code_ = 0;
  bool last_binary_ = false;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

// Stack runs Redis, the chat service and N gateways, with a demo server
// ("demo": channels "general", "random") whose members are alice and bob;
// mallory exists but belongs to no server. Redis is one instance, or, with
// UseRedisCluster or CHATSUITE_REDIS_CLUSTER set in the environment, a real
// Redis Cluster of three masters with a replica each, which every service
// and gateway then uses in cluster mode (--redis_cluster).
class Stack {
 public:
  explicit Stack(int gateways = 1, std::function<void(gateway::GatewayOptions&)> tune = nullptr,
                 std::function<void(invite_service::InviteServerOptions&)> tune_invite = nullptr);
  ~Stack();
  // UseGrpcTls puts every gRPC link of the stack on tls (before Start):
  // services serve with it, gateways, the invite service and admin() dial
  // with it (common/grpc_tls.h).
  void UseGrpcTls(GrpcTls tls) { grpc_tls_ = std::move(tls); }
  // UseRedisCluster runs the stack on a Redis Cluster (before Start); with
  // min_replicas, the chat service acknowledges a message only once that
  // many replicas have it (--redis_min_replicas).
  void UseRedisCluster(int min_replicas = 0) {
    own_cluster_ = std::make_unique<RedisTestCluster>(3, 1);
    cluster_ = own_cluster_.get();
    min_replicas_ = min_replicas;
  }
  // UseChatReplicas runs n chat services on the same Redis (before Start);
  // gateway i talks to replica i % n.
  void UseChatReplicas(int n) { chat_replica_count_ = n; }
  absl::Status Start();

  int gateway_port(int i = 0) const { return gateways_[i]->port(); }
  gateway::Gateway& gateway(int i = 0) { return *gateways_[i]; }
  ChatAdmin::Stub& admin() { return *admin_; }
  // AddUser creates user (named after its id) as a member of demo.
  absl::Status AddUser(const std::string& user);
  // redis: the single instance (not in cluster mode).
  RedisTestServer& redis() { return redis_; }
  // redis_cluster: the cluster, or nullptr when the stack runs on one instance.
  RedisTestCluster* redis_cluster() { return cluster_; }
  // redis_flags: the flags a service or gateway process of this stack takes
  // to reach its Redis (and the chat service's --redis_min_replicas).
  std::vector<std::string> redis_flags() const;
  RedisTarget redis_target() const;
  // Presence is tuned for tests: 1 s session TTL, 300 ms offline grace,
  // 50 ms sweeps; gateways heartbeat every 250 ms. Typing relays at most once
  // per 300 ms per user and channel.
  int chat_port() const { return chat_->port(); }
  int invite_port() const { return invite_->port(); }
  int presence_port() const { return presence_->port(); }
  // The services' /metrics ports (each serves one on 127.0.0.1, port 0).
  int chat_metrics_port() const { return chat_->metrics_port(); }
  int invite_metrics_port() const { return invite_->metrics_port(); }
  int presence_metrics_port() const { return presence_->metrics_port(); }

  // redis_command runs one command on the stack's Redis (test setup only):
  // in a cluster, on the master of its key's slot, or, without a key, on
  // every node.
  void redis_command(const std::vector<std::string>& args);

  // Token mints a token for one of the seeded users (or any id).
  std::string Token(const std::string& user, absl::Duration ttl = absl::Hours(1)) const;
  // Identified connects to /ws, identifies as user and returns the ready frame.
  std::unique_ptr<WsClient> Identified(const std::string& user, std::string* ready = nullptr,
                                       int gateway = 0);

 private:
  int gateway_count_;
  GrpcTls grpc_tls_;
  std::function<void(gateway::GatewayOptions&)> tune_;
  std::function<void(invite_service::InviteServerOptions&)> tune_invite_;
  RedisTestServer redis_;
  // cluster_ is own_cluster_, or (CHATSUITE_REDIS_CLUSTER) one cluster the
  // test process shares, emptied by each Start: a cluster takes seconds to form.
  RedisTestCluster* cluster_ = nullptr;
  std::unique_ptr<RedisTestCluster> own_cluster_;
  int min_replicas_ = 0;
  SlotGuard slot_guard_;  // Watches redis_ when CHATSUITE_SLOT_GUARD is set.
  std::unique_ptr<chat_service::ChatServer> chat_;
  int chat_replica_count_ = 1;
  std::vector<std::unique_ptr<chat_service::ChatServer>> more_chats_;  // Replicas 1..n-1.
  std::unique_ptr<invite_service::InviteServer> invite_;
  std::unique_ptr<presence_service::PresenceServer> presence_;
  std::vector<std::unique_ptr<gateway::Gateway>> gateways_;
  std::unique_ptr<ChatAdmin::Stub> admin_;
};

// Spawn starts args[0] with args in a child process (CHAT_JWT_SECRET set to
// the stack's secret); KillAndReap sends it SIGKILL, waits for it and sets
// *pid to -1 (nothing if it is not running).
pid_t Spawn(std::vector<std::string> args);
void KillAndReap(pid_t* pid);

// GatewayProcess runs the real gateway binary (a data dependency of the
// test) against the stack's services, so a test can kill it for real.
class GatewayProcess {
 public:
  explicit GatewayProcess(Stack& stack, std::vector<std::string> extra_flags = {});
  ~GatewayProcess() { Kill(); }
  // Kill sends SIGKILL and reaps the process.
  void Kill();
  // Terminate sends SIGTERM (a drain) and waits up to timeout for the exit;
  // true if it exited.
  bool Terminate(absl::Duration timeout);
  // Start runs the binary again, on the same port with the same flags,
  // after Kill or Terminate.
  void Start();
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  int port_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

// JsonField extracts a top-level string or number field from a JSON object
// (numbers and strings both come back as their text). Test convenience.
std::string JsonField(const std::string& json, const std::string& field);

// RawWebSocket is a blocking client socket the test reads only when it
// chooses (WsClient reads everything at once).
using RawWebSocket = boost::beast::websocket::stream<boost::beast::tcp_stream>;

// OpenWithSmallBuffer connects ws to the gateway on port with a 4 KiB receive
// buffer, so the gateway's queue fills as soon as the test stops reading,
// and identifies with token.
void OpenWithSmallBuffer(RawWebSocket& ws, int port, const std::string& token);

}  // namespace chat::testing

#endif  // CHATSUITE_TESTS_HARNESS_H_
