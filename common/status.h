// Status helpers shared by every component: the few macros Abseil 20220623
// lacks, and the one conversion between absl::Status and grpc::Status.
#ifndef CHATSUITE_COMMON_STATUS_H_
#define CHATSUITE_COMMON_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// RETURN_IF_ERROR(expr): returns the status of expr from the enclosing
// function when it is not OK.
#define CHAT_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status chat_status_ = (expr);        \
    if (!chat_status_.ok()) return chat_status_; \
  } while (0)

namespace chat {

// ToGrpcStatus maps an absl::Status onto the gRPC status with the same code
// and message (the canonical codes are numerically identical).
grpc::Status ToGrpcStatus(const absl::Status& status);

// FromGrpcStatus is the inverse of ToGrpcStatus.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace chat

#endif  // CHATSUITE_COMMON_STATUS_H_
