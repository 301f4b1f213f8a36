// ChatServer wires the chat service together on a ServiceHost: the Redis
// store, the core, and the ChatService and ChatAdmin gRPC adapters. main.cc
// and the tests both use it.
#ifndef CHATSUITE_CHAT_SERVICE_CHAT_SERVER_H_
#define CHATSUITE_CHAT_SERVICE_CHAT_SERVER_H_

#include <memory>
#include <string>

#include "chat_service/chat_core.h"
#include "chat_service/chat_service_impl.h"
#include "chat_service/redis_chat_store.h"
#include "common/config.h"
#include "common/grpc_tls.h"
#include "common/service_host.h"

namespace chat::chat_service {

struct ChatServerOptions {
  std::string listen = "0.0.0.0:50051";  // Port 0 picks a free port.
  RedisTarget redis{"127.0.0.1", 6379};  // One instance, or a cluster's seeds.
  GrpcTls tls;                           // Served with, and (invite) dialled with: grpc_tls.h.
  std::string metrics_listen;            // host:port of /metrics; empty: none.
  RedisChatStoreOptions store;
  ChatCoreOptions core;
};

class ChatServer {
 public:
  explicit ChatServer(ChatServerOptions options);
  // Stops serving and the Redis client before the store and the core that
  // their callbacks use are destroyed.
  ~ChatServer() { Shutdown(); }

  // Start connects to Redis (in the background; the health status follows the
  // connection) and starts serving. kUnavailable if the port cannot be bound.
  absl::Status Start() { return host_.Start({&service_, &admin_}); }
  // Shutdown stops accepting calls, lets running ones finish within grace,
  // then stops the Redis client. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5)) { host_.Shutdown(grace); }

  int port() const { return host_.port(); }
  int metrics_port() const { return host_.metrics_port(); }
  // RenderMetrics is the /metrics body. Thread-safe.
  std::string RenderMetrics() const { return host_.RenderMetrics(); }

 private:
  ServiceHost host_;
  RedisChatStore store_;
  ChatCore core_;
  ChatServiceImpl service_;
  ChatAdminImpl admin_;
};

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_CHAT_SERVER_H_
