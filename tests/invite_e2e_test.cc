// Invitations and friendships end to end: real Redis, the real chat and invite
// services, real gateways, real WebSocket clients (native and seed-shaped).
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "proto/client.pb.h"
#include "proto/invite.grpc.pb.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

std::string Frame(const std::string& type, const std::string& fields) {
  return absl::StrCat(R"({"type":")", type, R"(",)", fields, "}");
}

Invitation ParseInvitation(const std::string& json) {
  Invitation inv;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &inv).ok()) << json;
  return inv;
}

Ready ParseReady(const std::string& json) {
  Ready r;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &r).ok()) << json;
  return r;
}

class InviteE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(1, nullptr, [](invite_service::InviteServerOptions& o) {
      o.core.throttle = absl::Milliseconds(300);
    });
    ASSERT_TRUE(stack_->Start().ok());
  }
  std::unique_ptr<Stack> stack_;
};

TEST_F(InviteE2eTest, FriendInvitationLifecycle) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  alice->Send(Frame("invitation", R"("invited":"bob")"));
  for (WsClient* c : {alice.get(), bob.get()}) {
    auto ev = c->NextOfType("invitation");
    ASSERT_TRUE(ev);
    Invitation inv = ParseInvitation(*ev);
    EXPECT_EQ(inv.state(), "pending");
    EXPECT_EQ(inv.inviting(), "alice");
    EXPECT_EQ(inv.inviting_name(), "Alice");
    EXPECT_EQ(inv.inviting_img(), "https://img/alice.png");
    EXPECT_EQ(inv.invited(), "bob");
    EXPECT_EQ(inv.invited_name(), "Bob");
    EXPECT_FALSE(inv.id().empty());
    EXPECT_GT(inv.expires_at(), inv.created_at());
  }
  bob->Send(Frame("accept_invitation", R"("inviting":"alice")"));
  for (WsClient* c : {alice.get(), bob.get()}) {
    auto ev = c->NextOfType("accept_invitation");
    ASSERT_TRUE(ev);
    EXPECT_EQ(ParseInvitation(*ev).state(), "accepted");
  }
  // Accepting again changes nothing and announces nothing.
  bob->Send(Frame("accept_invitation", R"("inviting":"alice","id":"again")"));
  EXPECT_FALSE(bob->NextOfType("accept_invitation", absl::Milliseconds(300)));
  EXPECT_FALSE(bob->NextOfType("error", absl::Milliseconds(100)));
  std::string ready;
  auto bob2 = stack_->Identified("bob", &ready);
  Ready r = ParseReady(ready);
  ASSERT_EQ(r.friends_size(), 1);
  EXPECT_EQ(r.friends(0).id(), "alice");
  EXPECT_EQ(r.invitations_size(), 0);
  // Friends cannot be invited again.
  alice->Send(Frame("invitation", R"("invited":"bob","id":"x")"));
  auto err = alice->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "already_friends");
  EXPECT_EQ(JsonField(*err, "id"), "x");
}

TEST_F(InviteE2eTest, ServerInvitationAddsTheMember) {
  auto alice = stack_->Identified("alice");
  auto mallory = stack_->Identified("mallory");
  mallory->Send(Frame("invitation", R"("invited":"alice","server":"demo","id":"m")"));
  auto err = mallory->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "not_member");
  alice->Send(Frame("invitation", R"("invited":"bob","server":"demo","id":"b")"));
  err = alice->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "already_member");
  alice->Send(Frame("invitation", R"("invited":"mallory","server":"demo")"));
  auto ev = mallory->NextOfType("invitation");
  ASSERT_TRUE(ev);
  Invitation inv = ParseInvitation(*ev);
  EXPECT_EQ(inv.server(), "demo");
  EXPECT_EQ(inv.server_name(), "Demo");
  mallory->Send(Frame("accept_invitation", R"("inviting":"alice","server":"demo")"));
  ASSERT_TRUE(mallory->NextOfType("accept_invitation"));
  ASSERT_TRUE(mallory->NextOfType("server_joined"));
  mallory->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"hi","id":"1"})");
  EXPECT_TRUE(mallory->NextOfType("ack"));
  EXPECT_TRUE(alice->NextOfType("chat_message"));
}

