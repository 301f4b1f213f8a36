#include "common/service_host.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <csignal>

namespace chat {

ServiceHost::ServiceHost(std::string listen, HostPort redis, std::string service_name)
    : listen_(std::move(listen)), service_name_(std::move(service_name)) {
  redis::Options ro;
  ro.host = redis.host;
  ro.port = redis.port;
  redis_ = std::make_shared<redis::RedisClient>(ioc_.get_executor(), ro);
}

ServiceHost::~ServiceHost() { Shutdown(absl::ZeroDuration()); }

absl::Status ServiceHost::Start(const std::vector<grpc::Service*>& services) {
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          ioc_.get_executor());
  io_thread_ = std::thread([this] { ioc_.run(); });
  redis_->Start();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen_, grpc::InsecureServerCredentials(), &port_);
  for (grpc::Service* s : services) builder.RegisterService(s);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(service_name_ + ": cannot listen on " + listen_);
  }
  health_thread_ = std::thread([this] { WatchHealth(); });
  spdlog::info("event=listening service={} addr={} port={}", service_name_, listen_, port_);
  return absl::OkStatus();
}

void ServiceHost::WatchHealth() {
  // Health follows the Redis connection; polled because hiredis reports it on
  // the I/O thread and the health service is synchronous.
  bool first = true, last = false;
  while (!stopping_) {
    bool up = redis_->connected();
    if (first || up != last) {
      server_->GetHealthCheckService()->SetServingStatus(up);
      server_->GetHealthCheckService()->SetServingStatus(service_name_, up);
      first = false;
      last = up;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void ServiceHost::Shutdown(absl::Duration grace) {
  if (stopping_.exchange(true)) return;
  if (health_thread_.joinable()) health_thread_.join();
  if (server_) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  }
  redis_->Stop();
  work_.reset();
  ioc_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

namespace {
std::atomic<bool> g_signalled{false};
void OnSignal(int) { g_signalled = true; }
}  // namespace

void WaitForSignal() {
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  while (!g_signalled) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

}  // namespace chat
