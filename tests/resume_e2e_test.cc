// Delivery a user can rely on, end to end over two gateway replicas: resume
// from cursors (channels and the personal stream) on either replica, read
// state on the server, resync_required, channels created while connected,
// token expiry and refresh, bounded history replies, slow consumers, and the
// guards that only matter under races (duplicate publications, nonces scoped
// to their channel, ready after a pub/sub reconnect).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/keys.h"
#include "gateway/auth.h"
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

void Fast(gateway::GatewayOptions& o) {
  o.chat_rate = o.chat_burst = o.frame_rate = o.frame_burst = 1e6;
  o.max_inflight_requests = 1000;
  o.jwt_clock_skew = absl::ZeroDuration();  // Tokens of a few seconds expire on time.
}

class ResumeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(2, Fast);
    ASSERT_TRUE(stack_->Start().ok());
  }

  // Identify connects to gateway gw and identifies, with resume (JSON) if
  // not empty; returns the client, ready in *ready.
  std::unique_ptr<WsClient> Identify(const std::string& user, int gw, const std::string& resume,
                                     Ready* ready) {
    auto c = std::make_unique<WsClient>();
    if (!c->Connect(stack_->gateway_port(gw), "/ws").ok()) return nullptr;
    c->Send(absl::StrCat(R"({"type":"identify","token":")", stack_->Token(user), R"(")",
                         resume.empty() ? "" : absl::StrCat(R"(,"resume":)", resume), "}"));
    auto r = c->NextOfType("ready");
    if (!r) return nullptr;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*r, ready).ok()) << *r;
    return c;
  }

  // SendAcked sends n messages from c to channel and waits for their acks;
  // returns the acked seqs, ascending.
  std::vector<int64_t> SendAcked(WsClient& c, const std::string& channel, int n,
                                 const std::string& prefix) {
    for (int i = 0; i < n; ++i) c.Send(ChatFrame(channel, "m", absl::StrCat(prefix, i)));
    std::vector<int64_t> seqs;
    for (int i = 0; i < n; ++i) {
      auto ack = c.NextOfType("ack");
      EXPECT_TRUE(ack);
      if (!ack) break;
      seqs.push_back(std::stoll(JsonField(*ack, "seq")));
    }
    std::sort(seqs.begin(), seqs.end());  // Acks may overtake each other.
    return seqs;
  }

  std::unique_ptr<Stack> stack_;
};

int64_t Head(const Ready& r, const std::string& channel) {
  for (const Channel& c : r.servers(0).channels()) {
    if (c.id() == channel) return c.head_seq();
  }
  return -1;
}

TEST_F(ResumeE2eTest, ResumeOnTheOtherReplicaReplaysEverythingMissedInOrderThenLive) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  auto bob = Identify("bob", 0, "", &ready);
  ASSERT_TRUE(alice && bob);
  SendAcked(*alice, "general", 3, "a");
  int64_t cursor = 0;
  for (int i = 0; i < 3; ++i) {
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m);
    cursor = std::stoll(JsonField(*m, "seq"));
  }
  const int64_t personal = ready.user_seq();
  bob.reset();  // Bob goes away...
  // ...while 40 messages are stored, in two channels, and alice invites him.
  std::vector<int64_t> general = SendAcked(*alice, "general", 30, "b");
  std::vector<int64_t> random = SendAcked(*alice, "random", 10, "c");
  alice->Send(R"({"type":"invitation","invited":"bob"})");
  ASSERT_TRUE(alice->NextOfType("invitation"));

  // He comes back on the other replica with his cursors.
  auto again =
      Identify("bob", 1,
               absl::StrCat(R"({"channels":[{"server":"demo","channel":"general","seq":")", cursor,
                            R"("},{"server":"demo","channel":"random","seq":"0"}],)",
                            R"("user_seq":")", personal, R"("})"),
               &ready);
  ASSERT_TRUE(again);
  std::map<std::string, std::vector<int64_t>> got;
  int invitations = 0;
  for (;;) {
    auto f = again->Next();
    ASSERT_TRUE(f) << "no resumed frame";
    const std::string type = JsonField(*f, "type");
    if (type == "resumed") {
      EXPECT_EQ(JsonField(*f, "replayed"), "41");
      break;
    }
    if (type == "chat_message") {
      got[JsonField(*f, "channel")].push_back(std::stoll(JsonField(*f, "seq")));
    } else if (type == "invitation") {
      ++invitations;
      EXPECT_EQ(JsonField(*f, "user_seq"), std::to_string(personal + 1));
    }
  }
  EXPECT_EQ(got["general"], general);  // Every one, once, in seq order.
  EXPECT_EQ(got["random"], random);
  EXPECT_EQ(invitations, 1);
  // What follows is live.
  std::vector<int64_t> live = SendAcked(*alice, "general", 1, "d");
  auto m = again->NextOfType("chat_message");
  ASSERT_TRUE(m);
  EXPECT_EQ(std::stoll(JsonField(*m, "seq")), live[0]);
}