TEST_F(InviteE2eTest, CancelByTheInviterDeclineByTheInvitee) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  auto mallory = stack_->Identified("mallory");
  alice->Send(Frame("invitation", R"("invited":"bob")"));
  ASSERT_TRUE(bob->NextOfType("invitation"));
  ASSERT_TRUE(alice->NextOfType("invitation"));
  alice->Send(Frame("cancel_invitation", R"("invited":"bob")"));
  auto ev = bob->NextOfType("cancel_invitation");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ParseInvitation(*ev).state(), "cancelled");
  ev = alice->NextOfType("cancel_invitation");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ParseInvitation(*ev).state(), "cancelled");

  mallory->Send(Frame("invitation", R"("invited":"alice")"));
  ASSERT_TRUE(alice->NextOfType("invitation"));
  alice->Send(Frame("cancel_invitation", R"("inviting":"mallory","invited":"alice")"));
  ev = mallory->NextOfType("cancel_invitation");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ParseInvitation(*ev).state(), "declined");
  // A decided invitation cannot be accepted any more.
  alice->Send(Frame("accept_invitation", R"("inviting":"mallory","id":"late")"));
  auto err = alice->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "already_declined");
}

TEST_F(InviteE2eTest, BadInvitationsGetSpecificErrors) {
  auto alice = stack_->Identified("alice");
  auto expect_error = [&](const std::string& frame, const std::string& code) {
    alice->Send(frame);
    auto err = alice->NextOfType("error");
    ASSERT_TRUE(err) << frame;
    EXPECT_EQ(JsonField(*err, "code"), code) << frame;
  };
  expect_error(Frame("invitation", R"("invited":"alice")"), "cannot_invite_self");
  expect_error(Frame("invitation", R"("invited":"ghost")"), "unknown_user");
  expect_error(Frame("invitation", R"("invited":"bob","server":"nowhere")"), "not_member");
  expect_error(Frame("accept_invitation", R"("inviting":"bob")"), "not_found");
  expect_error(Frame("cancel_invitation", R"("invited":"bob")"), "not_found");
  alice->Send(Frame("invitation", R"("invited":"bob")"));
  ASSERT_TRUE(alice->NextOfType("invitation"));
  alice->Send(Frame("invitation", R"("invited":"bob")"));  // Within the throttle window.
  auto err = alice->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "rate_limited");
  int64_t retry = std::stoll(JsonField(*err, "retry_after_ms"));
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 300);
  std::this_thread::sleep_for(std::chrono::milliseconds(retry + 20));  // The window passing.
  expect_error(Frame("invitation", R"("invited":"bob")"), "already_pending");
  // The invitee accepting their own invitation's other side is refused.
  expect_error(Frame("accept_invitation", R"("inviting":"alice")"), "not_found");
}

