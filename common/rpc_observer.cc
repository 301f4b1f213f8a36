#include "common/rpc_observer.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <string>

#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/request_context.h"

namespace chat {

namespace {

using grpc::experimental::InterceptionHookPoints;

std::string Header(const grpc::ServerContextBase* ctx, const char* name) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(name);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

class RpcObserver final : public grpc::experimental::Interceptor {
 public:
  RpcObserver(grpc::experimental::ServerRpcInfo* info, metrics::RpcMetrics* metrics)
      : info_(info), method_(metrics->For(info->method())), started_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const absl::Duration took = absl::Now() - started_;
      method_->Record(status.error_code(), took);
      Log(status, took);
    }
    methods->Proceed();
  }

 private:
  void Log(const grpc::Status& status, absl::Duration took) {
    const bool fault = IsServerFault(status.error_code());
    if (!fault && !spdlog::should_log(spdlog::level::debug)) return;
    // The ids go through the thread's request tags, as every line does.
    ScopedRequest scope(RequestTags{Header(info_->server_context(), kUserIdHeader),
                                    Header(info_->server_context(), kRequestIdHeader)});
    if (!fault) {
      spdlog::debug("event=rpc method={} code={} ms={:.2f}", info_->method(),
                    std::string(metrics::StatusCodeName(status.error_code())),
                    absl::ToDoubleMilliseconds(took));
      return;
    }
    static LogLimiter limiter(20);
    uint64_t suppressed = 0;
    if (!limiter.Allow(&suppressed)) return;
    spdlog::warn("event=rpc_failed method={} code={} ms={:.2f} error=\"{}\" suppressed={}",
                 info_->method(), std::string(metrics::StatusCodeName(status.error_code())),
                 absl::ToDoubleMilliseconds(took), status.error_message(), suppressed);
  }

  grpc::experimental::ServerRpcInfo* info_;
  std::shared_ptr<metrics::RpcMetrics::Method> method_;
  absl::Time started_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(metrics::RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcObserver(info, metrics_);
  }

 private:
  metrics::RpcMetrics* metrics_;
};

}  // namespace

bool IsServerFault(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    default:
      return false;
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcObserverFactory(
    metrics::RpcMetrics* metrics) {
  return std::make_unique<Factory>(metrics);
}

}  // namespace chat
