// Roles and moderation end to end: real Redis, two chat service replicas,
// two real gateways, real WebSocket clients. The owner and the moderated
// member sit on different gateways and different chat replicas, so a removal
// must take effect through Redis, not through one process's memory.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "gateway/errors.h"
#include "proto/client.pb.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

namespace cc = gateway::close_code;

std::string ChatFrame(const std::string& channel, const std::string& text, const std::string& id) {
  return absl::StrCat(R"({"type":"chat_message","server":"demo","channel":")", channel,
                      R"(","message":")", text, R"(","id":")", id, R"("})");
}

std::string ModerateFrame(const std::string& type, const std::string& user, const std::string& id,
                          const std::string& server = "demo") {
  return absl::StrCat(R"({"type":")", type, R"(","server":")", server, R"(","user_id":")", user,
                      R"(","id":")", id, R"("})");
}

std::string SlowModeFrame(int seconds, const std::string& id) {
  return absl::StrCat(R"({"type":"set_slow_mode","server":"demo","channel":"general","seconds":)",
                      seconds, R"(,"id":")", id, R"("})");
}

Ready ParseReady(const std::string& json) {
  Ready r;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &r).ok()) << json;
  return r;
}

class ModerationE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(2);
    stack_->UseChatReplicas(2);
    ASSERT_TRUE(stack_->Start().ok());
    ASSERT_TRUE(stack_->AddUser("carol").ok());
    // alice owns demo; carol moderates it; bob is a plain member.
    SetRole("alice", "owner");
    SetRole("carol", "moderator");
  }

  void SetRole(const std::string& user, const std::string& role) {
    SetRoleRequest req;
    req.set_server("demo");
    req.set_user_id(user);
    req.set_role(role);
    SetRoleResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stack_->admin().SetRole(&ctx, req, &resp).ok());
  }

  absl::Status AddMember(const std::string& user) {
    AddMemberRequest req;
    req.set_server("demo");
    req.set_user_id(user);
    AddMemberResponse resp;
    grpc::ClientContext ctx;
    return FromGrpcStatus(stack_->admin().AddMember(&ctx, req, &resp));
  }

  // ExpectAck sends frame and expects an ack echoing its id.
  static void ExpectAck(WsClient& c, const std::string& frame, const std::string& id) {
    c.Send(frame);
    auto ack = c.NextOfType("ack");
    ASSERT_TRUE(ack) << frame << " -> " << c.NextOfType("error").value_or("no error either");
    EXPECT_EQ(JsonField(*ack, "id"), id);
  }

  // ExpectError sends frame and returns the error frame that answers it.
  static std::string ExpectError(WsClient& c, const std::string& frame, const std::string& code) {
    c.Send(frame);
    auto e = c.NextOfType("error");
    EXPECT_TRUE(e) << frame;
    if (!e) return "";
    EXPECT_EQ(JsonField(*e, "code"), code) << frame << " -> " << *e;
    return *e;
  }

  std::unique_ptr<Stack> stack_;
};

TEST_F(ModerationE2eTest, ReadyTellsEachMemberTheirRole) {
  for (auto [user, role] : {std::pair<const char*, const char*>{"alice", "owner"},
                            {"carol", "moderator"},
                            {"bob", ""}}) {
    std::string ready;
    auto c = stack_->Identified(user, &ready);
    ASSERT_NE(c, nullptr);
    Ready r = ParseReady(ready);
    ASSERT_EQ(r.servers_size(), 1) << user;
    EXPECT_EQ(r.servers(0).role(), role) << user;
  }
}