// An edit and a delete made while a member was away reach them on resume,
// in the log's order (what Rocket.Chat's offline clients never got).
TEST_F(ResumeE2eTest, EditsAndDeletesMadeWhileAwayAreReplayedOnResume) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  auto bob = Identify("bob", 0, "", &ready);
  ASSERT_TRUE(alice && bob);
  std::vector<int64_t> sent = SendAcked(*alice, "general", 2, "r");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(bob->NextOfType("chat_message"));
  bob.reset();
  alice->Send(absl::StrCat(R"({"type":"edit_message","server":"demo","channel":"general","seq":")",
                           sent[0], R"(","message":"edited while away","id":"e"})"));
  ASSERT_TRUE(alice->NextOfType("ack"));
  alice->Send(absl::StrCat(R"({"type":"delete_message","server":"demo","channel":"general",)",
                           R"("seq":")", sent[1], R"(","id":"d"})"));
  ASSERT_TRUE(alice->NextOfType("ack"));
  auto again = Identify("bob", 1,
                        absl::StrCat(R"({"channels":[{"server":"demo","channel":"general","seq":")",
                                     sent[1], R"("}]})"),
                        &ready);
  ASSERT_TRUE(again);
  std::vector<std::string> got;
  for (;;) {
    auto f = again->Next();
    ASSERT_TRUE(f) << "no resumed frame";
    const std::string type = JsonField(*f, "type");
    if (type == "resumed") break;
    if (type == "message_update") {
      EXPECT_EQ(JsonField(*f, "message_seq"), std::to_string(sent[0]));
      EXPECT_EQ(JsonField(*f, "message"), "edited while away");
    }
    if (type == "message_delete") {
      EXPECT_EQ(JsonField(*f, "message_seq"), std::to_string(sent[1]));
    }
    if (absl::StartsWith(type, "message_") || type == "chat_message") {
      got.push_back(absl::StrCat(type, ":", JsonField(*f, "seq")));
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{absl::StrCat("message_update:", sent[1] + 1),
                                           absl::StrCat("message_delete:", sent[1] + 2)}));
}

TEST_F(ResumeE2eTest, ACursorOlderThanTheLogGetsResyncRequired) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  ASSERT_TRUE(alice);
  SendAcked(*alice, "general", 5, "a");
  // Retention trimmed everything so far; two more messages are kept.
  stack_->redis_command({"XTRIM", keys::ChannelLog("demo", "general"), "MAXLEN", "0"});
  std::vector<int64_t> kept = SendAcked(*alice, "general", 2, "b");
  auto bob = Identify("bob", 1, R"({"channels":[{"server":"demo","channel":"general","seq":"2"}]})",
                      &ready);
  ASSERT_TRUE(bob);
  auto resync = bob->NextOfType("resync_required");
  ASSERT_TRUE(resync);
  EXPECT_EQ(JsonField(*resync, "scope"), "channel");
  EXPECT_EQ(JsonField(*resync, "channel"), "general");
  EXPECT_EQ(JsonField(*resync, "from_seq"), "3");
  EXPECT_EQ(JsonField(*resync, "oldest_seq"), std::to_string(kept[0]));
  for (int64_t seq : kept) {
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m);
    EXPECT_EQ(std::stoll(JsonField(*m, "seq")), seq);
  }
  EXPECT_TRUE(bob->NextOfType("resumed"));
}

