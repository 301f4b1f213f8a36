// The presence service end to end: a real redis-server, the real gRPC server
// on port 0, gRPC clients, and raw hiredis subscribers on the topics gateways
// would listen to. Servers, members and friends are written straight into
// Redis, as the chat and invite services would.
#include "presence_service/presence_server.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <csignal>
#include <optional>
#include <set>
#include <thread>

#include "common/keys.h"
#include "common/redis_test_server.h"
#include "proto/events.pb.h"
#include "proto/presence.grpc.pb.h"

namespace chat::presence_service {
namespace {

const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2).
  return true;
}();

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Eventually polls condition until it holds or timeout passes.
template <typename F>
bool Eventually(F condition, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

redisContext* Connect(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  EXPECT_TRUE(c != nullptr && c->err == 0);
  timeval timeout = {5, 0};
  redisSetTimeout(c, timeout);
  return c;
}

// Redis is a blocking connection for setting up and inspecting keys.
class Redis {
 public:
  explicit Redis(int port) : c_(Connect(port)) {}
  ~Redis() { redisFree(c_); }

  // Run executes a command; the reply as a string (integers in decimal, nil
  // as "").
  std::string Run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> len;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      len.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(args.size()), argv.data(), len.data()));
    EXPECT_NE(r, nullptr);
    if (r == nullptr) return "";
    std::string out = r->type == REDIS_REPLY_INTEGER ? std::to_string(r->integer)
                      : r->str != nullptr            ? std::string(r->str, r->len)
                                                     : "";
    freeReplyObject(r);
    return out;
  }

 private:
  redisContext* c_;
};

struct Message {
  std::string topic;
  Presence presence;
};

// Subscriber listens on topics like a gateway would. Redis delivers to one
// connection in publish order, so Drain (which publishes a sentinel and reads
// up to it) returns exactly what was published before it.
class Subscriber {
 public:
  Subscriber(int port, std::vector<std::string> topics)
      : c_(Connect(port)), publisher_(port), sentinel_("test:sentinel") {
    topics.push_back(sentinel_);
    for (const std::string& t : topics) {
      redisAppendCommand(c_, "SSUBSCRIBE %b", t.data(), t.size());
    }
    for (size_t i = 0; i < topics.size(); ++i) {
      redisReply* r = nullptr;
      EXPECT_EQ(redisGetReply(c_, reinterpret_cast<void**>(&r)), REDIS_OK);
      if (r != nullptr) freeReplyObject(r);
    }
  }
  ~Subscriber() { redisFree(c_); }

