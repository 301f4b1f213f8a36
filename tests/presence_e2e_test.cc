// Presence and typing across two gateway replicas: real Redis, the real chat,
// invite and presence services, an in-process gateway and a gateway *process*
// that the test kills with SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "proto/client.pb.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

std::unique_ptr<WsClient> IdentifyOn(Stack& stack, int port, const std::string& user,
                                     const std::string& status = "", std::string* ready = nullptr) {
  // The process may still be starting: retry the connection for a while.
  for (int i = 0; i < 200; ++i) {
    auto c = std::make_unique<WsClient>();
    if (c->Connect(port, "/ws").ok()) {
      c->Send(absl::StrCat(R"({"type":"identify","token":")", stack.Token(user), R"(")",
                           status.empty() ? "" : absl::StrCat(R"(,"status":")", status, R"(")"),
                           "}"));
      auto r = c->NextOfType("ready");
      if (r) {
        if (ready) *ready = *r;
        return c;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return nullptr;
}

// PresenceAbout waits for a presence event about user (a session also gets
// its own user's presence, which is skipped) and returns it.
std::optional<std::string> PresenceAbout(WsClient& c, const std::string& user,
                                         absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto f = c.NextOfType("presence", deadline - absl::Now());
    if (!f) return std::nullopt;
    if (JsonField(*f, "user_id") == user) return f;
  }
  return std::nullopt;
}

// NextPresence waits for a presence event about user with the given status.
bool NextPresence(WsClient& c, const std::string& user, const std::string& status,
                  absl::Duration timeout = absl::Seconds(5)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto f = PresenceAbout(c, user, deadline - absl::Now());
    if (!f) return false;
    if (JsonField(*f, "status") == status) return true;
  }
  return false;
}

class PresenceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(2);
    ASSERT_TRUE(stack_->Start().ok());
  }
  std::unique_ptr<Stack> stack_;
};

TEST_F(PresenceE2eTest, TwoTabsOnTwoReplicasStayOnlineUntilBothClose) {
  auto bob = stack_->Identified("bob", nullptr, 0);
  auto tab1 = stack_->Identified("alice", nullptr, 0);
  ASSERT_TRUE(NextPresence(*bob, "alice", "online"));
  auto tab2 = stack_->Identified("alice", nullptr, 1);
  ASSERT_NE(tab2, nullptr);
  tab1.reset();
  // Still online through tab2: no offline, not even after the grace.
  EXPECT_FALSE(NextPresence(*bob, "alice", "offline", absl::Milliseconds(900)));
  tab2.reset();
  auto f = PresenceAbout(*bob, "alice", absl::Seconds(5));
  ASSERT_TRUE(f);
  EXPECT_EQ(JsonField(*f, "user_id"), "alice");
  EXPECT_EQ(JsonField(*f, "status"), "offline");
  EXPECT_NE(JsonField(*f, "last_seen"), "0");
}

TEST_F(PresenceE2eTest, HeartbeatsKeepAConnectedUserOnlinePastTheTtl) {
  auto bob = stack_->Identified("bob", nullptr, 0);
  auto alice = stack_->Identified("alice", nullptr, 1);
  ASSERT_TRUE(NextPresence(*bob, "alice", "online"));
  // Three session TTLs (1 s here) pass; only the gateway's heartbeats keep
  // alice's session alive.
  EXPECT_FALSE(NextPresence(*bob, "alice", "offline", absl::Seconds(3)));
}

TEST_F(PresenceE2eTest, AKilledReplicasUsersGoOfflineAndTheOtherKeepsServing) {
  auto bob = stack_->Identified("bob", nullptr, 0);
  GatewayProcess doomed(*stack_);
  auto alice = IdentifyOn(*stack_, doomed.port(), "alice");
  ASSERT_NE(alice, nullptr);
  ASSERT_TRUE(NextPresence(*bob, "alice", "online"));
  absl::Time killed = absl::Now();
  doomed.Kill();
  // Nobody tells the presence service: the session TTL (1 s here) expires.
  ASSERT_TRUE(NextPresence(*bob, "alice", "offline", absl::Seconds(5)));
  absl::Duration took = absl::Now() - killed;
  EXPECT_GE(took, absl::Milliseconds(300));  // Not a disconnect: the TTL had to run out.
  std::cerr << "offline after kill -9: " << absl::FormatDuration(took) << "\n";
  bob->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"still here","id":"s"})");
  EXPECT_TRUE(bob->NextOfType("ack"));
}

