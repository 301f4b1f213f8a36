// RpcObserver: a gRPC server interceptor that every service installs
// (ServiceHost). It counts each handled call by method and status code with
// its latency (RpcMetrics, rendered at the service's /metrics), and logs each
// call that failed on the service's side (INTERNAL, UNKNOWN, DATA_LOSS,
// UNAVAILABLE, DEADLINE_EXCEEDED) with the user and request ids the gateway
// sent as metadata (request_context.h), at most 20 lines a second. With
// --log_level=debug every call is logged.
#ifndef CHATSUITE_COMMON_RPC_OBSERVER_H_
#define CHATSUITE_COMMON_RPC_OBSERVER_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "common/metrics.h"

namespace chat {

// NewRpcObserverFactory returns the interceptor factory; metrics must outlive
// the server it is installed on.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcObserverFactory(
    metrics::RpcMetrics* metrics);

// IsServerFault: a status code that says the service (or what it depends on)
// failed, rather than the request.
bool IsServerFault(int code);

}  // namespace chat

#endif  // CHATSUITE_COMMON_RPC_OBSERVER_H_
