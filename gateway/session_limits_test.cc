#include "gateway/session_limits.h"

#include <gtest/gtest.h>

#include <vector>

namespace chat::gateway {
namespace {

TEST(SessionLimitsTest, CountsPerKeyAndFreesOnRelease) {
  SessionLimits limits(/*per_address=*/2, /*per_user=*/1);
  auto a1 = limits.AdmitAddress("10.0.0.1");
  auto a2 = limits.AdmitAddress("10.0.0.1");
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(limits.AdmitAddress("10.0.0.1"), nullptr);
  EXPECT_NE(limits.AdmitAddress("10.0.0.2"), nullptr);  // Another address; released at once.
  a1.reset();
  EXPECT_NE(limits.AdmitAddress("10.0.0.1"), nullptr);
  auto u = limits.AdmitUser("alice");
  ASSERT_TRUE(u);
  EXPECT_EQ(limits.AdmitUser("alice"), nullptr);
  EXPECT_NE(limits.AdmitUser("bob"), nullptr);
  u.reset();
  EXPECT_NE(limits.AdmitUser("alice"), nullptr);
}

TEST(SessionLimitsTest, ZeroMeansNoLimit) {
  SessionLimits limits(0, 0);
  std::vector<std::unique_ptr<SessionLimits::Slot>> slots;
  for (int i = 0; i < 1000; ++i) {
    slots.push_back(limits.AdmitUser("alice"));
    ASSERT_NE(slots.back(), nullptr);
  }
}

}  // namespace
}  // namespace chat::gateway
