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

TEST(ErrorsTest, TokenFailuresCloseWithTheirCode) {
  EXPECT_EQ(CloseCodeForToken(absl::DeadlineExceededError("expired")), close_code::kTokenExpired);
  EXPECT_EQ(CloseCodeForToken(absl::UnauthenticatedError("bad")), close_code::kInvalidToken);
  EXPECT_EQ(CloseCodeForToken(absl::InvalidArgumentError("bad")), close_code::kInvalidToken);
}

}  // namespace
}  // namespace chat::gateway
