#include "common/service_host.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/rpc_observer.h"

namespace chat {

ServiceHost::ServiceHost(std::string listen, RedisTarget redis, std::string service_name,
                         GrpcTls tls, std::string metrics_listen)
    : listen_(std::move(listen)),
      service_name_(std::move(service_name)),
      tls_(std::move(tls)),
      metrics_listen_(std::move(metrics_listen)) {
  if (redis.is_cluster()) {
    cluster_ = redis::ClusterClient::Create(ioc_.get_executor(), redis.cluster, {});
    commands_ = cluster_;
    return;
  }
  redis::Options ro;
  ro.host = redis.instance.host;
  ro.port = redis.instance.port;
  redis_ = std::make_shared<redis::RedisClient>(ioc_.get_executor(), ro);
  redis_->SetStateHandler([this](bool up) { SetHealth(up); });
  commands_ = redis_;
}

void ServiceHost::WatchCluster() {
  // The cluster client has no single connection to watch: serving means
  // every slot has a master this host is connected to.
  SetHealth(cluster_->healthy());
  cluster_watch_->expires_after(std::chrono::milliseconds(250));
  cluster_watch_->async_wait([this](boost::system::error_code ec) {
    if (!ec) WatchCluster();
  });
}

ServiceHost::~ServiceHost() { Shutdown(absl::ZeroDuration()); }

absl::Status ServiceHost::Start(const std::vector<grpc::Service*>& services) {
  if (absl::Status s = CheckGrpcServerTls(tls_); !s.ok()) return s;
  if (!metrics_listen_.empty()) {
    metrics_server_ = std::make_shared<metrics::MetricsServer>(ioc_.get_executor(),
                                                               [this] { return RenderMetrics(); });
    if (absl::Status s = metrics_server_->Listen(metrics_listen_); !s.ok()) {
      metrics_server_.reset();
      return s;
    }
  }
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          ioc_.get_executor());
  io_thread_ = std::thread([this] { ioc_.run(); });
  if (cluster_) {
    // Start keeps trying the seeds; until the map covers every slot the
    // service reports NOT_SERVING, and commands fail with kUnavailable.
    cluster_->Start([name = service_name_](absl::Status s) {
      if (!s.ok()) {
        spdlog::error("event=redis_cluster_unavailable service={} error=\"{}\"", name,
                      std::string(s.message()));
      }
    });
    cluster_watch_ = std::make_unique<boost::asio::steady_timer>(ioc_);
    boost::asio::post(ioc_, [this] { WatchCluster(); });
  } else {
    redis_->Start();
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen_, GrpcServerCredentials(tls_), &port_);
  for (grpc::Service* s : services) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
  observers.push_back(NewRpcObserverFactory(&server_rpcs_));
  builder.experimental().SetInterceptorCreators(std::move(observers));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(service_name_ + ": cannot listen on " + listen_);
  }
  {
    absl::MutexLock lock(&health_mu_);
    serving_ = true;
    ApplyHealth();
  }
  spdlog::info("event=listening service={} addr={} port={} tls={} metrics_port={}", service_name_,
               listen_, port_,
               !tls_.serves_tls() ? "off"
               : tls_.dials_tls() ? "mutual"
                                  : "on",
               metrics_port());
  return absl::OkStatus();
}

void ServiceHost::SetHealth(bool redis_up) {
  // The health service's setter is thread-safe; the lock orders it against
  // Start and Shutdown.
  absl::MutexLock lock(&health_mu_);
  redis_up_ = redis_up;
  ApplyHealth();
}

void ServiceHost::ApplyHealth() {
  if (!serving_) return;
  server_->GetHealthCheckService()->SetServingStatus(redis_up_);
  server_->GetHealthCheckService()->SetServingStatus(service_name_, redis_up_);
}

void ServiceHost::Shutdown(absl::Duration grace) {
  if (stopping_.exchange(true)) return;
  if (server_) {
    {
      absl::MutexLock lock(&health_mu_);
      serving_ = false;
    }
    server_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  }
  if (metrics_server_) metrics_server_->Stop();
  if (cluster_watch_) {
    boost::asio::post(ioc_, [this] { cluster_watch_->cancel(); });
  }
  if (cluster_) cluster_->Stop();
  if (redis_) redis_->Stop();
  work_.reset();
  ioc_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

std::string ServiceHost::RenderMetrics() const {
  std::string out;
  metrics::AppendHeader(&out, "chat_service_up", "gauge",
                        "1 while the service is serving and its Redis connection is up.");
  absl::StrAppend(&out, "chat_service_up{service=\"", service_name_, "\"} ",
                  commands_->healthy() && !stopping_.load() ? 1 : 0, "\n");
  server_rpcs_.Render(&out);
  client_rpcs_.Render(&out);
  if (cluster_) {
    redis::AppendRedisMetrics(redis::ClusterConnections(*cluster_, "commands"), &out);
    redis::AppendClusterMetrics(*cluster_, "commands", &out);
  } else {
    redis::AppendRedisMetrics({{"commands", redis_.get()}}, &out);
  }
  for (const auto& render : extra_metrics_) render(&out);
  return out;
}

}  // namespace chat
