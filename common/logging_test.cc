#include "common/logging.h"

#include "gtest/gtest.h"

namespace chat {
namespace {

std::string Json(absl::string_view payload) {
  std::string out = "{";
  LogfmtToJson(payload, &out);
  return out + "}";
}

TEST(LogfmtToJsonTest, PairsBecomeMembers) {
  EXPECT_EQ(Json("event=listening port=8080 tls=off"),
            R"({"event":"listening","port":"8080","tls":"off"})");
}

TEST(LogfmtToJsonTest, QuotedValuesAreUnescapedThenEscaped) {
  EXPECT_EQ(Json(R"(event=x error="it said \"no\"" path=a\b)"),
            R"({"event":"x","error":"it said \"no\"","path":"a\\b"})");
}

TEST(LogfmtToJsonTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(Json("event=x error=\"a\nb\x01\""), R"({"event":"x","error":"a\nb\u0001"})");
}

TEST(LogfmtToJsonTest, WhatIsNotLogfmtIsKeptAsMsg) {
  EXPECT_EQ(Json("plain words"), R"({"msg":"plain words"})");
  EXPECT_EQ(Json("event=x then words"), R"({"event":"x","msg":"then words"})");
  EXPECT_EQ(Json(R"(event=x error="unterminated)"),
            R"({"event":"x","msg":"error=\"unterminated"})");
  EXPECT_EQ(Json(""), "{}");
}

TEST(SetupLoggingTest, RefusesUnknownLevelsAndFormats) {
  EXPECT_EQ(SetupLogging("t", "loud").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetupLogging("t", "info", "xml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SetupLogging("t", "off", "json").ok());
  EXPECT_TRUE(SetupLogging("t", "warn", "text").ok());
}

TEST(LogLimiterTest, LetsThroughAtMostPerSecondAndCountsTheRest) {
  LogLimiter limiter(3);
  uint64_t suppressed = 99;
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.Allow(&suppressed) ? 1 : 0;
  // All ten ran within one second unless the clock ticked over in between.
  EXPECT_GE(allowed, 3);
  EXPECT_LE(allowed, 6);
  EXPECT_EQ(suppressed, 0u);  // Nothing was held back before the first three.
}

}  // namespace
}  // namespace chat
