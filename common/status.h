// Status helpers shared by every component: error reasons that travel with a
// status, and the one conversion between absl::Status and grpc::Status.
#ifndef CHATSUITE_COMMON_STATUS_H_
#define CHATSUITE_COMMON_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// WithReason returns status carrying a client-facing error code (reason, in
// snake_case) and an optional retry delay, which survive ToGrpcStatus /
// FromGrpcStatus across processes.
absl::Status WithReason(absl::Status status, absl::string_view reason,
                        absl::Duration retry_after = absl::ZeroDuration());
// ReasonOf returns the reason attached by WithReason, or "".
std::string ReasonOf(const absl::Status& status);
// RetryAfterOf returns the retry delay attached by WithReason, or zero.
absl::Duration RetryAfterOf(const absl::Status& status);

// ToGrpcStatus maps an absl::Status onto the gRPC status with the same code
// and message (the canonical codes are numerically identical); a reason
// travels in the error details.
grpc::Status ToGrpcStatus(const absl::Status& status);

// FromGrpcStatus is the inverse of ToGrpcStatus.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace chat

#endif  // CHATSUITE_COMMON_STATUS_H_