TEST_F(ResumeE2eTest, ReadMarkersReachEveryTabAndSurviveAReconnect) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  ASSERT_TRUE(alice);
  alice->Send(ChatFrame("general", "hi <@bob>", "m1"));
  alice->Send(ChatFrame("general", "plain", "m2"));
  alice->Send(ChatFrame("general", "again <@bob>", "m3"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(alice->NextOfType("ack"));
  auto tab1 = Identify("bob", 0, "", &ready);
  auto tab2 = Identify("bob", 1, "", &ready);
  ASSERT_TRUE(tab1 && tab2);
  const Channel& general = ready.servers(0).channels(0);
  ASSERT_EQ(general.id(), "general");
  EXPECT_EQ(general.unread(), 3);
  EXPECT_EQ(general.mentions(), 2);
  EXPECT_EQ(ready.servers(0).mentions(), 2);
  tab1->Send(R"({"type":"read","server":"demo","channel":"general","seq":"2"})");
  for (WsClient* tab : {tab1.get(), tab2.get()}) {
    auto rs = tab->NextOfType("read_state");
    ASSERT_TRUE(rs);
    EXPECT_EQ(JsonField(*rs, "last_read_seq"), "2");
    EXPECT_EQ(JsonField(*rs, "unread"), "1");
    EXPECT_EQ(JsonField(*rs, "mentions"), "1");
  }
  tab1->Send(R"({"type":"read","server":"demo","channel":"general","seq":"1"})");  // Backwards.
  tab1->Send(R"({"type":"read","server":"mars","channel":"general","seq":"1","id":"r9"})");
  auto err = tab1->NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "id"), "r9");
  EXPECT_FALSE(tab2->NextOfType("read_state", absl::Milliseconds(300)));  // No move, no event.
  auto reload = Identify("bob", 1, "", &ready);
  ASSERT_TRUE(reload);
  EXPECT_EQ(ready.servers(0).channels(0).last_read_seq(), 2);
  EXPECT_EQ(ready.servers(0).channels(0).unread(), 1);
  EXPECT_EQ(ready.servers(0).channels(0).mentions(), 1);
}

TEST_F(ResumeE2eTest, AChannelCreatedWhileConnectedIsLiveAtOnce) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  auto bob = Identify("bob", 1, "", &ready);
  ASSERT_TRUE(alice && bob);
  CreateChannelRequest req;
  req.set_server("demo");
  req.set_id("news");
  req.set_name("news");
  Channel out;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stack_->admin().CreateChannel(&ctx, req, &out).ok());
  auto created = bob->NextOfType("channel_created");
  ASSERT_TRUE(created);
  ASSERT_TRUE(alice->NextOfType("channel_created"));
  std::vector<int64_t> seqs = SendAcked(*alice, "news", 3, "n");
  for (int64_t seq : seqs) {
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m) << "seq " << seq << " never arrived live";
    EXPECT_EQ(JsonField(*m, "channel"), "news");
    EXPECT_EQ(std::stoll(JsonField(*m, "seq")), seq);
  }
}

TEST_F(ResumeE2eTest, AnExpiredTokenClosesWith4003UnlessRefreshed) {
  auto lapsing = std::make_unique<WsClient>();
  ASSERT_TRUE(lapsing->Connect(stack_->gateway_port(0), "/ws").ok());
  lapsing->Send(absl::StrCat(R"({"type":"identify","token":")",
                             stack_->Token("bob", absl::Seconds(2)), R"("})"));
  ASSERT_TRUE(lapsing->NextOfType("ready"));
  auto refreshed = std::make_unique<WsClient>();
  ASSERT_TRUE(refreshed->Connect(stack_->gateway_port(1), "/ws").ok());
  refreshed->Send(absl::StrCat(R"({"type":"identify","token":")",
                               stack_->Token("alice", absl::Seconds(2)), R"("})"));
  ASSERT_TRUE(refreshed->NextOfType("ready"));
  refreshed->Send(absl::StrCat(R"({"type":"refresh","id":"f1","token":")",
                               stack_->Token("bob", absl::Hours(1)), R"("})"));
  auto wrong = refreshed->NextOfType("error");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(JsonField(*wrong, "code"), "invalid_token");
  refreshed->Send(absl::StrCat(R"({"type":"refresh","token":")",
                               stack_->Token("alice", absl::Hours(1)), R"("})"));
  EXPECT_EQ(lapsing->WaitClosed(absl::Seconds(5)), cc::kTokenExpired);
  // The refreshed session outlives its first token and still works.
  EXPECT_EQ(refreshed->WaitClosed(absl::Milliseconds(1500)), -1);
  refreshed->Send(ChatFrame("general", "still here", "s1"));
  EXPECT_TRUE(refreshed->NextOfType("ack"));
}