// bob posts through replica 1 (so it holds a cached grant for him) while the
// owner removes him through replica 0: from the server_removed event on, bob
// receives nothing of demo, and no replica lets him post, read or type there.
TEST_F(ModerationE2eTest, ARemovedMemberLosesTheServerAtOnceOnEveryReplica) {
  auto alice = stack_->Identified("alice", nullptr, 0);
  auto bob = stack_->Identified("bob", nullptr, 1);
  ASSERT_TRUE(alice && bob);
  ExpectAck(*bob, ChatFrame("general", "hi all", "b1"), "b1");
  ASSERT_TRUE(alice->NextOfType("chat_message"));
  ASSERT_TRUE(bob->NextOfType("chat_message"));
  WsClient seed;
  ASSERT_TRUE(
      seed.Connect(stack_->gateway_port(1), "/ws/chat/demo/general/?token=" + stack_->Token("bob"))
          .ok());

  ExpectAck(*alice, ModerateFrame("remove_member", "bob", "m1"), "m1");
  auto removed = bob->NextOfType("server_removed");
  ASSERT_TRUE(removed);
  EXPECT_EQ(JsonField(*removed, "server"), "demo");
  EXPECT_EQ(JsonField(*removed, "reason"), "removed");
  EXPECT_EQ(JsonField(*removed, "by"), "alice");
  EXPECT_NE(JsonField(*removed, "user_seq"), "");
  EXPECT_EQ(seed.WaitClosed(), cc::kRemoved);

  // After the event bob sees nothing of demo, however the session is asked.
  ExpectAck(*alice, ChatFrame("general", "bob is gone", "a1"), "a1");
  ExpectError(*bob, ChatFrame("general", "let me back", "b2"), "not_member");
  ExpectError(*bob, ChatFrame("random", "or here", "b3"), "not_member");
  ExpectError(*bob, R"({"type":"history","server":"demo","channel":"general","id":"h1"})",
              "not_member");
  ExpectError(*bob, R"({"type":"typing","server":"demo","channel":"general"})", "not_member");
  EXPECT_FALSE(bob->NextOfType("chat_message", absl::Milliseconds(500)));

  // A new session learns the same: demo is gone from its ready.
  std::string ready;
  auto bob2 = stack_->Identified("bob", &ready, 0);
  ASSERT_NE(bob2, nullptr);
  EXPECT_EQ(ParseReady(ready).servers_size(), 0) << ready;
  ExpectError(*bob2, ChatFrame("general", "new session", "b4"), "not_member");

  // Removing him again: he is not a member.
  ExpectError(*alice, ModerateFrame("remove_member", "bob", "m2"), "not_member");
  // A removal is not a ban: he can be added back and posts again.
  ASSERT_TRUE(AddMember("bob").ok());
  ASSERT_TRUE(bob->NextOfType("server_joined"));
  ExpectAck(*bob, ChatFrame("general", "back again", "b5"), "b5");
  auto back = alice->NextOfType("chat_message");
  ASSERT_TRUE(back);
  EXPECT_EQ(JsonField(*back, "message"), "bob is gone");
  back = alice->NextOfType("chat_message");
  ASSERT_TRUE(back);
  EXPECT_EQ(JsonField(*back, "message"), "back again");
}

TEST_F(ModerationE2eTest, ABannedUserCannotBeAddedBackUntilUnbanned) {
  auto carol = stack_->Identified("carol", nullptr, 0);
  auto bob = stack_->Identified("bob", nullptr, 1);
  ASSERT_TRUE(carol && bob);
  ExpectAck(*carol, ModerateFrame("ban_member", "bob", "m1"), "m1");
  auto removed = bob->NextOfType("server_removed");
  ASSERT_TRUE(removed);
  EXPECT_EQ(JsonField(*removed, "reason"), "banned");
  EXPECT_EQ(JsonField(*removed, "by"), "carol");
  ExpectError(*bob, ChatFrame("general", "hello?", "b1"), "not_member");

  absl::Status added = AddMember("bob");
  EXPECT_TRUE(absl::IsFailedPrecondition(added)) << added;
  EXPECT_EQ(ReasonOf(added), "banned");
  // Nor can an invitation bring him back.
  auto alice = stack_->Identified("alice", nullptr, 1);
  ASSERT_NE(alice, nullptr);
  alice->Send(R"({"type":"invitation","invited":"bob","server":"demo"})");
  ASSERT_TRUE(bob->NextOfType("invitation"));
  ExpectError(*bob, R"({"type":"accept_invitation","inviting":"alice","server":"demo"})", "banned");
  ExpectError(*bob, ChatFrame("general", "still out", "b2"), "not_member");

  ExpectAck(*carol, ModerateFrame("unban_member", "bob", "m2"), "m2");
  ASSERT_TRUE(AddMember("bob").ok());
  ASSERT_TRUE(bob->NextOfType("server_joined"));
  ExpectAck(*bob, ChatFrame("general", "thanks", "b3"), "b3");
}

