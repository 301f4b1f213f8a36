#include "gateway/http_session.h"

#include <gtest/gtest.h>

namespace chat::gateway {
namespace {

TEST(HttpSessionTest, OriginMatching) {
  // Non-browser clients send no Origin.
  EXPECT_TRUE(OriginAllowed("", "chat.example.com", {}));
  // The default: only the gateway's own origin, case-insensitively.
  EXPECT_TRUE(OriginAllowed("https://chat.example.com", "chat.example.com", {}));
  EXPECT_TRUE(OriginAllowed("http://Chat.Example.com:8080", "chat.example.com:8080", {}));
  EXPECT_FALSE(OriginAllowed("https://evil.example", "chat.example.com", {}));
  EXPECT_FALSE(OriginAllowed("https://chat.example.com:444", "chat.example.com", {}));
  EXPECT_FALSE(OriginAllowed("chat.example.com", "chat.example.com", {}));  // No scheme.
  // A list replaces the default; "*" allows all.
  EXPECT_TRUE(OriginAllowed("https://app.example", "gw", {"https://app.example"}));
  EXPECT_FALSE(OriginAllowed("https://gw", "gw", {"https://app.example"}));
  EXPECT_TRUE(OriginAllowed("https://anything", "gw", {"*"}));
}

TEST(HttpSessionTest, DevLoginIds) {
  EXPECT_EQ(DevUserId("Alice"), "alice");
  EXPECT_EQ(DevUserId("  Bob Smith!! "), "bob-smith");
  EXPECT_EQ(DevUserId("a_b-c"), "a_b-c");
  EXPECT_EQ(DevUserId("Zoë"), "zo");
  EXPECT_EQ(DevUserId("!!!"), "");
  EXPECT_EQ(DevUserId(""), "");
  EXPECT_EQ(DevUserId(std::string(40, 'x')).size(), 32u);
  EXPECT_EQ(DevUserId("{x}:y"), "x-y");  // Nothing that could escape a key.
}

}  // namespace
}  // namespace chat::gateway