TEST_F(ResumeE2eTest, HistoryAfterZeroPagesFromTheOldest) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  ASSERT_TRUE(alice);
  std::vector<int64_t> seqs = SendAcked(*alice, "general", 5, "h");
  alice->Send(R"({"type":"history","server":"demo","channel":"general","after":"0","limit":2})");
  auto h = alice->NextOfType("history");
  ASSERT_TRUE(h);
  History page;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*h, &page).ok());
  ASSERT_EQ(page.messages_size(), 2);
  EXPECT_EQ(page.messages(0).seq(), seqs[0]);
  EXPECT_EQ(page.messages(1).seq(), seqs[1]);
}

TEST_F(ResumeE2eTest, ANonceIsScopedToItsChannel) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  auto bob = Identify("bob", 1, "", &ready);
  ASSERT_TRUE(alice && bob);
  alice->Send(ChatFrame("general", "one", "same"));
  alice->Send(ChatFrame("random", "two", "same"));
  std::set<std::string> channels;
  for (int i = 0; i < 2; ++i) {
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m);
    channels.insert(JsonField(*m, "channel"));
  }
  EXPECT_EQ(channels, (std::set<std::string>{"general", "random"}));
}

TEST_F(ResumeE2eTest, AGatewayDropsACopyOfADeliveredMessage) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  auto bob = Identify("bob", 0, "", &ready);
  ASSERT_TRUE(alice && bob);
  SendAcked(*alice, "general", 1, "x");
  auto first = bob->NextOfType("chat_message");
  ASSERT_TRUE(first);
  // Publish the same event again, as a duplicated publication would.
  ChatMessage m;
  m.set_server("demo");
  m.set_channel("general");
  m.set_message("m");
  Event e;
  *e.mutable_chat_message() = m;
  stack_->redis_command({"SPUBLISH", keys::ChannelTopic("demo", "general"),
                         absl::StrCat(JsonField(*first, "seq"), " ", e.SerializeAsString())});
  std::vector<int64_t> next = SendAcked(*alice, "general", 1, "y");
  auto second = bob->NextOfType("chat_message");
  ASSERT_TRUE(second);
  EXPECT_EQ(std::stoll(JsonField(*second, "seq")), next[0]);  // Not the copy.
  EXPECT_GE(stack_->gateway(0).metrics().duplicate_events.load(), 1u);
}

TEST_F(ResumeE2eTest, ReadyAfterAPubSubReconnectMissesNothing) {
  Ready ready;
  auto alice = Identify("alice", 0, "", &ready);
  ASSERT_TRUE(alice);
  // Drop every pub/sub connection: gateway 1 identifies bob while its
  // subscriber reconnects, and ready must wait for live subscriptions.
  stack_->redis_command({"CLIENT", "KILL", "TYPE", "pubsub"});
  auto bob = Identify("bob", 1, "", &ready);
  ASSERT_TRUE(bob);
  const int64_t head = Head(ready, "general");
  std::vector<int64_t> seqs = SendAcked(*alice, "general", 5, "p");
  for (int64_t seq : seqs) {
    if (seq <= head) continue;
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m) << "seq " << seq << " lost after the reconnect";
    EXPECT_EQ(std::stoll(JsonField(*m, "seq")), seq);
  }
}

class LimitsE2eTest : public ::testing::Test {
 protected:
  void Start(std::function<void(gateway::GatewayOptions&)> tune) {
    stack_ = std::make_unique<Stack>(1, std::move(tune));
    ASSERT_TRUE(stack_->Start().ok());
  }
  std::unique_ptr<Stack> stack_;
};

