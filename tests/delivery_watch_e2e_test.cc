// The delivery watch end to end (gateway/delivery_watch.h): clients report
// their watermarks in heartbeat frames; a client still short of what the
// gateway knew a grace period earlier gets it again, whether the client lost
// it (the gateway passed it on) or the gateway's subscription never brought
// it (a message in the log that no publication announced, found by the
// log-head probe). Real Redis, real services, a real gateway.
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/keys.h"
#include "google/protobuf/util/json_util.h"
#include "proto/client.pb.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

using Outcome = gateway::WatermarkVerdict::Outcome;

constexpr absl::Duration kGrace = absl::Seconds(1);

void Tune(gateway::GatewayOptions& o) {
  o.chat_rate = o.chat_burst = o.frame_rate = o.frame_burst = 1e6;
  o.watermark_grace = kGrace;
  o.head_probe_interval = absl::ZeroDuration();
}

std::string Heartbeat(const std::string& channel, int64_t seq) {
  return absl::StrCat(R"({"type":"heartbeat","channels":[{"server":"demo","channel":")", channel,
                      R"(","seq":")", seq, R"("}]})");
}

class DeliveryWatchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(1, Tune);
    ASSERT_TRUE(stack_->Start().ok());
  }

  // Send sends one message from c to general and returns its acked seq.
  int64_t Send(WsClient& c, const std::string& id) {
    c.Send(absl::StrCat(R"({"type":"chat_message","server":"demo","channel":"general",)",
                        R"("message":"m )", id, R"(","id":")", id, R"("})"));
    auto ack = c.NextOfType("ack");
    EXPECT_TRUE(ack);
    return ack ? std::stoll(JsonField(*ack, "seq")) : -1;
  }

  // NextSeq reads c's next chat_message and returns its seq.
  static int64_t NextSeq(WsClient& c) {
    auto m = c.NextOfType("chat_message");
    EXPECT_TRUE(m);
    return m ? std::stoll(JsonField(*m, "seq")) : -1;
  }

  gateway::DeliveryStats& stats() { return stack_->gateway().metrics().delivery; }

  std::unique_ptr<Stack> stack_;
};

TEST_F(DeliveryWatchE2eTest, AClientShortOfWhatItWasSentGetsItAgain) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  ASSERT_TRUE(alice && bob);
  const int64_t s1 = Send(*alice, "a1");
  const int64_t s2 = Send(*alice, "a2");
  const int64_t s3 = Send(*alice, "a3");
  ASSERT_EQ(NextSeq(*bob), s1);
  ASSERT_EQ(NextSeq(*bob), s2);
  ASSERT_EQ(NextSeq(*bob), s3);
  // Bob's client lost s2 and s3 (say, a bug in its store): its watermark
  // stays at s1. Within the grace period that is lag, not loss.
  bob->Send(Heartbeat("general", s1));
  bob->Send(Heartbeat("general", s1));
  EXPECT_FALSE(bob->NextOfType("chat_message", absl::Milliseconds(100)));
  absl::SleepFor(2 * kGrace);
  bob->Send(Heartbeat("general", s1));
  EXPECT_EQ(NextSeq(*bob), s2);  // Sent again, in order, from the log.
  EXPECT_EQ(NextSeq(*bob), s3);
  EXPECT_EQ(stats().reports(false, Outcome::kStalled), 1u);
  EXPECT_EQ(stats().lost_events(), 2u);
  EXPECT_EQ(stats().refills(false), 1u);
  EXPECT_EQ(stats().refills(true), 0u);
  // Caught up: judged current from now on, and live messages still arrive once.
  absl::SleepFor(2 * kGrace);
  bob->Send(Heartbeat("general", s3));
  const int64_t s4 = Send(*alice, "a4");
  EXPECT_EQ(NextSeq(*bob), s4);
  EXPECT_FALSE(bob->NextOfType("chat_message", absl::Milliseconds(200)));
  EXPECT_EQ(stats().reports(false, Outcome::kStalled), 1u);
  const std::string text = stack_->gateway().metrics().Render();
  EXPECT_NE(text.find("chat_gateway_channel_lost_events_total{channel=\"demo/general\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("chat_gateway_delivery_refills_total{scope=\"session\"} 1\n"),
            std::string::npos);
}