  // Next returns the next message, or nullopt after 5 s.
  std::optional<Message> Next() {
    redisReply* r = nullptr;
    if (redisGetReply(c_, reinterpret_cast<void**>(&r)) != REDIS_OK || r == nullptr) {
      return std::nullopt;
    }
    Message m;
    m.topic.assign(r->element[1]->str, r->element[1]->len);
    std::string payload(r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
    if (m.topic != sentinel_) {
      EXPECT_EQ(payload.substr(0, 2), "0 ");
      Event event;
      EXPECT_TRUE(event.ParseFromString(payload.substr(2)));
      EXPECT_TRUE(event.has_presence());
      m.presence = event.presence();
      EXPECT_EQ(m.presence.type(), "presence");
    }
    return m;
  }

  // Drain returns every message published before the call.
  std::vector<Message> Drain() {
    publisher_.Run({"SPUBLISH", sentinel_, "x"});
    std::vector<Message> out;
    while (std::optional<Message> m = Next()) {
      if (m->topic == sentinel_) return out;
      out.push_back(*std::move(m));
    }
    ADD_FAILURE() << "sentinel never arrived";
    return out;
  }

 private:
  redisContext* c_;
  Redis publisher_;
  std::string sentinel_;
};

// Statuses of a list of messages, in order.
std::vector<std::string> Statuses(const std::vector<Message>& messages) {
  std::vector<std::string> out;
  for (const Message& m : messages) out.push_back(m.presence.status());
  return out;
}

class PresenceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start().ok());
    db_ = std::make_unique<Redis>(redis_.port());
  }

  // StartServer starts one more service replica on the shared Redis and
  // waits until it is connected.
  void StartServer(absl::Duration ttl = absl::Seconds(30),
                   absl::Duration grace = absl::Milliseconds(1000)) {
    PresenceServerOptions o;
    o.listen = "127.0.0.1:0";
    o.redis = {"127.0.0.1", redis_.port()};
    o.core.session_ttl = ttl;
    o.core.offline_grace = grace;
    o.sweep_interval = absl::Milliseconds(50);
    servers_.push_back(std::make_unique<PresenceServer>(o));
    ASSERT_TRUE(servers_.back()->Start().ok());
    stub_ = PresenceService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(servers_.back()->port()),
                            grpc::InsecureChannelCredentials()));
    // Calls fail with UNAVAILABLE until Redis is connected.
    ASSERT_TRUE(Eventually([&] {
      QueryResponse out;
      return Query("probe", {}, &out).ok();
    }));
  }

  static SessionRef Session(const std::string& user, const std::string& id,
                            const std::string& status = "", const std::string& gateway = "gw1") {
    SessionRef s;
    s.set_user_id(user);
    s.set_session_id(id);
    s.set_gateway_id(gateway);
    s.set_status(status);
    return s;
  }
  grpc::Status Connect(const SessionRef& s, PresenceResponse* out) {
    ConnectRequest r;
    *r.mutable_session() = s;
    grpc::ClientContext ctx;
    return stub_->Connect(&ctx, r, out);
  }
  // ConnectOk connects and returns the visible status after the call.
  std::string ConnectOk(const SessionRef& s) {
    PresenceResponse out;
    grpc::Status st = Connect(s, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out.presence().status();
  }
  std::string DisconnectOk(const SessionRef& s) {
    DisconnectRequest r;
    *r.mutable_session() = s;
    PresenceResponse out;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Disconnect(&ctx, r, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out.presence().status();
  }
  grpc::Status SetStatus(const SessionRef& s, PresenceResponse* out) {
    SetStatusRequest r;
    *r.mutable_session() = s;
    grpc::ClientContext ctx;
    return stub_->SetStatus(&ctx, r, out);
  }
  std::string SetStatusOk(const SessionRef& s) {
    PresenceResponse out;
    grpc::Status st = SetStatus(s, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out.presence().status();
  }
  std::vector<std::string> Heartbeat(const std::string& gateway,
                                     const std::vector<SessionRef>& sessions) {
    HeartbeatRequest r;
    r.set_gateway_id(gateway);
    for (const SessionRef& s : sessions) *r.add_sessions() = s;
    HeartbeatResponse out;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Heartbeat(&ctx, r, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {out.unknown_session_ids().begin(), out.unknown_session_ids().end()};
  }
  grpc::Status Query(const std::string& viewer, const std::vector<std::string>& ids,
                     QueryResponse* out, int limit = 0) {
    QueryRequest r;
    r.set_viewer_id(viewer);
    for (const std::string& id : ids) r.add_user_ids(id);
    r.set_limit(limit);
    grpc::ClientContext ctx;
    return stub_->Query(&ctx, r, out);
  }
  // QueryOk returns "id:status" per visible user.
  std::vector<std::string> QueryOk(const std::string& viewer, const std::vector<std::string>& ids,
                                   int limit = 0) {
    QueryResponse out;
    grpc::Status st = Query(viewer, ids, &out, limit);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<std::string> summary;
    for (const Presence& p : out.presences()) summary.push_back(p.user_id() + ":" + p.status());
    return summary;
  }
  Presence QueryOne(const std::string& viewer, const std::string& user) {
    QueryResponse out;
    EXPECT_TRUE(Query(viewer, {user}, &out).ok());
    EXPECT_EQ(out.presences_size(), 1);
    return out.presences_size() == 1 ? out.presences(0) : Presence{};
  }

  // The social graph most tests use: alice and bob share "demo" (erin is a
  // member too), carol is alice's friend, mallory is in "other" only.
  void SetUpGraph() {
    for (const char* u : {"alice", "bob", "erin"}) {
      db_->Run({"SADD", keys::ServerMembers("demo"), u});
      db_->Run({"SADD", keys::UserServers(u), "demo"});
    }
    db_->Run({"SADD", keys::ServerMembers("other"), "mallory"});
    db_->Run({"SADD", keys::UserServers("mallory"), "other"});
    db_->Run({"SADD", keys::UserFriends("alice"), "carol"});
    db_->Run({"SADD", keys::UserFriends("carol"), "alice"});
  }

  // SweptPast waits until the sweeper has re-evaluated user after at_ms and
  // finished with the expiry index: the entry is gone with nothing left to
  // watch, or it equals the `due` the script computed, past at_ms (a claim
  // never equals a due).
  bool SweptPast(const std::string& user, int64_t at_ms) {
    return Eventually([&] {
      std::string score = db_->Run({"ZSCORE", std::string(keys::kPresenceExpiry), user});
      std::string due = db_->Run({"HGET", keys::UserPresence(user), "due"});
      if (score.empty()) return due.empty() || due == "0";
      return !due.empty() && std::stod(score) == std::stod(due) && std::stoll(due) > at_ms;
    });
  }

  chat::testing::RedisTestServer redis_;
  std::unique_ptr<Redis> db_;
  std::vector<std::unique_ptr<PresenceServer>> servers_;
  std::unique_ptr<PresenceService::Stub> stub_;
};

TEST_F(PresenceServerTest, SessionsOnTwoGatewaysKeepTheUserOnlineUntilBothLeave) {
  StartServer();
  Subscriber sub(redis_.port(), {keys::UserTopic("alice")});
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "online", "gw1")), "online");
  EXPECT_EQ(ConnectOk(Session("alice", "s2", "online", "gw2")), "online");
  EXPECT_EQ(DisconnectOk(Session("alice", "s1")), "online");
  EXPECT_EQ(Statuses(sub.Drain()), std::vector<std::string>{"online"});

  const int64_t left_at = NowMs();
  // The last session left: still shown online during the grace...
  EXPECT_EQ(DisconnectOk(Session("alice", "s2", "", "gw2")), "online");
  EXPECT_EQ(Statuses(sub.Drain()), std::vector<std::string>{});
  // ...then the sweeper publishes offline, once.
  std::optional<Message> offline = sub.Next();
  ASSERT_TRUE(offline.has_value());
  EXPECT_EQ(offline->topic, keys::UserTopic("alice"));
  EXPECT_EQ(offline->presence.user_id(), "alice");
  EXPECT_EQ(offline->presence.status(), "offline");
  EXPECT_GE(offline->presence.last_seen(), left_at + 1000);
  ASSERT_TRUE(SweptPast("alice", NowMs()));
  EXPECT_EQ(Statuses(sub.Drain()), std::vector<std::string>{});
  Presence p = QueryOne("alice", "alice");
  EXPECT_EQ(p.status(), "offline");
  EXPECT_EQ(p.last_seen(), offline->presence.last_seen());
}

