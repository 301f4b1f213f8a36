// The one way the suite's processes call each other over gRPC: a channel that
// spreads calls over every address its target resolves to, and CallUnary,
// which runs one asynchronous unary call and hands its result to a Done<T>.
// No call ever blocks the caller's thread.
#ifndef CHATSUITE_COMMON_GRPC_CLIENT_H_
#define CHATSUITE_COMMON_GRPC_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/async.h"
#include "common/grpc_tls.h"
#include "common/metrics.h"
#include "common/request_context.h"
#include "common/status.h"

namespace chat {

// NewChannel returns a channel to target ("host:port" or "dns:///name:port"),
// or null for an empty target. Calls are spread round-robin over every
// address the name resolves to (a headless Kubernetes Service lists every
// pod; pick_first would pin one). It starts connecting at once, and retries
// a peer that is not up with a backoff capped at 1 s (gRPC's default grows
// to minutes: a gateway started before its chat service stayed unready for
// many seconds after the service came up). With tls.ca_file set it speaks
// TLS (grpc_tls.h).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, const GrpcTls& tls = {});

// ChannelReady reports whether channel is connected and nudges an idle or
// failed one to (re)connect. False for a null channel.
bool ChannelReady(const std::shared_ptr<grpc::Channel>& channel);

// ChannelWatcher drives channels to (re)connect. A channel used only through
// the callback API makes connection progress (including its reconnect
// backoff timers) only when some thread polls gRPC: with no call in flight
// that is gRPC's backup poller, every 5 s. Watching the channels' state on a
// completion queue that a thread of its own polls makes a peer that comes
// up usable at once. Destruction stops the thread within kWatchPeriod.
class ChannelWatcher {
 public:
  static constexpr absl::Duration kWatchPeriod = absl::Milliseconds(250);
  explicit ChannelWatcher(std::vector<std::shared_ptr<grpc::Channel>> channels);
  ~ChannelWatcher();
  ChannelWatcher(const ChannelWatcher&) = delete;
  ChannelWatcher& operator=(const ChannelWatcher&) = delete;

 private:
  void Watch(size_t i);
  void Run();

  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  grpc::CompletionQueue cq_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// CallUnary runs one unary call started by start(ctx, req, resp, on_done)
// (typically a lambda over stub->async()->Method) with a deadline, and calls
// done with the response or the call's status (reasons kept, see status.h).
// done runs on a gRPC thread: callers post it to their own strand. The
// calling thread's request tags (request_context.h) go along as metadata;
// observed, when given, counts the call's outcome and latency.
template <typename Req, typename Resp, typename Start>
void CallUnary(Req req, absl::Duration deadline, Done<Resp> done, Start start,
               std::shared_ptr<metrics::RpcMetrics::Method> observed = nullptr) {
  struct Call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
    Done<Resp> done;
    std::shared_ptr<metrics::RpcMetrics::Method> observed;  // May outlive its RpcMetrics.
    absl::Time started;
  };
  auto* call = new Call;  // Owned by the call until its callback has run.
  call->req = std::move(req);
  call->done = std::move(done);
  call->observed = std::move(observed);
  call->started = absl::Now();
  call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  const RequestTags& tags = CurrentRequest();
  if (!tags.user_id.empty()) call->ctx.AddMetadata(kUserIdHeader, tags.user_id);
  if (!tags.request_id.empty()) call->ctx.AddMetadata(kRequestIdHeader, tags.request_id);
  start(&call->ctx, &call->req, &call->resp, [call](grpc::Status status) {
    std::unique_ptr<Call> owned(call);
    if (owned->observed != nullptr) {
      owned->observed->Record(status.error_code(), absl::Now() - owned->started);
    }
    if (status.ok()) {
      owned->done(std::move(owned->resp));
    } else {
      owned->done(FromGrpcStatus(status));
    }
  });
}

}  // namespace chat

#endif  // CHATSUITE_COMMON_GRPC_CLIENT_H_