TEST_F(InviteE2eTest, ARacingAcceptAndCancelEndInOneStateBothAreTold) {
  for (int round = 0; round < 5; ++round) {
    auto alice = stack_->Identified("alice");
    auto bob = stack_->Identified("bob");
    std::string scope = round % 2 ? R"(,"server":"")" : "";
    alice->Send(Frame("invitation", R"("invited":"bob")"));
    ASSERT_TRUE(bob->NextOfType("invitation"));
    ASSERT_TRUE(alice->NextOfType("invitation"));
    bob->Send(Frame("accept_invitation", R"("inviting":"alice")"));
    alice->Send(Frame("cancel_invitation", R"("invited":"bob")"));
    // Exactly one transition event reaches each party; the loser gets an error.
    auto first_a = alice->Next();
    ASSERT_TRUE(first_a);
    std::string winner = JsonField(*first_a, "type");
    if (winner == "error") {
      // Alice lost: her error names the state bob reached.
      EXPECT_EQ(JsonField(*first_a, "code"), "already_accepted");
      auto ev = alice->NextOfType("accept_invitation");
      ASSERT_TRUE(ev);
      EXPECT_TRUE(bob->NextOfType("accept_invitation"));
      EXPECT_FALSE(bob->NextOfType("cancel_invitation", absl::Milliseconds(200)));
      // Undo the friendship so the next round starts clean.
      stack_->redis_command({"DEL", "{u:alice}:friends"});
      stack_->redis_command({"DEL", "{u:bob}:friends"});
    } else {
      ASSERT_TRUE(winner == "accept_invitation" || winner == "cancel_invitation") << *first_a;
      auto ev_b = bob->NextOfType(winner);
      ASSERT_TRUE(ev_b);
      std::string loser_event =
          winner == "accept_invitation" ? "cancel_invitation" : "accept_invitation";
      EXPECT_FALSE(bob->NextOfType(loser_event, absl::Milliseconds(200)));
      EXPECT_FALSE(alice->NextOfType(loser_event, absl::Milliseconds(50)));
      if (winner == "accept_invitation") {
        stack_->redis_command({"DEL", "{u:alice}:friends"});
        stack_->redis_command({"DEL", "{u:bob}:friends"});
        auto err = alice->NextOfType("error");
        ASSERT_TRUE(err);
        EXPECT_EQ(JsonField(*err, "code"), "already_accepted");
      } else {
        auto err = bob->NextOfType("error");
        ASSERT_TRUE(err);
        EXPECT_EQ(JsonField(*err, "code"), "already_cancelled");
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(320));  // Throttle window.
  }
}

TEST_F(InviteE2eTest, ASpoofedInviterIsIgnored) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  alice->Send(Frame("invitation",
                    R"("invited":"bob","inviting":"mallory","inviting_img":"https://evil/x")"));
  auto ev = bob->NextOfType("invitation");
  ASSERT_TRUE(ev);
  Invitation inv = ParseInvitation(*ev);
  EXPECT_EQ(inv.inviting(), "alice");
  EXPECT_EQ(inv.inviting_img(), "https://img/alice.png");
}

TEST_F(InviteE2eTest, AnOfflineInviteeFindsTheInvitationInReady) {
  auto alice = stack_->Identified("alice");
  alice->Send(Frame("invitation", R"("invited":"mallory")"));
  ASSERT_TRUE(alice->NextOfType("invitation"));
  std::string ready;
  auto mallory = stack_->Identified("mallory", &ready);
  Ready r = ParseReady(ready);
  ASSERT_EQ(r.invitations_size(), 1);
  EXPECT_EQ(r.invitations(0).inviting(), "alice");
  EXPECT_EQ(r.invitations(0).state(), "pending");
  // The inviter sees it among the sent ones too.
  std::string alice_ready;
  auto alice2 = stack_->Identified("alice", &alice_ready);
  EXPECT_EQ(ParseReady(alice_ready).invitations_size(), 1);
}

TEST_F(InviteE2eTest, PendingInvitationsExpire) {
  Stack stack(1, nullptr, [](invite_service::InviteServerOptions& o) {
    o.core.ttl = absl::Milliseconds(300);
    o.sweep_interval = absl::Milliseconds(50);
  });
  ASSERT_TRUE(stack.Start().ok());
  auto alice = stack.Identified("alice");
  auto bob = stack.Identified("bob");
  alice->Send(Frame("invitation", R"("invited":"bob")"));
  ASSERT_TRUE(bob->NextOfType("invitation"));
  auto ev = bob->NextOfType("invitation_expired");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ParseInvitation(*ev).state(), "expired");
  EXPECT_TRUE(alice->NextOfType("invitation_expired"));
  bob->Send(Frame("accept_invitation", R"("inviting":"alice")"));
  auto err = bob->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "already_expired");
}

TEST(InviteFloodTest, OneInvitationPerWindowAcrossTwoGateways) {
  Stack stack(2);  // The default 1500 ms throttle.
  ASSERT_TRUE(stack.Start().ok());
  auto a0 = stack.Identified("alice", nullptr, 0);
  auto a1 = stack.Identified("alice", nullptr, 1);
  auto bob = stack.Identified("bob", nullptr, 1);
  for (int i = 0; i < 20; ++i) {
    (i % 2 ? a1 : a0)
        ->Send(Frame("invitation", absl::StrCat(R"("invited":"bob","id":"f)", i, R"(")")));
  }
  int limited = 0;
  for (WsClient* c : {a0.get(), a1.get()}) {
    for (int i = 0; i < 10; ++i) {
      auto f = c->NextOfType("error", absl::Seconds(2));
      if (!f) break;
      EXPECT_EQ(JsonField(*f, "code"), "rate_limited") << *f;
      EXPECT_GT(std::stoll(JsonField(*f, "retry_after_ms")), 0);
      ++limited;
    }
  }
  EXPECT_EQ(limited, 19);
  ASSERT_TRUE(bob->NextOfType("invitation"));
  EXPECT_FALSE(bob->NextOfType("invitation", absl::Milliseconds(300)));
  // Cancels are throttled the same way.
  for (int i = 0; i < 10; ++i) {
    (i % 2 ? a1 : a0)->Send(Frame("cancel_invitation", R"("invited":"bob")"));
  }
  ASSERT_TRUE(bob->NextOfType("cancel_invitation"));
  EXPECT_FALSE(bob->NextOfType("cancel_invitation", absl::Milliseconds(300)));
}