TEST_F(PresenceServerTest, ReconnectWithinTheGraceNeverShowsOffline) {
  StartServer(absl::Seconds(30), absl::Seconds(2));
  Subscriber sub(redis_.port(), {keys::UserTopic("alice")});
  EXPECT_EQ(ConnectOk(Session("alice", "tab1", "online")), "online");
  const int64_t left_at = NowMs();
  EXPECT_EQ(DisconnectOk(Session("alice", "tab1")), "online");
  EXPECT_EQ(ConnectOk(Session("alice", "tab2", "online", "gw2")), "online");
  // Wait for the sweeper to look at alice after the grace ended.
  ASSERT_TRUE(SweptPast("alice", left_at + 2000 + 1000));
  EXPECT_EQ(Statuses(sub.Drain()), std::vector<std::string>{"online"});
  EXPECT_EQ(QueryOne("alice", "alice").status(), "online");
}

TEST_F(PresenceServerTest, ALateDisconnectFromTheOldGatewayKeepsAResumedSession) {
  StartServer();
  Subscriber sub(redis_.port(), {keys::UserTopic("alice")});
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "online", "gw1")), "online");
  // The client resumes s1 on gw2 before gw1 notices its socket died.
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "online", "gw2")), "online");
  EXPECT_EQ(DisconnectOk(Session("alice", "s1", "", "gw1")), "online");
  EXPECT_EQ(db_->Run({"HGET", keys::UserPresence("alice"), "hold_until"}), "0");
  EXPECT_EQ(db_->Run({"HLEN", keys::UserSessions("alice")}), "1");
  EXPECT_EQ(Statuses(sub.Drain()), std::vector<std::string>{"online"});
  // Without a gateway id, or from its gateway, it goes.
  EXPECT_EQ(DisconnectOk(Session("alice", "s1", "", "")), "online");
  EXPECT_EQ(db_->Run({"EXISTS", keys::UserSessions("alice")}), "0");
}