TEST_F(ModerationE2eTest, OnlyOwnersAndModeratorsModerateAndTheOwnerIsProtected) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  auto carol = stack_->Identified("carol");
  auto mallory = stack_->Identified("mallory");
  ASSERT_TRUE(alice && bob && carol && mallory);
  ExpectError(*bob, ModerateFrame("remove_member", "carol", "x1"), "not_moderator");
  ExpectError(*bob, ModerateFrame("ban_member", "alice", "x2"), "not_moderator");
  ExpectError(*mallory, ModerateFrame("remove_member", "bob", "x3"), "not_moderator");
  ExpectError(*bob, SlowModeFrame(30, "x4"), "not_moderator");
  // A moderator cannot touch the owner or another moderator; nobody the owner.
  ExpectError(*carol, ModerateFrame("remove_member", "alice", "x5"), "protected_member");
  ExpectError(*alice, ModerateFrame("ban_member", "alice", "x6"), "protected_member");
  ExpectError(*carol, ModerateFrame("remove_member", "mallory", "x7"), "not_member");
  ExpectError(*alice, ModerateFrame("remove_member", "bob", "x8", "nowhere"), "not_found");
  // Ids that try to escape their keys, and malformed frames.
  ExpectError(*alice, ModerateFrame("remove_member", "../bob", "x9"), "invalid_argument");
  ExpectError(*alice, ModerateFrame("ban_member", "bob", "x10", "demo}:x"), "invalid_argument");
  ExpectError(*alice, ModerateFrame("unban_member", "", "x11"), "invalid_argument");
  ExpectError(*alice, SlowModeFrame(-1, "x12"), "invalid_argument");
  ExpectError(*alice, SlowModeFrame(21601, "x13"), "invalid_argument");
  ExpectError(*alice,
              R"({"type":"set_slow_mode","server":"demo","channel":"general","seconds":"ab"})",
              "bad_frame");
  // None of that changed anything: bob still posts and carol still moderates.
  ExpectAck(*bob, ChatFrame("general", "still here", "b1"), "b1");
  ExpectAck(*carol, SlowModeFrame(0, "c1"), "c1");
  // Only the owner may remove a moderator.
  ExpectAck(*alice, ModerateFrame("remove_member", "carol", "a1"), "a1");
  ASSERT_TRUE(carol->NextOfType("server_removed"));
}

TEST_F(ModerationE2eTest, SlowModeHoldsMembersBackButNotModerators) {
  auto alice = stack_->Identified("alice", nullptr, 0);
  auto bob = stack_->Identified("bob", nullptr, 1);
  ASSERT_TRUE(alice && bob);
  ExpectAck(*alice, SlowModeFrame(60, "s1"), "s1");
  ExpectAck(*bob, ChatFrame("general", "first", "b1"), "b1");
  std::string e = ExpectError(*bob, ChatFrame("general", "second", "b2"), "slow_mode");
  EXPECT_GT(std::stoll(JsonField(e, "retry_after_ms")), 0) << e;
  EXPECT_EQ(JsonField(e, "id"), "b2");
  // A retry of the accepted message is its duplicate ack, not a refusal.
  bob->Send(ChatFrame("general", "first", "b1"));
  auto dup = bob->NextOfType("ack");
  ASSERT_TRUE(dup) << bob->NextOfType("error").value_or("no error either");
  EXPECT_EQ(JsonField(*dup, "seq"), "1");
  // Slow mode is per channel, and the owner is exempt.
  ExpectAck(*bob, ChatFrame("random", "elsewhere", "b3"), "b3");
  ExpectAck(*alice, ChatFrame("general", "one", "a1"), "a1");
  ExpectAck(*alice, ChatFrame("general", "two", "a2"), "a2");
  // The members' view: ready carries the channel's slow mode.
  std::string ready;
  auto bob2 = stack_->Identified("bob", &ready, 0);
  ASSERT_NE(bob2, nullptr);
  Ready r = ParseReady(ready);
  ASSERT_EQ(r.servers_size(), 1);
  for (const Channel& ch : r.servers(0).channels()) {
    EXPECT_EQ(ch.slow_mode_s(), ch.id() == "general" ? 60 : 0) << ch.id();
  }
  // Turned off, bob may post at once.
  ExpectAck(*alice, SlowModeFrame(0, "s2"), "s2");
  ExpectAck(*bob, ChatFrame("general", "free again", "b4"), "b4");
}

