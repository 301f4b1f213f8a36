#include "gateway/auth.h"

#include <gtest/gtest.h>

namespace chat::gateway {
namespace {

User Alice() {
  User u;
  u.set_id("alice");
  u.set_name("Alice");
  u.set_image("https://img/a.png");
  return u;
}

TEST(TokenVerifierTest, RoundTripsClaims) {
  TokenVerifier v("secret");
  auto token = v.Mint(Alice(), absl::Hours(1));
  ASSERT_TRUE(token.ok());
  auto id = v.Verify(*token);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->user.id(), "alice");
  EXPECT_EQ(id->user.name(), "Alice");
  EXPECT_EQ(id->user.image(), "https://img/a.png");
}

TEST(TokenVerifierTest, RejectsWrongSecretAndGarbage) {
  auto token = TokenVerifier("other").Mint(Alice(), absl::Hours(1));
  ASSERT_TRUE(token.ok());
  TokenVerifier v("secret");
  EXPECT_EQ(v.Verify(*token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v.Verify("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v.Verify("a.b.c").status().code(), absl::StatusCode::kUnauthenticated);
  // A tampered payload (same header and signature) fails.
  std::string t = *TokenVerifier("secret").Mint(Alice(), absl::Hours(1));
  size_t dot = t.find('.');
  t[dot + 5] = t[dot + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(v.Verify(t).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, RejectsAlgNone) {
  // {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":99999999999} . (no signature)
  const std::string token =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OTl9.";
  EXPECT_EQ(TokenVerifier("secret").Verify(token).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, ExpiredIsDistinct) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  TokenVerifier minting("secret", [&] { return now; });
  auto token = minting.Mint(Alice(), absl::Minutes(1));
  TokenVerifier later("secret", [&] { return now + absl::Minutes(2); });
  EXPECT_EQ(later.Verify(*token).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(TokenVerifierTest, RejectsInvalidSubject) {
  User u = Alice();
  u.set_id("a:b}");
  TokenVerifier v("secret");
  EXPECT_EQ(v.Verify(*v.Mint(u, absl::Hours(1))).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace chat::gateway
