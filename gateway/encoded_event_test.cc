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
  absl::StatusOr<Event> parsed = ParseTopicPayload(Payload(17, e));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->chat_message().seq(), 17);
  EXPECT_EQ(parsed->chat_message().type(), "chat_message");
  EXPECT_EQ(parsed->chat_message().message(), "hi");
}

TEST(EncodedEventTest, RefusesMalformedPayloads) {
  EXPECT_EQ(ParseTopicPayload("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTopicPayload("12").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTopicPayload("x \x0a\x02").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTopicPayload("3 \xff\xff\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
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
