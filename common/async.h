// Done<T>: the one completion callback of every asynchronous call in the
// suite (stores, cores, gRPC clients). It is called exactly once, with the
// result or the most specific error status, on a thread the callee documents.
#ifndef CHATSUITE_COMMON_ASYNC_H_
#define CHATSUITE_COMMON_ASYNC_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace chat {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

}  // namespace chat

#endif  // CHATSUITE_COMMON_ASYNC_H_
