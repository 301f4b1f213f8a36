// Configuration helpers: every flag of every binary may also come from the
// environment, so containers can be configured either way.
#ifndef CHATSUITE_COMMON_CONFIG_H_
#define CHATSUITE_COMMON_CONFIG_H_

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace chat {

// EnvOr returns the environment variable name, or fallback when unset/empty.
inline std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : std::move(fallback);
}

// EnvOrInt is EnvOr for integers; a malformed value yields fallback.
inline int64_t EnvOrInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  int64_t out;
  return (v != nullptr && absl::SimpleAtoi(v, &out)) ? out : fallback;
}

// HostPort is a parsed "host:port".
struct HostPort {
  std::string host;
  int port = 0;
};

// ParseHostPort parses "host:port" (port 1..65535, or 0 too with
// allow_port_zero: "pick one"). kInvalidArgument when malformed.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view s, bool allow_port_zero = false);

// RedisTarget is where a binary keeps its state: one Redis instance
// (--redis) or a Redis Cluster, named by some of its nodes (--redis_cluster).
struct RedisTarget {
  HostPort instance;
  std::vector<HostPort> cluster;  // Seed nodes; non-empty means cluster mode.

  RedisTarget() = default;
  RedisTarget(HostPort i) : instance(std::move(i)) {}  // NOLINT: a plain instance converts.
  RedisTarget(std::string host, int port) : instance{std::move(host), port} {}
  static RedisTarget Cluster(std::vector<HostPort> seeds) {
    RedisTarget t;
    t.cluster = std::move(seeds);
    return t;
  }
  bool is_cluster() const { return !cluster.empty(); }
};

// ParseHostPorts parses "h1:p1,h2:p2,..." (at least one). kInvalidArgument
// when any is malformed.
absl::StatusOr<std::vector<HostPort>> ParseHostPorts(absl::string_view s);

}  // namespace chat

#endif  // CHATSUITE_COMMON_CONFIG_H_
