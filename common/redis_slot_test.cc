#include "common/redis_slot.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>
#include <string>
#include <vector>

#include "common/keys.h"
#include "common/redis_test_server.h"

namespace chat::redis {
namespace {

TEST(RedisSlotTest, Crc16IsXmodem) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);  // The standard check value.
  EXPECT_EQ(Crc16(""), 0);
}

TEST(RedisSlotTest, HashTagFollowsRedisRules) {
  EXPECT_EQ(HashTag("plain"), "plain");
  EXPECT_EQ(HashTag("{user1000}.following"), "user1000");
  EXPECT_EQ(HashTag("a{b}{c}"), "b");  // The first tag only.
  EXPECT_EQ(HashTag("{}x"), "{}x");    // An empty tag: the whole key.
  EXPECT_EQ(HashTag("x{"), "x{");      // No closing brace.
  EXPECT_EQ(HashTag("}{a}"), "a");     // A '}' before the '{' does not count.
  EXPECT_EQ(HashTag("{{a}}"), "{a");   // Up to the first '}'.
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("{user1000}.followers"));
}

// The keys of one channel, one user and one server each hash to one slot:
// the tag (not the rest of the name) decides.
TEST(RedisSlotTest, TheSuiteKeysOfOneOwnerShareOneSlot) {
  const int channel = KeySlot(keys::ChannelTag("s1", "c1"));
  for (const std::string& key :
       {keys::ChannelLog("s1", "c1"), keys::ChannelSeq("s1", "c1"), keys::ChannelTopic("s1", "c1"),
        keys::ChannelRollback("s1", "c1"), keys::ChannelNonce("s1", "c1", "u1", "n{1}"),
        keys::ChannelTyping("s1", "c1", "u1"), keys::ChannelMentions("s1", "c1", "u1"),
        keys::ChannelRevised("s1", "c1"), keys::ChannelUncounted("s1", "c1")}) {
    EXPECT_EQ(KeySlot(key), channel) << key;
  }
  const int user = KeySlot(keys::UserProfile("u1"));
  for (const std::string& key :
       {keys::UserServers("u1"), keys::UserTopic("u1"), keys::UserFriends("u1"),
        keys::UserPresence("u1"), keys::UserSessions("u1"), keys::UserLog("u1"),
        keys::UserLogSeq("u1"), keys::UserRollback("u1"), keys::UserReadState("u1")}) {
    EXPECT_EQ(KeySlot(key), user) << key;
  }
}

// Against the real thing: a cluster-mode redis-server's CLUSTER KEYSLOT for
// edge cases, the suite's keys and random binary keys.
TEST(RedisSlotTest, AgreesWithRedisClusterKeyslot) {
  testing::RedisTestServer server;
  server.set_cluster_enabled(true);
  ASSERT_TRUE(server.Start().ok());
  redisContext* c = redisConnect("127.0.0.1", server.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  std::vector<std::string> samples = {"",
                                      "foo",
                                      "bar",
                                      "{}",
                                      "{}x",
                                      "x{",
                                      "a{b}{c}",
                                      "}{a}",
                                      "{{a}}",
                                      keys::ChannelLog("demo", "general"),
                                      keys::UserLog("alice"),
                                      keys::ServerMembers("demo"),
                                      keys::PairInvitation("alice", "bob", "-"),
                                      std::string(keys::kInvitationExpiry)};
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string key(rng() % 24, '\0');
    for (char& ch : key)
      ch = static_cast<char>(rng() % 8 == 0 ? '{' : rng() % 8 == 0 ? '}' : rng());
    samples.push_back(key);
  }
  for (const std::string& key : samples) {
    auto* r =
        static_cast<redisReply*>(redisCommand(c, "CLUSTER KEYSLOT %b", key.data(), key.size()));
    ASSERT_TRUE(r != nullptr && r->type == REDIS_REPLY_INTEGER) << key;
    EXPECT_EQ(KeySlot(key), r->integer) << ::testing::PrintToString(key);
    freeReplyObject(r);
  }
  redisFree(c);
}

}  // namespace
}  // namespace chat::redis
