// ChatServer wires the chat service together: a Redis client on its own I/O
// thread, the store, the core, and a gRPC server with ChatService, ChatAdmin
// and the standard health service. main.cc and the tests both use it.
#ifndef CHATSUITE_CHAT_SERVICE_CHAT_SERVER_H_
#define CHATSUITE_CHAT_SERVICE_CHAT_SERVER_H_

#include <grpcpp/server.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>

#include "chat_service/chat_core.h"
#include "chat_service/chat_service_impl.h"
#include "chat_service/redis_chat_store.h"
#include "common/config.h"
#include "common/redis_client.h"

namespace chat::chat_service {

struct ChatServerOptions {
  std::string listen = "0.0.0.0:50051";  // Port 0 picks a free port.
  HostPort redis{"127.0.0.1", 6379};
  RedisChatStoreOptions store;
  ChatCoreOptions core;
};

class ChatServer {
 public:
  explicit ChatServer(ChatServerOptions options);
  ~ChatServer();

  // Start connects to Redis (in the background; the health status follows the
  // connection) and starts serving. kUnavailable if the port cannot be bound.
  absl::Status Start();
  // Shutdown stops accepting calls, lets running ones finish within grace,
  // then stops the Redis client. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // Wait blocks until Shutdown.
  void Wait();

  int port() const { return port_; }

 private:
  ChatServerOptions options_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::shared_ptr<redis::RedisClient> redis_;
  std::unique_ptr<RedisChatStore> store_;
  std::unique_ptr<ChatCore> core_;
  std::unique_ptr<ChatServiceImpl> service_;
  std::unique_ptr<ChatAdminImpl> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<std::thread> health_thread_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_CHAT_SERVER_H_
