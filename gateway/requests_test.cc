#include "gateway/requests.h"

#include <gtest/gtest.h>

#include "common/status.h"

namespace chat::gateway {
namespace {

User Alice() {
  User u;
  u.set_id("alice");
  u.set_name("Alice");
  u.set_image("a.png");
  return u;
}

TEST(RequestsTest, SendTakesIdentityFromTheTokenAndMovesTheText) {
  SendChat f;
  f.set_server("demo");
  f.set_channel("general");
  f.set_message("hello");
  f.set_id("n1");
  f.set_author("mallory");  // Forged: ignored.
  f.set_image("evil.png");
  absl::StatusOr<SendRequest> req = BuildSend(Alice(), f, 2000);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->author().id(), "alice");
  EXPECT_EQ(req->author().name(), "Alice");
  EXPECT_EQ(req->author().image(), "a.png");
  EXPECT_EQ(req->server(), "demo");
  EXPECT_EQ(req->channel(), "general");
  EXPECT_EQ(req->message(), "hello");
  EXPECT_EQ(req->nonce(), "n1");
}

TEST(RequestsTest, SendRefusesAMissingNonceAndAnOversizedText) {
  SendChat f;
  f.set_message("hi");
  absl::StatusOr<SendRequest> req = BuildSend(Alice(), f, 10);
  EXPECT_EQ(req.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(req.status()), "invalid_argument");
  f.set_id("n");
  f.set_message(std::string(40, 'x'));  // 4 bytes per character at most: fits.
  EXPECT_TRUE(BuildSend(Alice(), f, 10).ok());
  f.set_message(std::string(41, 'x'));
  req = BuildSend(Alice(), f, 10);
  EXPECT_EQ(ReasonOf(req.status()), "too_long");
}

TEST(RequestsTest, History) {
  GetHistory f;
  f.set_server("demo");
  f.set_channel("general");
  f.set_before(10);
  f.set_after(3);
  f.set_limit(20);
  HistoryRequest req = BuildHistory("alice", f);
  EXPECT_EQ(req.user_id(), "alice");
  EXPECT_EQ(req.server(), "demo");
  EXPECT_EQ(req.channel(), "general");
  EXPECT_EQ(req.before(), 10);
  EXPECT_EQ(req.after(), 3);
  EXPECT_EQ(req.limit(), 20);
}

TEST(RequestsTest, InvitationNamesTheInviterFromTheToken) {
  InvitationFrame f;
  f.set_invited("bob");
  f.set_inviting("mallory");  // Forged: ignored.
  f.set_server("demo");
  InvitationCall call = BuildInvitation(ClientFrame::kInvitation, Alice(), f, "");
  EXPECT_EQ(call.kind, InvitationCall::Kind::kInvite);
  EXPECT_EQ(call.invite.inviter().id(), "alice");
  EXPECT_EQ(call.invite.invited(), "bob");
  EXPECT_EQ(call.invite.server(), "demo");
  // On a seed personal socket the path names the other party.
  f.clear_invited();
  EXPECT_EQ(BuildInvitation(ClientFrame::kInvitation, Alice(), f, "carol").invite.invited(),
            "carol");
}

TEST(RequestsTest, AcceptAndCancelPickTheSidesAsTheSeedDid) {
  InvitationFrame f;
  f.set_inviting("bob");
  InvitationCall accept = BuildInvitation(ClientFrame::kAcceptInvitation, Alice(), f, "");
  EXPECT_EQ(accept.kind, InvitationCall::Kind::kAccept);
  EXPECT_EQ(accept.transition.actor().id(), "alice");
  EXPECT_EQ(accept.transition.inviting(), "bob");
  EXPECT_EQ(accept.transition.invited(), "alice");
  // A cancel that names the other party as inviter is a decline.
  InvitationCall decline = BuildInvitation(ClientFrame::kCancelInvitation, Alice(), f, "");
  EXPECT_EQ(decline.kind, InvitationCall::Kind::kCancel);
  EXPECT_EQ(decline.transition.inviting(), "bob");
  EXPECT_EQ(decline.transition.invited(), "alice");
  // A cancel that names the invitee withdraws the sender's own invitation.
  InvitationFrame mine;
  mine.set_invited("bob");
  mine.set_inviting("alice");
  InvitationCall cancel = BuildInvitation(ClientFrame::kCancelInvitation, Alice(), mine, "");
  EXPECT_EQ(cancel.transition.inviting(), "alice");
  EXPECT_EQ(cancel.transition.invited(), "bob");
  // Accept on a seed socket with no names: the path is the inviter.
  InvitationFrame bare;
  EXPECT_EQ(
      BuildInvitation(ClientFrame::kAcceptInvitation, Alice(), bare, "carol").transition.inviting(),
      "carol");
}

TEST(RequestsTest, TypingAndStatus) {
  TypingFrame f;
  f.set_server("demo");
  f.set_channel("general");
  TypingRequest req = BuildTyping(Alice(), f);
  EXPECT_EQ(req.user().id(), "alice");
  EXPECT_EQ(req.server(), "demo");
  EXPECT_EQ(req.channel(), "general");
  for (const char* s : {"online", "idle", "dnd", "invisible"}) EXPECT_TRUE(IsPresenceStatus(s));
  for (const char* s : {"", "away", "Online"}) EXPECT_FALSE(IsPresenceStatus(s));
}

TEST(RequestsTest, ReplyFrames) {
  ServerFrame ack = AckFrame("n1", "demo", "general", 7, 1234);
  EXPECT_EQ(ack.ack().type(), "ack");
  EXPECT_EQ(ack.ack().id(), "n1");
  EXPECT_EQ(ack.ack().seq(), 7);
  EXPECT_EQ(ack.ack().sent_at(), 1234);
  EXPECT_EQ(ack.ack().channel(), "general");

  GetHistory q;
  q.set_id("h1");
  q.set_server("demo");
  q.set_channel("general");
  HistoryResponse page;
  page.set_head_seq(9);
  page.set_oldest_seq(1);
  page.add_messages()->set_seq(8);
  page.add_messages()->set_seq(9);
  ServerFrame h = HistoryFrame(q, std::move(page));
  EXPECT_EQ(h.history().type(), "history");
  EXPECT_EQ(h.history().id(), "h1");
  EXPECT_EQ(h.history().head_seq(), 9);
  EXPECT_EQ(h.history().oldest_seq(), 1);
  ASSERT_EQ(h.history().messages_size(), 2);
  EXPECT_EQ(h.history().messages(1).seq(), 9);
  EXPECT_EQ(h.history().messages(0).type(), "chat_message");

  ServerFrame e = ErrorFrame("rate_limited", "slow down", "n2", absl::Milliseconds(250));
  EXPECT_EQ(e.error().type(), "error");
  EXPECT_EQ(e.error().code(), "rate_limited");
  EXPECT_EQ(e.error().id(), "n2");
  EXPECT_EQ(e.error().retry_after_ms(), 250);
}

}  // namespace
}  // namespace chat::gateway
