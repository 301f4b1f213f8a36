#include "tests/slot_guard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "common/redis_test_server.h"

namespace chat::testing {
namespace {

using ::testing::HasSubstr;

TEST(ParseMonitorLineTest, ReadsClientAndScriptLinesWithEscapes) {
  auto client =
      ParseMonitorLine(R"(1796249822.059138 [0 127.0.0.1:37700] "SET" "a \"b\"\\" "\x00\xff\n")");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_FALSE(client->from_script);
  EXPECT_EQ(client->args,
            (std::vector<std::string>{"SET", "a \"b\"\\", std::string("\0\xff\n", 3)}));
  auto script = ParseMonitorLine(R"(1796249822.059258 [0 lua] "set" "zz" "1")");
  ASSERT_TRUE(script.ok());
  EXPECT_TRUE(script->from_script);
  EXPECT_EQ(script->args.size(), 3u);
  EXPECT_FALSE(ParseMonitorLine("OK").ok());
  EXPECT_FALSE(ParseMonitorLine(R"(1.0 [0 lua] "unterminated)").ok());
  EXPECT_FALSE(ParseMonitorLine(R"(1.0 [0 lua] "bad \x4")").ok());
}

// Keys by a fixed rule (pure logic): every argument after the command that
// starts with "k" or "{" is a key.
std::vector<std::string> TestKeys(const std::vector<std::string>& args) {
  std::vector<std::string> keys;
  for (size_t i = 1; i < args.size(); ++i) {
    if (!args[i].empty() && (args[i][0] == 'k' || args[i][0] == '{')) keys.push_back(args[i]);
  }
  return keys;
}

TEST(CheckSlotsTest, AScriptIsHeldToTheSlotOfItsDeclaredKeys) {
  std::vector<MonitorEntry> entries = {
      {false, {"EVALSHA", "abc", "1", "{t}a"}},
      {true, {"SET", "{t}b", "1"}},          // Same tag: fine.
      {true, {"PUBLISH", "{t}topic", "x"}},  // Same tag: fine.
      {false, {"EVALSHA", "def", "1", "{t}a"}},
      {true, {"SET", "{u}b", "1"}},       // Another slot.
      {true, {"PUBLISH", "other", "x"}},  // A topic in another slot.
      {false, {"EVAL", "return 1\nmore", "0"}},
      {true, {"GET", "kx"}},   // No declared keys.
      {false, {"GET", "kx"}},  // A client command after the script: fine.
      {false, {"MSET", "{t}a", "1", "{u}b", "2"}},
  };
  std::vector<std::string> findings = CheckSlots(entries, TestKeys);
  ASSERT_EQ(findings.size(), 4u) << ::testing::PrintToString(findings);
  EXPECT_THAT(findings[0], HasSubstr("EVALSHA def"));
  EXPECT_THAT(findings[0], HasSubstr("SET on \"{u}b\""));
  EXPECT_THAT(findings[1], HasSubstr("PUBLISH on \"other\""));
  EXPECT_THAT(findings[2], HasSubstr("EVAL return 1 declares no keys"));
  EXPECT_THAT(findings[3], HasSubstr("MSET touches keys in 2 slots"));
}

redisReply* Command(redisContext* c, std::vector<std::string> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
}

// Against a real (non-cluster) Redis, which runs all of these: the guard
// names exactly the ones a cluster would refuse.
TEST(SlotGuardTest, NamesWhatAClusterWouldRefuse) {
  RedisTestServer server;
  ASSERT_TRUE(server.Start().ok());
  SlotGuard guard;
  ASSERT_TRUE(guard.Start(server.port()).ok());
  redisContext* c = redisConnect("127.0.0.1", server.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  const std::vector<std::vector<std::string>> commands = {
      {"MSET", "{x}a", "1", "{x}b", "2"},  // fine
      {"EVAL", "redis.call('SET', KEYS[1], 1) return redis.call('GET', '{x}b')", "1",
       "{x}a"},                                                             // fine
      {"MSET", "a", "1", "b", "2"},                                         // 2 slots
      {"EVAL", "return redis.call('GET', 'elsewhere')", "1", "{x}a"},       // other key
      {"EVAL", "return redis.call('PUBLISH', 'topic', 'm')", "1", "{x}a"},  // other topic
      {"EVAL", "return redis.call('INCR', '{x}n')", "0"},                   // undeclared
      {"SUNIONSTORE", "{y}dest", "{x}a"},                                   // 2 slots
  };
  for (const auto& command : commands) {
    redisReply* r = Command(c, command);
    ASSERT_NE(r, nullptr);
    freeReplyObject(r);
  }
  redisFree(c);
  std::vector<std::string> findings = guard.Finish();
  ASSERT_EQ(findings.size(), 5u) << ::testing::PrintToString(findings);
  EXPECT_THAT(findings[0], HasSubstr("MSET touches keys in 2 slots"));
  EXPECT_THAT(findings[1], HasSubstr("GET on \"elsewhere\""));
  EXPECT_THAT(findings[2], HasSubstr("PUBLISH on \"topic\""));
  EXPECT_THAT(findings[3], HasSubstr("declares no keys"));
  EXPECT_THAT(findings[4], HasSubstr("SUNIONSTORE touches keys in 2 slots"));
}

TEST(SlotGuardTest, ARestartedRedisIsReportedAsUnchecked) {
  RedisTestServer server;
  ASSERT_TRUE(server.Start().ok());
  SlotGuard guard;
  ASSERT_TRUE(guard.Start(server.port()).ok());
  server.Stop(/*hard=*/true);
  std::vector<std::string> findings = guard.Finish();
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_THAT(findings[0], HasSubstr("lost its MONITOR connection"));
}

}  // namespace
}  // namespace chat::testing
