#include "common/keys.h"

#include <gtest/gtest.h>

namespace chat::keys {
namespace {

TEST(KeysTest, ValidIds) {
  EXPECT_TRUE(IsValidId("general"));
  EXPECT_TRUE(IsValidId("A-b_9"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidId("a:b"));
  EXPECT_FALSE(IsValidId("a}b"));
  EXPECT_FALSE(IsValidId("a b"));
}

TEST(KeysTest, AllKeysOfAChannelShareOneHashTag) {
  const std::string tag = ChannelTag("s1", "c1");
  EXPECT_EQ(tag, "{c:s1:c1}");
  for (const std::string& key :
       {ChannelLog("s1", "c1"), ChannelSeq("s1", "c1"), ChannelTopic("s1", "c1"),
        ChannelNonce("s1", "c1", "u1", "n{1}")}) {
    EXPECT_EQ(key.substr(0, tag.size()), tag) << key;
  }
  EXPECT_EQ(UserProfile("u").substr(0, 5), "{u:u}");
  EXPECT_EQ(UserTopic("u").substr(0, 5), "{u:u}");
  EXPECT_EQ(ServerMembers("s").substr(0, 5), "{s:s}");
}

}  // namespace
}  // namespace chat::keys