TEST_F(PresenceE2eTest, InvisibleLooksOfflineAndStatusesAggregate) {
  auto bob = stack_->Identified("bob", nullptr, 0);
  auto alice = IdentifyOn(*stack_, stack_->gateway_port(1), "alice", "invisible");
  ASSERT_NE(alice, nullptr);
  EXPECT_FALSE(NextPresence(*bob, "alice", "online", absl::Milliseconds(500)));
  std::string ready;
  auto bob2 = stack_->Identified("bob", &ready, 1);
  Ready r;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ready, &r).ok());
  for (const Presence& p : r.presences()) {
    if (p.user_id() == "alice") {
      EXPECT_EQ(p.status(), "offline");
    }
  }
  alice->Send(R"({"type":"status","status":"dnd"})");
  ASSERT_TRUE(NextPresence(*bob, "alice", "dnd"));
  alice->Send(R"({"type":"status","status":"idle"})");
  ASSERT_TRUE(NextPresence(*bob, "alice", "idle"));
  alice->Send(R"({"type":"status","status":"sleepy"})");
  auto err = alice->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "invalid_argument");
}

TEST_F(PresenceE2eTest, StrangersLearnNothingFriendsDo) {
  auto mallory = stack_->Identified("mallory", nullptr, 1);
  auto alice = stack_->Identified("alice", nullptr, 0);
  EXPECT_FALSE(PresenceAbout(*mallory, "alice", absl::Milliseconds(500)));
  alice.reset();
  EXPECT_FALSE(PresenceAbout(*mallory, "alice", absl::Milliseconds(800)));
  // Friends (made by an accepted invitation) do see each other.
  auto alice2 = stack_->Identified("alice", nullptr, 0);
  alice2->Send(R"({"type":"invitation","invited":"mallory"})");
  ASSERT_TRUE(mallory->NextOfType("invitation"));
  mallory->Send(R"({"type":"accept_invitation","inviting":"alice"})");
  ASSERT_TRUE(mallory->NextOfType("accept_invitation"));
  alice2->Send(R"({"type":"status","status":"dnd"})");
  EXPECT_TRUE(NextPresence(*mallory, "alice", "dnd"));
  std::string ready;
  auto mallory2 = stack_->Identified("mallory", &ready, 0);
  Ready r;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ready, &r).ok());
  bool saw_alice = false;
  for (const Presence& p : r.presences()) saw_alice = saw_alice || p.user_id() == "alice";
  EXPECT_TRUE(saw_alice);
}

TEST(PresenceNewFriendTest, ANewFriendWithNoSharedServerGetsPresenceAtOnce) {
  Stack stack(1);
  ASSERT_TRUE(stack.Start().ok());
  // zoe shares no server with mallory: only friendship can link them.
  stack.redis_command({"HSET", "{u:zoe}:profile", "name", "Zoe", "image", ""});
  auto zoe = stack.Identified("zoe");
  auto mallory = stack.Identified("mallory");
  zoe->Send(R"({"type":"invitation","invited":"mallory"})");
  ASSERT_TRUE(mallory->NextOfType("invitation"));
  mallory->Send(R"({"type":"accept_invitation","inviting":"zoe"})");
  EXPECT_TRUE(NextPresence(*mallory, "zoe", "online"));
  EXPECT_TRUE(NextPresence(*zoe, "mallory", "online"));
}

TEST_F(PresenceE2eTest, TypingCrossesReplicas) {
  auto alice = stack_->Identified("alice", nullptr, 0);
  auto bob = stack_->Identified("bob", nullptr, 1);
  alice->Send(R"({"type":"typing","server":"demo","channel":"random"})");
  auto t = bob->NextOfType("typing");
  ASSERT_TRUE(t);
  EXPECT_EQ(JsonField(*t, "user_id"), "alice");
  EXPECT_EQ(JsonField(*t, "channel"), "random");
  EXPECT_EQ(JsonField(*t, "expires_in_ms"), "10000");  // Clients hide it after that.
  // Within the interval it is dropped; once the throttle has expired by
  // itself (nothing is stored beyond it), typing is relayed again.
  alice->Send(R"({"type":"typing","server":"demo","channel":"random"})");
  EXPECT_FALSE(bob->NextOfType("typing", absl::Milliseconds(200)));
  std::this_thread::sleep_for(std::chrono::milliseconds(350));  // The interval passing.
  alice->Send(R"({"type":"typing","server":"demo","channel":"random"})");
  EXPECT_TRUE(bob->NextOfType("typing"));
}

}  // namespace
}  // namespace chat::testing
