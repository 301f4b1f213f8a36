#include "chat_service/chat_server.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>

namespace chat::chat_service {

ChatServer::ChatServer(ChatServerOptions options) : options_(std::move(options)) {}

ChatServer::~ChatServer() { Shutdown(absl::ZeroDuration()); }

absl::Status ChatServer::Start() {
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          ioc_.get_executor());
  io_thread_ = std::thread([this] { ioc_.run(); });
  redis::Options ro;
  ro.host = options_.redis.host;
  ro.port = options_.redis.port;
  redis_ = std::make_shared<redis::RedisClient>(ioc_.get_executor(), ro);
  redis_->Start();
  store_ = std::make_unique<RedisChatStore>(redis_, options_.store);
  core_ = std::make_unique<ChatCore>(store_.get(), options_.core);
  service_ = std::make_unique<ChatServiceImpl>(core_.get());
  admin_ = std::make_unique<ChatAdminImpl>(core_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  builder.RegisterService(admin_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError("chat_service: cannot listen on " + options_.listen);
  }
  // The health status follows the Redis connection.
  health_thread_ = std::make_unique<std::thread>([this] {
    bool last = false;
    bool first = true;
    while (!stopping_) {
      bool up = redis_->connected();
      if (first || up != last) {
        server_->GetHealthCheckService()->SetServingStatus(up);
        server_->GetHealthCheckService()->SetServingStatus("chat.ChatService", up);
        first = false;
        last = up;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  spdlog::info("event=listening addr={} port={}", options_.listen, port_);
  return absl::OkStatus();
}

void ChatServer::Shutdown(absl::Duration grace) {
  if (stopping_.exchange(true)) return;
  if (health_thread_) health_thread_->join();
  if (server_) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  }
  if (redis_) redis_->Stop();
  work_.reset();
  if (io_thread_.joinable()) {
    // Let the Redis disconnect complete, then stop the loop.
    ioc_.stop();
    io_thread_.join();
  }
}

void ChatServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace chat::chat_service