TEST_F(LimitsE2eTest, ManyLargeHistoryPagesInFlightAreServedNotClosed) {
  Start([](gateway::GatewayOptions& o) {
    Fast(o);
    o.max_outbound_bytes = 1 << 20;
  });
  auto alice = stack_->Identified("alice");
  ASSERT_TRUE(alice);
  const std::string text(1900, 'x');
  for (int i = 0; i < 100; ++i) alice->Send(ChatFrame("general", text, absl::StrCat("L", i)));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(alice->NextOfType("ack"));
  // 32 pages of ~200 KB asked at once, 6 MB against a 1 MiB send queue, by
  // a second session of alice that reads nothing for a while (with a small
  // receive buffer): replies must wait for room, not overflow the queue.
  namespace beast = boost::beast;
  boost::asio::io_context ioc;
  RawWebSocket slow(ioc);
  OpenWithSmallBuffer(slow, stack_->gateway_port(), stack_->Token("alice"));
  slow.read_message_max(0);
  for (int i = 0; i < 32; ++i) {
    slow.write(boost::asio::buffer(
        absl::StrCat(R"({"type":"history","server":"demo","channel":"general","limit":100,)",
                     R"("id":"h)", i, R"("})")));
  }
  absl::SleepFor(absl::Seconds(2));
  int next = 0;
  beast::error_code ec;
  while (next < 32) {
    beast::flat_buffer buffer;
    slow.read(buffer, ec);
    ASSERT_FALSE(ec) << "closed after " << next << " history replies: " << ec.message() << " "
                     << slow.reason().code;
    const std::string frame = beast::buffers_to_string(buffer.data());
    if (JsonField(frame, "type") != "history") continue;
    EXPECT_EQ(JsonField(frame, "id"), absl::StrCat("h", next));  // In order.
    ++next;
  }
  EXPECT_EQ(stack_->gateway().metrics().slow_consumer_closes.load(), 0u);
}

// A key rotation: tokens signed with the previous secret are still
// admitted, tokens signed with any other key are not.
TEST_F(LimitsE2eTest, ARotatedSecretStillAdmitsItsTokens) {
  Start([](gateway::GatewayOptions& o) {
    Fast(o);
    o.jwt_previous_secret = "the-old-secret";
  });
  auto identify = [&](const std::string& token) {
    auto ws = std::make_unique<WsClient>();
    EXPECT_TRUE(ws->Connect(stack_->gateway_port(), "/ws").ok());
    ws->Send(absl::StrCat(R"({"type":"identify","token":")", token, R"("})"));
    return ws;
  };
  User alice;
  alice.set_id("alice");
  alice.set_name("Alice");
  auto old_key = identify(*gateway::TokenVerifier("the-old-secret").Mint(alice, absl::Hours(1)));
  EXPECT_TRUE(old_key->NextOfType("ready"));
  auto current = identify(stack_->Token("alice"));
  EXPECT_TRUE(current->NextOfType("ready"));
  auto other = identify(*gateway::TokenVerifier("some-other-key").Mint(alice, absl::Hours(1)));
  EXPECT_EQ(other->WaitClosed(), cc::kInvalidToken);
}

// One user's sessions and one address's connections are bounded; the
// others are still served, and a freed slot can be taken again.
TEST_F(LimitsE2eTest, SessionsPerUserAndConnectionsPerAddressAreBounded) {
  Start([](gateway::GatewayOptions& o) {
    Fast(o);
    o.max_sessions_per_user = 2;
    o.max_connections_per_address = 4;
  });
  auto first = stack_->Identified("alice");
  auto second = stack_->Identified("alice");
  ASSERT_TRUE(first && second);
  auto third = std::make_unique<WsClient>();
  ASSERT_TRUE(third->Connect(stack_->gateway_port(), "/ws").ok());
  third->Send(absl::StrCat(R"({"type":"identify","token":")", stack_->Token("alice"), R"("})"));
  EXPECT_EQ(third->WaitClosed(), cc::kTooManySessions);
  absl::SleepFor(absl::Milliseconds(300));  // The gateway sees the closed socket end.
  auto bob = stack_->Identified("bob");
  ASSERT_TRUE(bob);  // Another user is not limited by alice's sessions.
  // Four connections from 127.0.0.1 are open (third has closed): the fifth
  // upgrade is refused with 429, before any WebSocket exists.
  auto extra = std::make_unique<WsClient>();
  ASSERT_TRUE(extra->Connect(stack_->gateway_port(), "/ws").ok());
  auto refused = std::make_unique<WsClient>();
  EXPECT_FALSE(refused->Connect(stack_->gateway_port(), "/ws").ok());
  extra.reset();
  second.reset();
  absl::SleepFor(absl::Milliseconds(300));  // The gateway sees both sockets end.
  auto again = stack_->Identified("alice");
  EXPECT_TRUE(again);  // Both freed slots can be taken again.
  first->Send(ChatFrame("general", "still served", "lim1"));
  EXPECT_TRUE(first->NextOfType("ack"));
}