TEST_F(PresenceServerTest, InvisibleLooksOfflineToQueriesAndInEvents) {
  StartServer();
  SetUpGraph();
  Subscriber sub(redis_.port(), {keys::UserTopic("alice"), keys::UserTopic("carol"),
                                 keys::ServerPresenceTopic("demo")});
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "invisible")), "offline");
  EXPECT_EQ(QueryOne("carol", "alice").status(), "offline");
  EXPECT_EQ(QueryOne("bob", "alice").status(), "offline");
  EXPECT_TRUE(sub.Drain().empty());  // Offline before, offline after: nothing to say.

  EXPECT_EQ(ConnectOk(Session("alice", "s2", "online")), "online");
  // Going invisible is an immediate offline, not a held one.
  EXPECT_EQ(SetStatusOk(Session("alice", "s2", "invisible")), "offline");
  std::vector<Message> events = sub.Drain();
  // online then offline, each on the server topic, carol's and alice's own.
  ASSERT_EQ(events.size(), 6u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].presence.status(), i < 3 ? "online" : "offline");
  }
  Presence p = QueryOne("carol", "alice");
  EXPECT_EQ(p.status(), "offline");
  EXPECT_GT(p.last_seen(), 0);
  EXPECT_EQ(QueryOk("bob", {}), (std::vector<std::string>{"alice:offline", "erin:offline"}));
}

TEST_F(PresenceServerTest, IdleAndDndAggregateOverSessions) {
  StartServer();
  Subscriber sub(redis_.port(), {keys::UserTopic("alice")});
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "idle", "gw1")), "idle");
  EXPECT_EQ(ConnectOk(Session("alice", "s2", "dnd", "gw2")), "dnd");
  EXPECT_EQ(ConnectOk(Session("alice", "s3", "invisible", "gw2")), "dnd");
  EXPECT_EQ(ConnectOk(Session("alice", "s4", "online", "gw1")), "online");
  EXPECT_EQ(SetStatusOk(Session("alice", "s4", "idle")), "dnd");
  EXPECT_EQ(DisconnectOk(Session("alice", "s2", "", "gw2")), "idle");  // Still visible: not held.
  const std::vector<Message> events = sub.Drain();
  EXPECT_EQ(Statuses(events), (std::vector<std::string>{"idle", "dnd", "online", "dnd", "idle"}));
  // Each visible change raises the version by one (clients order crossed
  // events by it), and a query reports the latest.
  std::vector<int64_t> versions;
  for (const Message& m : events) versions.push_back(m.presence.version());
  EXPECT_EQ(versions, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(QueryOne("alice", "alice").status(), "idle");
  EXPECT_EQ(QueryOne("alice", "alice").version(), 5);
}

TEST_F(PresenceServerTest, ARefusedStatusChangeStillAnnouncesWhatItsScriptChanged) {
  StartServer();
  Subscriber sub(redis_.port(), {keys::UserTopic("alice")});
  // alice is shown online through a session that has expired, and no sweep
  // is due for her (no expiry index entry): the next script on her finds it.
  db_->Run({"HSET", keys::UserSessions("alice"), "s1", "online|gw1|1"});
  db_->Run({"HSET", keys::UserPresence("alice"), "status", "online", "last_seen", "0", "due", "0",
            "hold_until", "0", "version", "3"});
  PresenceResponse out;
  grpc::Status st = SetStatus(Session("alice", "s1", "dnd"), &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  // The call is refused, but the script dropped the session and stored
  // offline: that change reaches her audience, with the next version.
  const std::vector<Message> events = sub.Drain();
  ASSERT_EQ(Statuses(events), std::vector<std::string>{"offline"});
  EXPECT_EQ(events[0].presence.version(), 4);
  EXPECT_EQ(QueryOne("alice", "alice").status(), "offline");
}

TEST_F(PresenceServerTest, SessionsOfADeadGatewayExpireThroughTheSweeper) {
  // Two replicas share the work; the user must still go offline exactly once.
  StartServer(absl::Seconds(1));
  StartServer(absl::Seconds(1));
  Subscriber sub(redis_.port(), {keys::UserTopic("alice")});
  const int64_t connected_at = NowMs();
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "online")), "online");
  EXPECT_EQ(Statuses(sub.Drain()), std::vector<std::string>{"online"});
  // No heartbeat: the gateway "died".
  std::optional<Message> offline = sub.Next();
  ASSERT_TRUE(offline.has_value());
  EXPECT_EQ(offline->presence.status(), "offline");
  EXPECT_GE(offline->presence.last_seen(), connected_at + 1000);
  EXPECT_EQ(db_->Run({"EXISTS", keys::UserSessions("alice")}), "0");
  ASSERT_TRUE(SweptPast("alice", NowMs()));
  EXPECT_TRUE(sub.Drain().empty());
  EXPECT_EQ(QueryOne("alice", "alice").last_seen(), offline->presence.last_seen());
  // The gateway comes back: its session is unknown and must be re-connected.
  EXPECT_EQ(Heartbeat("gw1", {Session("alice", "s1")}), std::vector<std::string>{"s1"});
}

