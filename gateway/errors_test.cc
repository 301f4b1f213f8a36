#include "gateway/errors.h"

#include <gtest/gtest.h>

#include "common/status.h"

namespace chat::gateway {
namespace {

TEST(ErrorsTest, AServiceReasonIsTheCode) {
  ErrorFrameFields f =
      ErrorFrameFor(WithReason(absl::FailedPreconditionError("x"), "already_friends"));
  EXPECT_EQ(f.code, "already_friends");
  EXPECT_FALSE(f.upstream_failure);
  f = ErrorFrameFor(
      WithReason(absl::ResourceExhaustedError("x"), "rate_limited", absl::Milliseconds(1500)));
  EXPECT_EQ(f.code, "rate_limited");
  EXPECT_TRUE(f.rate_limited);
  EXPECT_EQ(f.retry_after, absl::Milliseconds(1500));
}

TEST(ErrorsTest, CanonicalCodesMapOneToOne) {
  EXPECT_EQ(ErrorFrameFor(absl::InvalidArgumentError("x")).code, "invalid_argument");
  EXPECT_EQ(ErrorFrameFor(absl::PermissionDeniedError("x")).code, "not_member");
  EXPECT_EQ(ErrorFrameFor(absl::NotFoundError("x")).code, "not_found");
  EXPECT_EQ(ErrorFrameFor(absl::ResourceExhaustedError("x")).code, "rate_limited");
  for (const absl::Status& s : {absl::UnavailableError("x"), absl::DeadlineExceededError("x")}) {
    ErrorFrameFields f = ErrorFrameFor(s);
    EXPECT_EQ(f.code, "unavailable");
    EXPECT_TRUE(f.upstream_failure);
  }
  ErrorFrameFields f = ErrorFrameFor(absl::DataLossError("x"));
  EXPECT_EQ(f.code, "internal");
  EXPECT_TRUE(f.upstream_failure);
}

TEST(ErrorsTest, UpstreamFailuresGetFixedTextTheRequestsOwnErrorsKeepTheirs) {
  // gRPC's and the Redis client's texts name internal addresses.
  const absl::Status down = absl::UnavailableError(
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.3.7:50051: Connection "
      "refused");
  EXPECT_EQ(ErrorFrameFor(down).message, "service unavailable: try again");
  EXPECT_EQ(ErrorFrameFor(absl::InternalError("redis 10.0.3.9:6379: ERR script")).message,
            "internal error");
  EXPECT_EQ(ErrorFrameFor(absl::InvalidArgumentError("message too long")).message,
            "message too long");
  EXPECT_EQ(
      ErrorFrameFor(WithReason(absl::FailedPreconditionError("already friends"), "already_friends"))
          .message,
      "already friends");
}

TEST(ErrorsTest, TokenFailuresCloseWithTheirCode) {
  EXPECT_EQ(CloseCodeForToken(absl::DeadlineExceededError("expired")), close_code::kTokenExpired);
  EXPECT_EQ(CloseCodeForToken(absl::UnauthenticatedError("bad")), close_code::kInvalidToken);
  EXPECT_EQ(CloseCodeForToken(absl::InvalidArgumentError("bad")), close_code::kInvalidToken);
}

}  // namespace
}  // namespace chat::gateway