TEST_F(ModerationE2eTest, AModeratorDeletesAnotherMembersMessageButCannotEditIt) {
  auto bob = stack_->Identified("bob", nullptr, 0);
  auto carol = stack_->Identified("carol", nullptr, 1);
  ASSERT_TRUE(bob && carol);
  ExpectAck(*bob, ChatFrame("general", "spam spam", "b1"), "b1");
  ExpectError(*carol,
              R"({"type":"edit_message","server":"demo","channel":"general","seq":"1",)"
              R"("message":"nicer","id":"c1"})",
              "not_author");
  ExpectAck(*carol,
            R"({"type":"delete_message","server":"demo","channel":"general","seq":"1","id":"c2"})",
            "c2");
  auto del = bob->NextOfType("message_delete");
  ASSERT_TRUE(del);
  EXPECT_EQ(JsonField(*del, "deleted_by"), "carol");
  // A plain member still cannot delete someone else's message.
  ExpectAck(*carol, ChatFrame("general", "mod note", "c3"), "c3");
  ExpectError(
      *bob, R"({"type":"delete_message","server":"demo","channel":"general","seq":"3","id":"b2"})",
      "not_author");
}

// @everyone pings every member only when the owner or a moderator says it:
// it counts in each member's mentions, and a delete takes it back.
TEST_F(ModerationE2eTest, OnlyOwnersAndModeratorsPingEveryone) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  auto carol = stack_->Identified("carol");
  ASSERT_TRUE(alice && bob && carol);
  ExpectAck(*bob, ChatFrame("general", "@everyone free pizza", "b1"), "b1");
  ExpectAck(*alice, ChatFrame("general", "@everyone meeting at 3", "a1"), "a1");
  auto plain = carol->NextOfType("chat_message");
  ASSERT_TRUE(plain);
  EXPECT_EQ(JsonField(*plain, "mentions_everyone"), "") << *plain;  // Absent: bob is no moderator.
  auto ping = carol->NextOfType("chat_message");
  ASSERT_TRUE(ping);
  EXPECT_EQ(JsonField(*ping, "message"), "@everyone meeting at 3");
  EXPECT_NE(ping->find(R"("mentions_everyone":true)"), std::string::npos) << *ping;

  auto mentions_in_general = [&](const std::string& user) -> int64_t {
    std::string ready;
    auto c = stack_->Identified(user, &ready);
    if (c == nullptr) return -1;
    const Ready r = ParseReady(ready);
    if (r.servers_size() != 1) return -1;
    for (const Channel& ch : r.servers(0).channels()) {
      if (ch.id() == "general") return ch.mentions();
    }
    return -1;
  };
  EXPECT_EQ(mentions_in_general("carol"), 1);
  EXPECT_EQ(mentions_in_general("bob"), 1);
  // Deleted, it pings no one any more.
  ExpectAck(*alice,
            R"({"type":"delete_message","server":"demo","channel":"general","seq":"2","id":"d1"})",
            "d1");
  EXPECT_EQ(mentions_in_general("carol"), 0);
}

}  // namespace
}  // namespace chat::testing
