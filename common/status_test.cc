#include "common/status.h"

#include <gtest/gtest.h>

namespace chat {
namespace {

TEST(StatusTest, ReasonAndRetrySurviveTheGrpcBoundary) {
  absl::Status s = WithReason(absl::ResourceExhaustedError("slow down"), "rate_limited",
                              absl::Milliseconds(1234));
  absl::Status back = FromGrpcStatus(ToGrpcStatus(s));
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "slow down");
  EXPECT_EQ(ReasonOf(back), "rate_limited");
  EXPECT_EQ(RetryAfterOf(back), absl::Milliseconds(1234));
}

TEST(StatusTest, PlainStatusesHaveNoReason) {
  absl::Status back = FromGrpcStatus(ToGrpcStatus(absl::NotFoundError("x")));
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(back), "");
  EXPECT_EQ(RetryAfterOf(back), absl::ZeroDuration());
  EXPECT_TRUE(FromGrpcStatus(ToGrpcStatus(absl::OkStatus())).ok());
}

}  // namespace
}  // namespace chat
