// The Redis flags every binary takes: --redis=host:port (env CHAT_REDIS), one
// instance, the default; --redis_cluster=h1:p1,h2:p2,... (env
// CHAT_REDIS_CLUSTER), seed nodes of a Redis Cluster, which when set
// replaces --redis.
#ifndef CHATSUITE_COMMON_REDIS_FLAGS_H_
#define CHATSUITE_COMMON_REDIS_FLAGS_H_

#include "absl/status/statusor.h"
#include "common/config.h"

namespace chat {

// RedisTargetFromFlags reads both flags; kInvalidArgument naming the flag
// when its value is malformed.
absl::StatusOr<RedisTarget> RedisTargetFromFlags();

}  // namespace chat

#endif  // CHATSUITE_COMMON_REDIS_FLAGS_H_