// ---- the seed's personal consumer ------------------------------------------------

TEST_F(InviteE2eTest, SeedPersonalEndpointSpeaksTheSeedsJson) {
  // The seed's inviter connects to the invitee's personal path to reach them.
  WsClient alice_on_bobs_path, bob_personal;
  ASSERT_TRUE(
      alice_on_bobs_path
          .Connect(stack_->gateway_port(), "/ws/personal/bob/?token=" + stack_->Token("alice"))
          .ok());
  ASSERT_TRUE(
      bob_personal
          .Connect(stack_->gateway_port(), "/ws/personal/bob/?token=" + stack_->Token("bob"))
          .ok());
  auto native_bob = stack_->Identified("bob");
  // Wait until both seed sockets are authenticated: a native event reaches them.
  // (They answer nothing before; probe by sending once they can act.)
  for (int i = 0; i < 100; ++i) {
    alice_on_bobs_path.Send(
        R"({"type":"invitation","invited":"bob","invited_img":"x","inviting":"alice"})");
    if (native_bob->NextOfType("invitation", absl::Milliseconds(100))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto got = bob_personal.NextOfType("invitation");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, R"({"type":"invitation","invited":"bob","invited_img":"","inviting":"alice",)"
                  R"("inviting_img":"https://img/alice.png"})");
  auto echo = alice_on_bobs_path.NextOfType("invitation");
  ASSERT_TRUE(echo);
  EXPECT_EQ(*echo, *got);
  bob_personal.Send(R"({"type":"accept_invitation","invited":"bob","inviting":"alice"})");
  auto accepted = alice_on_bobs_path.NextOfType("accept_invitation");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(*accepted,
            R"({"type":"accept_invitation","invited":"bob","invited_img":"","inviting":"alice",)"
            R"("inviting_img":"https://img/alice.png"})");
}

TEST_F(InviteE2eTest, AnEavesdropperOnAnotherUsersPathReceivesNothing) {
  WsClient eavesdropper;
  ASSERT_TRUE(
      eavesdropper
          .Connect(stack_->gateway_port(), "/ws/personal/bob/?token=" + stack_->Token("mallory"))
          .ok());
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  alice->Send(Frame("invitation", R"("invited":"bob")"));
  ASSERT_TRUE(bob->NextOfType("invitation"));
  bob->Send(Frame("accept_invitation", R"("inviting":"alice")"));
  ASSERT_TRUE(bob->NextOfType("accept_invitation"));
  EXPECT_FALSE(eavesdropper.Next(absl::Milliseconds(300)));
  WsClient anonymous;
  ASSERT_TRUE(anonymous.Connect(stack_->gateway_port(), "/ws/personal/bob/").ok());
  EXPECT_EQ(anonymous.WaitClosed(), 4002);
}

TEST_F(InviteE2eTest, SeedPersonalEndpointAnswersBadFramesAndStaysOpen) {
  WsClient seed;
  ASSERT_TRUE(
      seed.Connect(stack_->gateway_port(), "/ws/personal/bob/?token=" + stack_->Token("alice"))
          .ok());
  // Until authentication finishes frames get not_identified; poll past it.
  std::optional<std::string> err;
  // (Paced: each probe costs a frame of the connection's budget of 50.)
  for (int i = 0; i < 40; ++i) {
    seed.Send("{not json");
    err = seed.NextOfType("error");
    if (err && JsonField(*err, "code") != "not_identified") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "bad_frame");
  seed.Send(R"({"type":"launch_missiles","invited":"bob"})");
  err = seed.NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "unknown_type");
  // Still serving: a real invitation goes through.
  seed.Send(R"({"type":"invitation","invited":"bob","inviting":"alice"})");
  EXPECT_TRUE(seed.NextOfType("invitation"));
}

// Only the invitee may accept: the inviter calling the invite service's
// gRPC API directly as the accepting actor is refused with not_invitee,
// nothing is announced, and the invitation stays pending for the invitee.
TEST_F(InviteE2eTest, OnlyTheInviteeMayAcceptEvenThroughTheServiceApi) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  alice->Send(Frame("invitation", R"("invited":"bob")"));
  ASSERT_TRUE(alice->NextOfType("invitation"));
  ASSERT_TRUE(bob->NextOfType("invitation"));
  auto invite = InviteService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", stack_->invite_port()), grpc::InsecureChannelCredentials()));
  TransitionRequest req;
  req.mutable_actor()->set_id("alice");
  req.set_inviting("alice");
  req.set_invited("bob");
  InvitationResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = invite->Accept(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "not_invitee") << s.error_message();
  EXPECT_FALSE(alice->NextOfType("accept_invitation", absl::Milliseconds(300)));
  EXPECT_FALSE(bob->NextOfType("accept_invitation", absl::Milliseconds(100)));
  bob->Send(Frame("accept_invitation", R"("inviting":"alice")"));
  auto accepted = bob->NextOfType("accept_invitation");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(ParseInvitation(*accepted).state(), "accepted");
}

// One user cannot pile up invitations: at most max_pending_sent pending at
// once (a cancelled one frees its place) and invites_per_minute created per
// minute, with the time to wait. The quota is the inviter's alone.
TEST(InviteQuotaE2eTest, PendingInvitationsAndTheirRateAreCappedPerSender) {
  Stack stack(1, nullptr, [](invite_service::InviteServerOptions& o) {
    o.core.throttle = absl::ZeroDuration();
    o.core.max_pending_sent = 3;
    o.core.invites_per_minute = 5;
  });
  ASSERT_TRUE(stack.Start().ok());
  for (const char* u : {"u1", "u2", "u3", "u4", "u5", "u6"}) ASSERT_TRUE(stack.AddUser(u).ok());
  auto alice = stack.Identified("alice");
  auto invite = [&](const std::string& who) {
    alice->Send(Frame("invitation", absl::StrCat(R"("invited":")", who, R"(","id":")", who, "\"")));
    for (;;) {
      auto f = alice->Next();
      if (!f) return std::string("timeout");
      const std::string type = JsonField(*f, "type");
      if (type == "invitation" && JsonField(*f, "invited") == who) return std::string("ok");
      if (type == "error") return JsonField(*f, "code");
    }
  };
  EXPECT_EQ(invite("u1"), "ok");
  EXPECT_EQ(invite("u2"), "ok");
  EXPECT_EQ(invite("u3"), "ok");
  EXPECT_EQ(invite("u4"), "too_many_pending");
  alice->Send(Frame("cancel_invitation", R"("invited":"u1","id":"c1")"));
  ASSERT_TRUE(alice->NextOfType("cancel_invitation"));
  EXPECT_EQ(invite("u4"), "ok");  // The cancelled one's place.
  // Bob's quota is his own.
  auto bob = stack.Identified("bob");
  bob->Send(Frame("invitation", R"("invited":"u1","id":"b1")"));
  auto ev = bob->NextOfType("invitation");
  ASSERT_TRUE(ev);
  // Five created this minute (u1..u4, then u5 after u2 is cancelled): the
  // sixth waits for the minute to end.
  alice->Send(Frame("cancel_invitation", R"("invited":"u2","id":"c2")"));
  ASSERT_TRUE(alice->NextOfType("cancel_invitation"));
  EXPECT_EQ(invite("u5"), "ok");
  alice->Send(Frame("cancel_invitation", R"("invited":"u3","id":"c3")"));
  ASSERT_TRUE(alice->NextOfType("cancel_invitation"));
  alice->Send(Frame("invitation", R"("invited":"u6","id":"u6")"));
  auto err = alice->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "rate_limited");
  const int64_t retry = std::stoll(JsonField(*err, "retry_after_ms"));
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 60000);
}

}  // namespace
}  // namespace chat::testing
