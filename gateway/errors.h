// The WebSocket edge's error vocabulary: the close codes this gateway sends
// and the mapping from an absl::Status to the one error frame a client gets.
// docs/protocol.md documents each code and what a client does about it.
#ifndef CHATSUITE_GATEWAY_ERRORS_H_
#define CHATSUITE_GATEWAY_ERRORS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace chat::gateway {

// Close codes this gateway sends.
namespace close_code {
inline constexpr uint16_t kTooBig = 1009;         // Frame over the size limit.
inline constexpr uint16_t kTryAgainLater = 1013;  // Upstream unavailable at identify.
inline constexpr uint16_t kIdentifyTimeout = 4001;
inline constexpr uint16_t kInvalidToken = 4002;
inline constexpr uint16_t kTokenExpired = 4003;
inline constexpr uint16_t kForbidden = 4004;        // Seed endpoint: not a member.
inline constexpr uint16_t kRateLimited = 4008;      // Sustained abuse.
inline constexpr uint16_t kSlowConsumer = 4009;     // Outbound queue overflow: resume.
inline constexpr uint16_t kDraining = 4010;         // Gateway shutting down: reconnect.
inline constexpr uint16_t kTooManySessions = 4011;  // The user holds the most sessions allowed.
inline constexpr uint16_t kTooManyTopics = 4012;    // More channels than one session may follow.
inline constexpr uint16_t kRemoved = 4013;          // Seed endpoint: removed from the server.
}  // namespace close_code

// ErrorFrameFields is what an error frame says about a failed request.
struct ErrorFrameFields {
  std::string code;  // The frame's "code" (docs/protocol.md lists them).
  // The frame's "message": the service's own words about the request, or, for
  // an upstream failure, a fixed text (the status's own text, gRPC's or the
  // Redis client's, may name internal addresses: it is for the log only).
  std::string message;
  absl::Duration retry_after;
  // The failure lies upstream (unavailable or internal), not in the request.
  bool upstream_failure = false;
  bool rate_limited = false;
};

// ErrorFrameFor maps a non-OK status to its error frame: the reason a service
// attached (common/status.h) when there is one, otherwise a code derived from
// the canonical status code.
ErrorFrameFields ErrorFrameFor(const absl::Status& status);

// CloseCodeForToken maps a token verification failure to its close code:
// kTokenExpired for kDeadlineExceeded, kInvalidToken otherwise.
uint16_t CloseCodeForToken(const absl::Status& status);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_ERRORS_H_
