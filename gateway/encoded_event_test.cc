#include "gateway/encoded_event.h"

#include <gtest/gtest.h>

#include "proto/client.pb.h"

namespace chat::gateway {
namespace {

ChatMessage Message() {
  ChatMessage m;
  m.set_server("demo");
  m.set_channel("general");
  m.set_message("hi");
  m.set_author("Alice");
  m.set_author_id("alice");
  m.set_id("1700000000000");
  m.set_sent_at(42);
  return m;
}

std::string Payload(int64_t seq, const Event& e) {
  return std::to_string(seq) + " " + e.SerializeAsString();
}

TEST(EncodedEventTest, ParsesTheSeqIntoTheMessage) {
  Event e;
  *e.mutable_chat_message() = Message();
  auto parsed = DecodeTopicPayload("t", Payload(17, e));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)->seq(), 17);
  EXPECT_FALSE((*parsed)->personal());
  EXPECT_EQ((*parsed)->event().chat_message().seq(), 17);
  EXPECT_EQ((*parsed)->event().chat_message().type(), "chat_message");
  EXPECT_EQ((*parsed)->event().chat_message().message(), "hi");
}

TEST(EncodedEventTest, PersonalEventsCarryTheirUserSeqOnTheWire) {
  Event e;
  e.mutable_read_state()->set_server("demo");
  e.mutable_read_state()->set_channel("general");
  e.mutable_read_state()->set_last_read_seq(9);
  auto parsed = DecodeTopicPayload("t", Payload(4, e));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE((*parsed)->personal());
  EXPECT_NE((*parsed)->Json().find(R"("type":"read_state")"), std::string::npos);
  EXPECT_NE((*parsed)->Json().find(R"("user_seq":"4")"), std::string::npos);
  ServerFrame frame;
  ASSERT_TRUE(frame.ParseFromString((*parsed)->Binary()));
  EXPECT_EQ(frame.read_state().user_seq(), 4);

  Event created;
  created.mutable_channel_created()->set_id("news");
  EncodedEvent c("t", created, 5);
  EXPECT_NE(c.Json().find(R"("type":"channel_created")"), std::string::npos);
  EXPECT_NE(c.Json().find(R"("user_seq":"5")"), std::string::npos);

  Event inv;
  inv.mutable_invitation()->set_type("invitation");
  EncodedEvent i("t", inv, 6);
  EXPECT_NE(i.Json().find(R"("user_seq":"6")"), std::string::npos);
  EXPECT_EQ(i.SeedJson().find("user_seq"), std::string::npos);  // The seed's shape only.
}

TEST(EncodedEventTest, PagesOfTheLogs) {
  HistoryResponse h;
  h.set_head_seq(8);
  h.set_oldest_seq(2);
  h.add_messages()->set_seq(7);
  TailPage page = PageOfMessages("t", h);
  EXPECT_EQ(page.head_seq, 8);
  EXPECT_EQ(page.oldest_seq, 2);
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0]->seq(), 7);
  PersonalTailResponse p;
  p.set_head_seq(3);
  PersonalEvent* e = p.add_events();
  e->set_user_seq(3);
  e->mutable_event()->mutable_server_joined()->set_id("demo");
  page = PageOfPersonal("u", p);
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0]->seq(), 3);
  EXPECT_TRUE(page.events[0]->personal());
  EXPECT_EQ(page.events[0]->topic(), "u");
}

TEST(EncodedEventTest, RefusesMalformedPayloads) {
  for (const char* bad : {"", "12", "x \x0a\x02", "3 \xff\xff\xff", "-1 "}) {
    EXPECT_EQ(DecodeTopicPayload("t", bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(EncodedEventTest, WireFormsOfAChatMessage) {
  auto e = EncodedEvent::ForMessage("t", [] {
    ChatMessage m = Message();
    m.set_seq(5);
    return m;
  }());
  EXPECT_EQ(e->seq(), 5);
  EXPECT_NE(e->Json().find(R"("type":"chat_message")"), std::string::npos);
  EXPECT_NE(e->Json().find(R"("seq":"5")"), std::string::npos);
  ServerFrame frame;
  ASSERT_TRUE(frame.ParseFromString(e->Binary()));
  EXPECT_EQ(frame.chat_message().seq(), 5);
  EXPECT_EQ(frame.chat_message().type(), "chat_message");
  // The seed's shape: its numeric id stays a number, and no seq.
  EXPECT_NE(e->SeedJson().find(R"("id":1700000000000)"), std::string::npos);
  EXPECT_EQ(e->SeedJson().find("seq"), std::string::npos);
  // Each form is encoded once and shared.
  EXPECT_EQ(&e->Json(), &e->Json());
}

TEST(EncodedEventTest, WireFormsOfOtherEvents) {
  Event typing;
  typing.mutable_typing()->set_type("typing");
  typing.mutable_typing()->set_user_id("bob");
  EncodedEvent t("t", typing);
  EXPECT_NE(t.Json().find(R"("user_id":"bob")"), std::string::npos);
  EXPECT_EQ(t.seq(), 0);
  EXPECT_TRUE(t.SeedJson().empty());  // The seed knows no typing.

  Event joined;
  joined.mutable_server_joined()->set_id("demo");
  EncodedEvent j("t", joined);
  EXPECT_NE(j.Json().find(R"("type":"server_joined")"), std::string::npos);
  ServerFrame frame;
  ASSERT_TRUE(frame.ParseFromString(j.Binary()));
  EXPECT_EQ(frame.server_joined().server().id(), "demo");

  Event inv;
  inv.mutable_invitation()->set_type("invitation");
  inv.mutable_invitation()->set_invited("bob");
  inv.mutable_invitation()->set_inviting("alice");
  EncodedEvent i("t", inv);
  EXPECT_NE(i.SeedJson().find(R"("invited":"bob")"), std::string::npos);
  Event expired = inv;
  expired.mutable_invitation()->set_type("invitation_expired");
  EXPECT_TRUE(EncodedEvent("t", expired).SeedJson().empty());
}

}  // namespace
}  // namespace chat::gateway
