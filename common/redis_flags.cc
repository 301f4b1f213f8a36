#include "common/redis_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, redis, chat::EnvOr("CHAT_REDIS", "127.0.0.1:6379"),
          "Redis host:port (env CHAT_REDIS)");
ABSL_FLAG(std::string, redis_cluster, chat::EnvOr("CHAT_REDIS_CLUSTER", ""),
          "seed nodes host:port,host:port,... of a Redis Cluster; when set, replaces --redis "
          "(env CHAT_REDIS_CLUSTER)");

namespace chat {

absl::StatusOr<RedisTarget> RedisTargetFromFlags() {
  const std::string cluster = absl::GetFlag(FLAGS_redis_cluster);
  if (!cluster.empty()) {
    absl::StatusOr<std::vector<HostPort>> seeds = ParseHostPorts(cluster);
    if (!seeds.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--redis_cluster: ", seeds.status().message()));
    }
    return RedisTarget::Cluster(*std::move(seeds));
  }
  absl::StatusOr<HostPort> instance = ParseHostPort(absl::GetFlag(FLAGS_redis));
  if (!instance.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--redis: ", instance.status().message()));
  }
  return RedisTarget(*std::move(instance));
}

}  // namespace chat