// Each status change fans out to every friend and fellow member: a session
// gets a burst of five, then one a second; more are refused, not relayed.
TEST_F(LimitsE2eTest, StatusChangesAreThrottled) {
  Start(Fast);
  auto alice = stack_->Identified("alice");
  ASSERT_TRUE(alice);
  for (int i = 0; i < 8; ++i) {
    alice->Send(
        absl::StrCat(R"({"type":"status","status":")", i % 2 == 0 ? "dnd" : "online", R"("})"));
  }
  int refused = 0;
  while (auto err = alice->NextOfType("error", absl::Milliseconds(500))) {
    EXPECT_EQ(JsonField(*err, "code"), "rate_limited");
    EXPECT_GT(std::stoll(JsonField(*err, "retry_after_ms")), 0);
    ++refused;
  }
  // dnd, online, dnd, online, dnd pass (the burst); online is refused, so
  // the status stays dnd and the next dnd changes nothing; the last online
  // is refused.
  EXPECT_EQ(refused, 2);
  absl::SleepFor(absl::Milliseconds(1100));
  alice->Send(R"({"type":"status","status":"idle"})");
  EXPECT_FALSE(alice->NextOfType("error", absl::Milliseconds(300)));  // Accepted again.
}

TEST_F(LimitsE2eTest, AcksAnsweredBeforeA4008CloseStillArrive) {
  Start([](gateway::GatewayOptions& o) {
    o.chat_rate = 0.001;
    o.chat_burst = 5;
    o.abuse_rate = 0.001;
    o.abuse_burst = 3;
  });
  auto alice = stack_->Identified("alice");
  ASSERT_TRUE(alice);
  for (int i = 0; i < 12; ++i) alice->Send(ChatFrame("general", "m", absl::StrCat("q", i)));
  int acks = 0;
  while (auto f = alice->Next(absl::Seconds(3))) {
    if (JsonField(*f, "type") == "ack") ++acks;
  }
  EXPECT_EQ(alice->WaitClosed(), cc::kRateLimited);
  EXPECT_EQ(acks, 5);  // Every message accepted was acknowledged before the close.
}

TEST_F(LimitsE2eTest, AReaderThatStopsIsClosedWith4009AndDelaysNoOne) {
  Start([](gateway::GatewayOptions& o) {
    Fast(o);
    o.max_outbound_bytes = 1 << 20;
    o.max_frame_bytes = 64 * 1024;
  });
  // mallory joins the channel the others use; then she identifies, reads
  // her ready, and never reads again, with a small receive buffer so the
  // gateway's queue fills.
  AddMemberRequest add;
  add.set_server("demo");
  add.set_user_id("mallory");
  AddMemberResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stack_->admin().AddMember(&ctx, add, &resp).ok());
  namespace beast = boost::beast;
  boost::asio::io_context ioc;
  RawWebSocket stalled(ioc);
  OpenWithSmallBuffer(stalled, stack_->gateway_port(), stack_->Token("mallory"));
  for (;;) {
    beast::flat_buffer frame;
    stalled.read(frame);
    if (beast::buffers_to_string(frame.data()).find(R"("type":"ready")") != std::string::npos)
      break;
  }
  auto alice = stack_->Identified("alice");
  auto bob = stack_->Identified("bob");
  ASSERT_TRUE(alice && bob);
  const std::string text(2000, 'y');
  // ~7 MB for every member: more than the kernel's socket buffers can hide.
  constexpr int kMessages = 3000;
  // Sent in acknowledged batches, as a client with a window of 50 would.
  for (int i = 0; i < kMessages; i += 50) {
    for (int j = i; j < i + 50; ++j) alice->Send(ChatFrame("general", text, absl::StrCat("s", j)));
    for (int acks = 0; acks < 50;) {
      auto f = alice->Next();
      ASSERT_TRUE(f);
      if (JsonField(*f, "type") == "ack") ++acks;
    }
  }
  int got = 0;
  int64_t last = 0;
  while (got < kMessages) {
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m) << "bob stopped receiving at " << got << "; slow-consumer closes: "
                   << stack_->gateway().metrics().slow_consumer_closes.load();
    int64_t seq = std::stoll(JsonField(*m, "seq"));
    EXPECT_GT(seq, last);
    last = seq;
    ++got;
  }
  for (int i = 0; i < 100 && stack_->gateway().metrics().slow_consumer_closes.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(stack_->gateway().metrics().slow_consumer_closes.load(), 1u);
}

}  // namespace
}  // namespace chat::testing
