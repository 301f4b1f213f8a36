#include "gateway/rate_limiter.h"

#include <gtest/gtest.h>

namespace chat::gateway {
namespace {

TEST(TokenBucketTest, BurstThenRate) {
  TokenBucket b(/*rate=*/2, /*burst=*/3);
  absl::Time t = absl::FromUnixSeconds(100);
  absl::Duration retry;
  EXPECT_TRUE(b.Take(t, &retry));
  EXPECT_TRUE(b.Take(t, &retry));
  EXPECT_TRUE(b.Take(t, &retry));
  EXPECT_FALSE(b.Take(t, &retry));
  EXPECT_EQ(retry, absl::Milliseconds(500));
  EXPECT_FALSE(b.Take(t + absl::Milliseconds(400), &retry));
  EXPECT_EQ(retry, absl::Milliseconds(100));
  EXPECT_TRUE(b.Take(t + absl::Milliseconds(500), &retry));
  // Refill is capped at the burst.
  t += absl::Hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.Take(t, &retry));
  EXPECT_FALSE(b.Take(t, &retry));
}

TEST(TokenBucketTest, ClockGoingBackwardsGrantsNothing) {
  TokenBucket b(1, 1);
  absl::Time t = absl::FromUnixSeconds(100);
  EXPECT_TRUE(b.Take(t, nullptr));
  EXPECT_FALSE(b.Take(t - absl::Seconds(10), nullptr));
  EXPECT_FALSE(b.Take(t, nullptr));
}

}  // namespace
}  // namespace chat::gateway
