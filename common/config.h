// Configuration helpers: every flag of every binary may also come from the
// environment, so containers can be configured either way.
#ifndef CHATSUITE_COMMON_CONFIG_H_
#define CHATSUITE_COMMON_CONFIG_H_

#include <cstdlib>
#include <string>
#include <utility>

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

}  // namespace chat

#endif  // CHATSUITE_COMMON_CONFIG_H_
