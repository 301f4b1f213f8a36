#include "gateway/frame_codec.h"

#include <gtest/gtest.h>

namespace chat::gateway {
namespace {

TEST(FrameCodecTest, ParsesEachClientFrame) {
  auto f = ParseClientJson(R"({"type":"identify","token":"t"})");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->identify().token(), "t");
  f = ParseClientJson(
      R"({"type":"chat_message","server":"s","channel":"c","message":"hi","id":"n1",)"
      R"("author":"forged","extra":1})");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->chat_message().message(), "hi");
  EXPECT_EQ(f->chat_message().id(), "n1");
  f = ParseClientJson(R"({"type":"history","server":"s","channel":"c","before":"10","limit":5})");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->history().before(), 10);
  EXPECT_EQ(f->history().limit(), 5);
}

TEST(FrameCodecTest, ClassifiesBadFrames) {
  EXPECT_EQ(ParseClientJson("not json").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClientJson("[1,2]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClientJson(R"({"type":"chat_message","message":5})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClientJson(R"({"type":"launch_missiles"})").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ParseClientJson(R"({"message":"no type"})").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ParseClientBinary("\xff\xff\xff").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClientBinary("").status().code(), absl::StatusCode::kUnimplemented);
}

TEST(FrameCodecTest, ScansTheTopLevelType) {
  EXPECT_EQ(ScanFrameType(R"({"type":"typing","server":"s"})"), "typing");
  // Whatever comes before it, nested values included, is skipped.
  EXPECT_EQ(ScanFrameType(
                R"( { "id" : "a,b}" , "n": -1.5e3, "o": {"type": "inner", "a": [1, {"x": "]"}]},)"
                R"( "t": true, "type" : "history" })"),
            "history");
  // What the scan cannot read falls back to a full parse: no type, an
  // escaped key or value, a non-string type, or text that is no object.
  EXPECT_EQ(ScanFrameType(R"({"message":"no type"})"), std::nullopt);
  EXPECT_EQ(ScanFrameType(R"({"typ\u0065":"typing"})"), std::nullopt);
  EXPECT_EQ(ScanFrameType(R"({"type":"typ\u0069ng"})"), std::nullopt);
  EXPECT_EQ(ScanFrameType(R"({"type":5})"), std::nullopt);
  EXPECT_EQ(ScanFrameType("[1,2]"), std::nullopt);
  EXPECT_EQ(ScanFrameType(R"({"id":"unterminated)"), std::nullopt);
  EXPECT_EQ(ScanFrameType(""), std::nullopt);
}

TEST(FrameCodecTest, FramesTheScanCannotReadStillParse) {
  auto f = ParseClientJson(R"({"typ\u0065":"typing","server":"s","channel":"c"})");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->typing().server(), "s");
  f = ParseClientJson(R"({"server":"s","type":"typ\u0069ng"})");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->has_typing());
}

TEST(FrameCodecTest, BinaryRoundTrip) {
  ClientFrame in;
  in.mutable_chat_message()->set_message("hi");
  auto out = ParseClientBinary(in.SerializeAsString());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->chat_message().message(), "hi");
}

TEST(FrameCodecTest, ChatEventJsonHasEveryField) {
  ChatMessage m;
  m.set_server("s");
  m.set_channel("c");
  m.set_seq(7);
  m.set_message("hi");
  m.set_author("Alice");
  m.set_id("n1");
  m.set_sent_at(1700000000000);
  EXPECT_EQ(ChatEventJson(m),
            R"({"type":"chat_message","server":"s","channel":"c","seq":"7","message":"hi",)"
            R"("author":"Alice","image":"","id":"n1","sent_at":"1700000000000","author_id":""})");
}

TEST(FrameCodecTest, SeedShapesRoundTrip) {
  // The seed's frontend sends Date.now() as a number and its own author/image.
  auto in =
      ParseSeedChat(R"({"type":"chat_message","message":"hello","author":"mallory","image":"x",)"
                    R"("server":1,"channel":"2","id":1732700000123})");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->nonce, "1732700000123");
  EXPECT_EQ(in->message, "hello");
  ChatMessage m;
  m.set_server("demo");
  m.set_channel("general");
  m.set_message("hello");
  m.set_author("Alice");
  m.set_image("https://img/a.png");
  m.set_id(in->nonce);
  m.set_seq(3);
  EXPECT_EQ(SeedChatJson(m), R"({"type":"chat_message","message":"hello","author":"Alice",)"
                             R"("image":"https://img/a.png","server":"demo","channel":"general",)"
                             R"("id":1732700000123})");
  m.set_id("abc");
  EXPECT_NE(SeedChatJson(m).find(R"("id":"abc")"), std::string::npos);
  EXPECT_FALSE(ParseSeedChat(R"({"type":"chat_message","message":"x"})").ok());
  EXPECT_FALSE(ParseSeedChat("{").ok());
}

}  // namespace
}  // namespace chat::gateway
