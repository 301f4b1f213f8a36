#include "gateway/errors.h"

#include "common/status.h"

namespace chat::gateway {

ErrorFrameFields ErrorFrameFor(const absl::Status& status) {
  ErrorFrameFields out;
  if (std::string reason = ReasonOf(status); !reason.empty()) {
    out.message = std::string(status.message());
    out.rate_limited = reason == "rate_limited";
    out.code = std::move(reason);
    out.retry_after = RetryAfterOf(status);
    return out;
  }
  out.message = std::string(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      out.code = "invalid_argument";
      break;
    case absl::StatusCode::kPermissionDenied:
      out.code = "not_member";
      break;
    case absl::StatusCode::kNotFound:
      out.code = "not_found";
      break;
    case absl::StatusCode::kResourceExhausted:
      out.code = "rate_limited";
      out.rate_limited = true;
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      out.code = "unavailable";
      out.message = "service unavailable: try again";
      out.upstream_failure = true;
      break;
    default:
      out.code = "internal";
      out.message = "internal error";
      out.upstream_failure = true;
      break;
  }
  return out;
}

uint16_t CloseCodeForToken(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDeadlineExceeded ? close_code::kTokenExpired
                                                              : close_code::kInvalidToken;
}

}  // namespace chat::gateway