// Unannounced stores a message in general as the chat service would, but
// publishes nothing: what a subscription that silently stopped bringing
// events looks like. Returns its seq.
int64_t Unannounced(Stack& stack, int64_t head) {
  ChatMessage m;
  m.set_server("demo");
  m.set_channel("general");
  m.set_author("carol");
  m.set_message("unannounced");
  m.set_sent_at(absl::ToUnixMillis(absl::Now()));
  stack.redis_command({"EVAL",
                       "local seq = redis.call('INCR', KEYS[1]) "
                       "redis.call('XADD', KEYS[2], seq .. '-0', 'm', ARGV[1]) return seq",
                       "2", keys::ChannelSeq("demo", "general"),
                       keys::ChannelLog("demo", "general"), m.SerializeAsString()});
  return head + 1;
}

int64_t GeneralHead(const std::string& ready_json) {
  Ready ready;
  if (!google::protobuf::util::JsonStringToMessage(ready_json, &ready).ok()) return -1;
  for (const Server& s : ready.servers()) {
    for (const Channel& c : s.channels()) {
      if (s.id() == "demo" && c.id() == "general") return c.head_seq();
    }
  }
  return -1;
}

// The probe finds the head the clients lack; two grace periods on, bob is
// stalled and the gateway itself never passed the message on, so its own
// stream is re-read for every subscriber: alice, who sent no heartbeat,
// gets it too.
void ExpectFoundAndRefilled(Stack& stack, gateway::DeliveryStats& stats, WsClient& alice,
                            WsClient& bob, int64_t held, int64_t lost) {
  bob.Send(Heartbeat("general", held));
  for (int i = 0; i < 250 && stack.gateway().metrics().head_probes.Get("ok") == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(stack.gateway().metrics().head_probes.Get("ok"), 1u);
  EXPECT_FALSE(bob.NextOfType("chat_message", absl::Milliseconds(100)));
  absl::SleepFor(2 * kGrace);
  bob.Send(Heartbeat("general", held));
  absl::SleepFor(2 * kGrace);
  bob.Send(Heartbeat("general", held));
  for (WsClient* c : {&bob, &alice}) {
    auto got = c->NextOfType("chat_message");
    ASSERT_TRUE(got);
    EXPECT_EQ(std::stoll(JsonField(*got, "seq")), lost);
    EXPECT_EQ(JsonField(*got, "message"), "unannounced");
  }
  EXPECT_EQ(stats.refills(true), 1u);
  EXPECT_EQ(stats.refills(false), 0u);
  EXPECT_EQ(stats.lost_events(), 1u);
}

TEST_F(DeliveryWatchE2eTest, AMessageNoPublicationAnnouncedIsFoundAndRefilledForEveryone) {
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  ASSERT_TRUE(alice && bob);
  const int64_t s1 = Send(*alice, "a1");
  ASSERT_EQ(NextSeq(*bob), s1);
  ASSERT_EQ(NextSeq(*alice), s1);
  const int64_t lost = Unannounced(*stack_, s1);
  ExpectFoundAndRefilled(*stack_, stats(), *alice, *bob, s1, lost);
  // The stream goes on live, without a repeat.
  const int64_t s3 = Send(*alice, "a3");
  EXPECT_EQ(s3, lost + 1);
  EXPECT_EQ(NextSeq(*bob), s3);
  EXPECT_FALSE(bob->NextOfType("chat_message", absl::Milliseconds(200)));
}

TEST_F(DeliveryWatchE2eTest, OnAChannelWithoutTrafficTheRepairStartsFromTheWatermark) {
  // No event has passed this gateway on general: it has no sequencer to
  // re-read from, so the repair starts one at the reporter's watermark.
  std::string ready;
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob", &ready);
  ASSERT_TRUE(alice && bob);
  const int64_t head = GeneralHead(ready);
  ASSERT_GE(head, 0);
  const int64_t lost = Unannounced(*stack_, head);
  ExpectFoundAndRefilled(*stack_, stats(), *alice, *bob, head, lost);
  const int64_t next = Send(*alice, "a2");
  EXPECT_EQ(NextSeq(*bob), next);
}

TEST_F(DeliveryWatchE2eTest, AWatermarkBelowWhatTheClientJoinedWithAsksForNothing) {
  auto alice = stack_->Identified("alice");
  ASSERT_TRUE(alice);
  for (int i = 0; i < 3; ++i) Send(*alice, absl::StrCat("before", i));
  auto bob = stack_->Identified("bob");  // Joins at head: those three are history.
  ASSERT_TRUE(bob);
  bob->Send(Heartbeat("general", 0));
  absl::SleepFor(2 * kGrace);
  bob->Send(Heartbeat("general", 0));
  absl::SleepFor(2 * kGrace);
  bob->Send(Heartbeat("general", 0));
  EXPECT_FALSE(bob->NextOfType("chat_message", absl::Milliseconds(300)));
  EXPECT_EQ(stats().reports(false, Outcome::kStalled), 0u);
  EXPECT_EQ(stats().refills(false) + stats().refills(true), 0u);
  EXPECT_GE(stats().reports(false, Outcome::kCurrent), 3u);
}

TEST_F(DeliveryWatchE2eTest, ThePersonalStreamIsWatchedToo) {
  std::string ready;
  auto bob = stack_->Identified("bob", &ready);
  auto alice = stack_->Identified("alice");
  ASSERT_TRUE(alice && bob);
  Ready parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ready, &parsed).ok()) << ready;
  const int64_t head = parsed.user_seq();
  alice->Send(R"({"type":"invitation","invited":"bob"})");
  auto inv = bob->NextOfType("invitation");
  ASSERT_TRUE(inv);
  const int64_t user_seq = std::stoll(JsonField(*inv, "user_seq"));
  ASSERT_GT(user_seq, head);
  const std::string heartbeat = absl::StrCat(R"({"type":"heartbeat","user_seq":")", head, R"("})");
  bob->Send(heartbeat);
  absl::SleepFor(2 * kGrace);
  bob->Send(heartbeat);
  inv = bob->NextOfType("invitation");
  ASSERT_TRUE(inv) << "the personal event was not sent again";
  EXPECT_EQ(std::stoll(JsonField(*inv, "user_seq")), user_seq);
  EXPECT_EQ(stats().reports(true, Outcome::kStalled), 1u);
  EXPECT_EQ(stats().refills(false), 1u);
}

