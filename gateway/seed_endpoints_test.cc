#include "gateway/seed_endpoints.h"

#include <gtest/gtest.h>

namespace chat::gateway {
namespace {

TEST(SeedEndpointsTest, RoutesEachEndpoint) {
  auto native = ParseRoute("/ws");
  ASSERT_TRUE(native.has_value());
  EXPECT_EQ(native->mode, SessionMode::kNative);
  EXPECT_EQ(ParseRoute("/ws/?token=x")->mode, SessionMode::kNative);

  auto chat = ParseRoute("/ws/chat/demo/general/?token=a%2Bb%3D+c");
  ASSERT_TRUE(chat.has_value());
  EXPECT_EQ(chat->mode, SessionMode::kSeedChat);
  EXPECT_EQ(chat->server, "demo");
  EXPECT_EQ(chat->channel, "general");
  EXPECT_EQ(chat->token, "a+b= c");

  auto personal = ParseRoute("/ws/personal/bob/?x=1&token=t");
  ASSERT_TRUE(personal.has_value());
  EXPECT_EQ(personal->mode, SessionMode::kSeedPersonal);
  EXPECT_EQ(personal->path_user, "bob");
  EXPECT_EQ(personal->token, "t");
}

TEST(SeedEndpointsTest, RefusesOtherPathsAndInvalidIds) {
  for (const char* target :
       {"/", "/wss", "/ws/chat/demo", "/ws/chat/demo/general/extra/", "/ws/personal/",
        "/ws/chat/de%7Bmo/general/", "/ws/chat/{x}/y/", "/ws/personal/a:b/", "/api/ws"}) {
    EXPECT_FALSE(ParseRoute(target).has_value()) << target;
  }
}

TEST(SeedEndpointsTest, QueryParams) {
  EXPECT_EQ(QueryParam("/p?a=1&b=two%20words", "b"), "two words");
  EXPECT_EQ(QueryParam("/p?a=1", "b"), "");
  EXPECT_EQ(QueryParam("/p", "a"), "");
  EXPECT_EQ(QueryParam("/p?a=%zz%4", "a"), "%zz%4");  // Broken escapes stay as they are.
}

TEST(SeedEndpointsTest, SeedChatBecomesANativeChatMessageToThePathsChannel) {
  SessionRoute route = *ParseRoute("/ws/chat/demo/general/");
  auto f = SeedFrameToClient(
      route, R"({"type":"chat_message","message":"hi","author":"x","server":"other","id":1700})");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_chat_message());
  EXPECT_EQ(f->chat_message().server(), "demo");
  EXPECT_EQ(f->chat_message().channel(), "general");
  EXPECT_EQ(f->chat_message().message(), "hi");
  EXPECT_EQ(f->chat_message().id(), "1700");
  EXPECT_TRUE(f->chat_message().author().empty());
  EXPECT_EQ(SeedFrameToClient(route, "nope").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SeedEndpointsTest, SeedInvitationFramesKeepTheirKind) {
  SessionRoute route = *ParseRoute("/ws/personal/bob/");
  auto invite = SeedFrameToClient(route, R"({"type":"invitation","invited":"bob"})");
  ASSERT_TRUE(invite.ok());
  EXPECT_TRUE(invite->has_invitation());
  auto accept = SeedFrameToClient(route, R"({"type":"accept_invitation","inviting":"bob"})");
  ASSERT_TRUE(accept.ok());
  EXPECT_TRUE(accept->has_accept_invitation());
  auto cancel = SeedFrameToClient(route, R"({"type":"cancel_invitation","invited":"bob"})");
  ASSERT_TRUE(cancel.ok());
  EXPECT_TRUE(cancel->has_cancel_invitation());
  EXPECT_EQ(SeedFrameToClient(route, R"({"type":"chat_message"})").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(SeedEndpointsTest, ChannelMembership) {
  UserState state;
  Server* s = state.add_servers();
  s->set_id("demo");
  s->add_channels()->set_id("general");
  EXPECT_TRUE(IsChannelMember(state, "demo", "general"));
  EXPECT_FALSE(IsChannelMember(state, "demo", "random"));
  EXPECT_FALSE(IsChannelMember(state, "other", "general"));
}

}  // namespace
}  // namespace chat::gateway