TEST_F(PresenceServerTest, HeartbeatKeepsSessionsAliveAndReportsUnknownOnes) {
  StartServer(absl::Seconds(1));
  Subscriber sub(redis_.port(), {keys::UserTopic("alice"), keys::UserTopic("bob")});
  const int64_t start = NowMs();
  EXPECT_EQ(ConnectOk(Session("alice", "a1", "online")), "online");
  EXPECT_EQ(ConnectOk(Session("bob", "b1", "dnd")), "dnd");
  // Heartbeat for well past the TTL; the gateway paces these, so this loop
  // sleeps by design.
  while (NowMs() < start + 2500) {
    EXPECT_EQ(Heartbeat("gw1", {Session("alice", "a1"), Session("alice", "ghost"),
                                Session("bob", "b1"), Session("carol", "c1")}),
              (std::vector<std::string>{"ghost", "c1"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(QueryOne("alice", "alice").status(), "online");
  EXPECT_EQ(Statuses(sub.Drain()), (std::vector<std::string>{"online", "dnd"}));
  // Heartbeats stop: both expire.
  std::set<std::string> offline;
  while (offline.size() < 2) {
    std::optional<Message> m = sub.Next();
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->presence.status(), "offline");
    offline.insert(m->presence.user_id());
  }
}

TEST_F(PresenceServerTest, EventsReachCoMembersFriendsAndSelfOnly) {
  StartServer();
  SetUpGraph();
  Subscriber sub(redis_.port(),
                 {keys::ServerPresenceTopic("demo"), keys::ServerPresenceTopic("other"),
                  keys::UserTopic("alice"), keys::UserTopic("bob"), keys::UserTopic("carol"),
                  keys::UserTopic("mallory")});
  EXPECT_EQ(ConnectOk(Session("alice", "s1", "online")), "online");
  std::vector<Message> events = sub.Drain();
  std::multiset<std::string> topics;
  for (const Message& m : events) {
    topics.insert(m.topic);
    EXPECT_EQ(m.presence.user_id(), "alice");
    EXPECT_EQ(m.presence.status(), "online");
  }
  // bob hears it on the server topic his gateway subscribes for him; mallory,
  // neither friend nor co-member, hears nothing on any topic.
  EXPECT_EQ(topics,
            (std::multiset<std::string>{keys::ServerPresenceTopic("demo"), keys::UserTopic("carol"),
                                        keys::UserTopic("alice")}));
}

TEST_F(PresenceServerTest, QueryShowsFriendsAndCoMembersOnly) {
  StartServer();
  SetUpGraph();
  for (const char* u : {"alice", "bob", "carol", "mallory"}) {
    EXPECT_EQ(ConnectOk(Session(u, std::string("s-") + u, "online")), "online");
  }
  EXPECT_EQ(QueryOk("alice", {"bob", "carol", "mallory", "erin", "nobody"}),
            (std::vector<std::string>{"bob:online", "carol:online", "erin:offline"}));
  EXPECT_EQ(QueryOk("alice", {}),
            (std::vector<std::string>{"bob:online", "carol:online", "erin:offline"}));
  EXPECT_EQ(QueryOk("alice", {}, 1), std::vector<std::string>{"bob:online"});
  EXPECT_EQ(QueryOk("bob", {}), (std::vector<std::string>{"alice:online", "erin:offline"}));
  EXPECT_EQ(QueryOk("carol", {}), std::vector<std::string>{"alice:online"});
  EXPECT_TRUE(QueryOk("mallory", {"alice", "bob", "carol", "erin"}).empty());
  EXPECT_TRUE(QueryOk("mallory", {}).empty());
}

TEST_F(PresenceServerTest, RejectsBadRequests) {
  StartServer();
  PresenceResponse out;
  EXPECT_EQ(Connect(Session("alice", "s1", "away"), &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Connect(Session("al:ice", "s1", "online"), &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(SetStatus(Session("alice", "nope", "idle"), &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  QueryResponse q;
  EXPECT_EQ(Query("", {}, &q).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace chat::presence_service