TEST_F(DeliveryWatchE2eTest, BadHeartbeatsGetAnErrorAndChangeNothing) {
  WsClient anonymous;
  ASSERT_TRUE(anonymous.Connect(stack_->gateway_port(), "/ws").ok());
  anonymous.Send(Heartbeat("general", 1));
  auto e = anonymous.NextOfType("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(JsonField(*e, "code"), "not_identified");

  auto bob = stack_->Identified("bob");
  ASSERT_TRUE(bob);
  bob->Send(Heartbeat("general", -1));
  e = bob->NextOfType("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(JsonField(*e, "code"), "invalid_argument");
  // An id that tries to reach another key ("demo:general" would make a
  // channel topic of its own).
  bob->Send(
      R"({"type":"heartbeat","channels":[{"server":"demo:general","channel":"x","seq":"1"}]})");
  e = bob->NextOfType("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(JsonField(*e, "code"), "invalid_argument");
  bob->Send(R"({"type":"heartbeat","user_seq":"-5"})");
  e = bob->NextOfType("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(JsonField(*e, "code"), "invalid_argument");
  // More channels than the session follows.
  std::string many = R"({"type":"heartbeat","channels":[)";
  for (int i = 0; i < 50; ++i) {
    absl::StrAppend(&many, i ? "," : "", R"({"server":"demo","channel":"c)", i, R"(","seq":"1"})");
  }
  bob->Send(many + "]}");
  e = bob->NextOfType("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(JsonField(*e, "code"), "invalid_argument");
  EXPECT_EQ(stats().reports(false, Outcome::kCurrent) + stats().reports(false, Outcome::kBehind),
            0u);
  // A channel the session does not follow: counted, no error, no refill.
  bob->Send(R"({"type":"heartbeat","channels":[{"server":"other","channel":"x","seq":"0"}]})");
  bob->Send(Heartbeat("general", 0));
  for (int i = 0;
       i < 50 &&
       stats().reports(false, Outcome::kCurrent) + stats().reports(false, Outcome::kBehind) == 0;
       ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(stats().reports(false, Outcome::kCurrent) + stats().reports(false, Outcome::kBehind),
            1u);
  const std::string text = stack_->gateway().metrics().Render();
  EXPECT_NE(
      text.find("chat_gateway_watermark_reports_total{stream=\"channel\",outcome=\"unknown\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_FALSE(bob->NextOfType("error", absl::Milliseconds(100)));
}

}  // namespace
}  // namespace chat::testing
