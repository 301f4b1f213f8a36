// FinishUnary: the one way our gRPC callback services complete a unary call
// from an asynchronous core method.
#ifndef CHATSUITE_COMMON_UNARY_H_
#define CHATSUITE_COMMON_UNARY_H_

#include <grpcpp/support/server_callback.h>

#include <utility>

#include "absl/status/statusor.h"
#include "common/status.h"

namespace chat {

// FinishUnary runs call(done) and finishes the RPC when done receives the
// result: *resp is filled on success, the status (with its reason) otherwise.
// The reactor and resp stay valid until Finish; done may run on any thread.
template <typename Resp, typename Call>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, Resp* resp, Call&& call) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  call([reactor, resp](absl::StatusOr<Resp> result) {
    if (!result.ok()) return reactor->Finish(ToGrpcStatus(result.status()));
    *resp = *std::move(result);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace chat

#endif  // CHATSUITE_COMMON_UNARY_H_
