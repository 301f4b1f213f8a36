// Unit tests of PresenceCore's validation, deadlines and visibility rules, and
// of the aggregation rule, against an in-memory fake store.
#include "presence_service/presence_core.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/container/flat_hash_map.h"

namespace chat::presence_service {
namespace {

// FakeStore keeps sessions and the shown status in memory and aggregates with
// AggregateStatus (no hold, no expiry: those are RedisPresenceStore's and are
// covered by presence_server_test).
class FakeStore : public PresenceStore {
 public:
  std::map<std::string, std::map<std::string, std::string>> sessions;  // user -> id -> status
  std::map<std::string, Presence> shown;
  absl::flat_hash_map<std::string, std::vector<std::string>> friends, servers_of, members;
  int64_t last_now = 0, last_deadline = 0;
  int calls = 0;
  absl::Status fail;  // When not OK, every call fails with it.

  void Connect(const SessionRef& s, int64_t now, int64_t expires,
               Done<PresenceUpdate> done) override {
    if (!Enter(now, expires, done)) return;
    sessions[s.user_id()][s.session_id()] = s.status();
    done(Apply(s.user_id()));
  }
  void Disconnect(const SessionRef& s, int64_t now, int64_t hold,
                  Done<PresenceUpdate> done) override {
    if (!Enter(now, hold, done)) return;
    sessions[s.user_id()].erase(s.session_id());
    done(Apply(s.user_id()));
  }
  void SetStatus(const SessionRef& s, int64_t now, Done<PresenceUpdate> done) override {
    if (!Enter(now, 0, done)) return;
    auto it = sessions[s.user_id()].find(s.session_id());
    if (it == sessions[s.user_id()].end()) return done(absl::NotFoundError("unknown session"));
    it->second = s.status();
    done(Apply(s.user_id()));
  }
  void Refresh(const std::vector<SessionRef>& list, int64_t now, int64_t expires,
               Done<std::vector<std::string>> done) override {
    if (!Enter(now, expires, done)) return;
    std::vector<std::string> unknown;
    for (const SessionRef& s : list) {
      if (!sessions[s.user_id()].count(s.session_id())) unknown.push_back(s.session_id());
    }
    done(unknown);
  }
  void SweepDue(int64_t now, int max_users, Done<int> done) override {
    if (!Enter(now, 0, done)) return;
    done(max_users);
  }
  void GetAudience(const std::string& viewer, Done<Audience> done) override {
    if (!Enter(0, 0, done)) return;
    done(Audience{friends[viewer], servers_of[viewer]});
  }
  void FilterMembers(const std::vector<std::string>& servers, const std::vector<std::string>& users,
                     Done<std::vector<bool>> done) override {
    std::vector<bool> out;
    for (const std::string& u : users) {
      bool in = false;
      for (const std::string& s : servers) {
        for (const std::string& m : members[s]) in = in || m == u;
      }
      out.push_back(in);
    }
    done(out);
  }
  void SampleMembers(const std::vector<std::string>& servers, int max_per_server,
                     Done<std::vector<std::string>> done) override {
    std::vector<std::string> out;
    for (const std::string& s : servers) {
      const std::vector<std::string>& m = members[s];
      out.insert(out.end(), m.begin(), m.begin() + std::min<size_t>(m.size(), max_per_server));
    }
    done(out);
  }
  void GetPresences(const std::vector<std::string>& users,
                    Done<std::vector<Presence>> done) override {
    std::vector<Presence> out;
    for (const std::string& u : users) {
      Presence p;
      auto it = shown.find(u);
      if (it != shown.end()) p = it->second;
      p.set_user_id(u);
      out.push_back(p);
    }
    done(out);
  }

 private:
  template <typename T>
  bool Enter(int64_t now, int64_t deadline, Done<T>& done) {
    ++calls;
    last_now = now;
    last_deadline = deadline;
    if (fail.ok()) return true;
    done(fail);
    return false;
  }
  PresenceUpdate Apply(const std::string& user) {
    std::vector<std::string> statuses;
    for (const auto& [id, status] : sessions[user]) statuses.push_back(status);
    Presence& p = shown[user];
    const std::string before = p.status().empty() ? "offline" : p.status();
    PresenceUpdate u;
    u.status = AggregateStatus(statuses);
    u.changed = u.status != before;
    p.set_status(u.status);
    if (u.changed && u.status == "offline") p.set_last_seen(last_now);
    u.last_seen = p.last_seen();
    return u;
  }
};

template <typename T>
absl::StatusOr<T> Call(absl::AnyInvocable<void(Done<T>)> f) {
  absl::StatusOr<T> out = absl::UnknownError("not called");
  f([&](absl::StatusOr<T> r) { out = std::move(r); });
  return out;
}

SessionRef Session(const std::string& user, const std::string& id, const std::string& status,
                   const std::string& gateway = "gw1") {
  SessionRef s;
  s.set_user_id(user);
  s.set_session_id(id);
  s.set_gateway_id(gateway);
  s.set_status(status);
  return s;
}

class PresenceCoreTest : public ::testing::Test {
 protected:
  absl::StatusOr<PresenceResponse> Connect(const SessionRef& s) {
    ConnectRequest r;
    *r.mutable_session() = s;
    return Call<PresenceResponse>([&](auto d) { core_.Connect(r, std::move(d)); });
  }
  absl::StatusOr<PresenceResponse> Disconnect(const SessionRef& s) {
    DisconnectRequest r;
    *r.mutable_session() = s;
    return Call<PresenceResponse>([&](auto d) { core_.Disconnect(r, std::move(d)); });
  }
  absl::StatusOr<PresenceResponse> SetStatus(const SessionRef& s) {
    SetStatusRequest r;
    *r.mutable_session() = s;
    return Call<PresenceResponse>([&](auto d) { core_.SetStatus(r, std::move(d)); });
  }
  absl::StatusOr<HeartbeatResponse> Heartbeat(const std::string& gateway,
                                              const std::vector<SessionRef>& sessions) {
    HeartbeatRequest r;
    r.set_gateway_id(gateway);
    for (const SessionRef& s : sessions) *r.add_sessions() = s;
    return Call<HeartbeatResponse>([&](auto d) { core_.Heartbeat(r, std::move(d)); });
  }
  absl::StatusOr<QueryResponse> Query(const std::string& viewer, std::vector<std::string> ids,
                                      int limit = 0) {
    QueryRequest r;
    r.set_viewer_id(viewer);
    for (const std::string& id : ids) r.add_user_ids(id);
    r.set_limit(limit);
    return Call<QueryResponse>([&](auto d) { core_.Query(r, std::move(d)); });
  }
  // Ids and statuses of a query result, "id:status" each.
  static std::vector<std::string> Summary(const QueryResponse& r) {
    std::vector<std::string> out;
    for (const Presence& p : r.presences()) out.push_back(p.user_id() + ":" + p.status());
    return out;
  }
  void Show(const std::string& user, const std::string& status, int64_t last_seen = 0) {
    store_.shown[user].set_status(status);
    store_.shown[user].set_last_seen(last_seen);
  }

  FakeStore store_;
  PresenceCore core_{&store_, [] {
                       PresenceCoreOptions o;
                       o.session_ttl = absl::Seconds(30);
                       o.offline_grace = absl::Seconds(2);
                       o.max_query_limit = 6;
                       o.max_query_candidates = 7;
                       o.max_heartbeat_sessions = 3;
                       o.now_ms = [] { return int64_t{1700000000000}; };
                       return o;
                     }()};
};

TEST(AggregateStatusTest, HighestVisibleStatusWins) {
  EXPECT_EQ(AggregateStatus({}), "offline");
  EXPECT_EQ(AggregateStatus({"invisible"}), "offline");
  EXPECT_EQ(AggregateStatus({"idle"}), "idle");
  EXPECT_EQ(AggregateStatus({"idle", "dnd"}), "dnd");
  EXPECT_EQ(AggregateStatus({"dnd", "idle", "invisible"}), "dnd");
  EXPECT_EQ(AggregateStatus({"idle", "online", "dnd"}), "online");
  EXPECT_EQ(AggregateStatus({"invisible", "online"}), "online");
}

TEST(VisiblePresenceTest, OthersNeverSeeInvisibleOrUnknownStatuses) {
  Presence p = VisiblePresence("alice", "invisible", 42, 0);
  EXPECT_EQ(p.type(), "presence");
  EXPECT_EQ(p.user_id(), "alice");
  EXPECT_EQ(p.status(), "offline");
  EXPECT_EQ(p.last_seen(), 42);
  EXPECT_EQ(VisiblePresence("alice", "", 0, 0).status(), "offline");
  EXPECT_EQ(VisiblePresence("alice", "away", 0, 0).status(), "offline");
  // last_seen is only meaningful while offline.
  p = VisiblePresence("alice", "dnd", 42, 7);
  EXPECT_EQ(p.version(), 7);  // Carried as is: clients order events by it.
  EXPECT_EQ(p.status(), "dnd");
  EXPECT_EQ(p.last_seen(), 0);
}

TEST_F(PresenceCoreTest, SessionsOnSeveralGatewaysAggregate) {
  auto r = Connect(Session("alice", "s1", "idle", "gw1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->presence().status(), "idle");
  EXPECT_EQ(Connect(Session("alice", "s2", "dnd", "gw2"))->presence().status(), "dnd");
  EXPECT_EQ(Connect(Session("alice", "s3", "invisible", "gw2"))->presence().status(), "dnd");
  EXPECT_EQ(SetStatus(Session("alice", "s3", "online"))->presence().status(), "online");
  EXPECT_EQ(Disconnect(Session("alice", "s3", ""))->presence().status(), "dnd");
  EXPECT_EQ(Disconnect(Session("alice", "s2", ""))->presence().status(), "idle");
  EXPECT_EQ(SetStatus(Session("alice", "s1", "invisible"))->presence().status(), "offline");
  r = Disconnect(Session("alice", "s1", ""));
  EXPECT_EQ(r->presence().status(), "offline");
  EXPECT_EQ(r->presence().last_seen(), 1700000000000);
}

TEST_F(PresenceCoreTest, DeadlinesComeFromTtlAndGrace) {
  ASSERT_TRUE(Connect(Session("alice", "s1", "online")).ok());
  EXPECT_EQ(store_.last_now, 1700000000000);
  EXPECT_EQ(store_.last_deadline, 1700000000000 + 30000);
  ASSERT_TRUE(Heartbeat("gw1", {Session("alice", "s1", "")}).ok());
  EXPECT_EQ(store_.last_deadline, 1700000000000 + 30000);
  ASSERT_TRUE(Disconnect(Session("alice", "s1", "")).ok());
  EXPECT_EQ(store_.last_deadline, 1700000000000 + 2000);
}

TEST_F(PresenceCoreTest, RejectsBadInputWithoutTouchingTheStore) {
  const auto bad = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(Connect(Session("a:b", "s1", "online")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "", "online")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s|1", "online")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s1", "online", "")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s1", "online", "g|w")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s1", "away")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s1", "offline")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s1", "Online")).status().code(), bad);
  EXPECT_EQ(Connect(Session("alice", "s1", "")).status().code(), bad);
  EXPECT_EQ(SetStatus(Session("alice", "s1", "busy")).status().code(), bad);
  EXPECT_EQ(Disconnect(Session("alice", std::string(65, 's'), "")).status().code(), bad);
  EXPECT_EQ(Heartbeat("", {Session("alice", "s1", "")}).status().code(), bad);
  EXPECT_EQ(Heartbeat("gw1", {Session("alice", "s 1", "")}).status().code(), bad);
  EXPECT_EQ(Heartbeat("gw1", {Session("a", "1", ""), Session("a", "2", ""), Session("a", "3", ""),
                              Session("a", "4", "")})
                .status()
                .code(),
            bad);
  EXPECT_EQ(Query("", {}).status().code(), bad);
  EXPECT_EQ(Query("alice", {"bob", "b*b"}).status().code(), bad);
  EXPECT_EQ(Query("alice", {}, -1).status().code(), bad);
  EXPECT_EQ(Query("alice", {"a", "b", "c", "d", "e", "f", "g"}).status().code(), bad);
  EXPECT_EQ(store_.calls, 0);
}

TEST_F(PresenceCoreTest, SetStatusOfAnUnknownSessionIsNotFound) {
  EXPECT_EQ(SetStatus(Session("alice", "s1", "idle")).status().code(), absl::StatusCode::kNotFound);
  // Disconnect is idempotent.
  EXPECT_TRUE(Disconnect(Session("alice", "s1", "")).ok());
}

TEST_F(PresenceCoreTest, HeartbeatReportsUnknownSessions) {
  ASSERT_TRUE(Connect(Session("alice", "s1", "online")).ok());
  auto r = Heartbeat(
      "gw1", {Session("alice", "s1", ""), Session("alice", "gone", ""), Session("bob", "s9", "")});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->unknown_session_ids_size(), 2);
  EXPECT_EQ(r->unknown_session_ids(0), "gone");
  EXPECT_EQ(r->unknown_session_ids(1), "s9");
  // Nothing to refresh is not an error and costs no store call.
  const int calls = store_.calls;
  EXPECT_TRUE(Heartbeat("gw1", {}).ok());
  EXPECT_EQ(store_.calls, calls);
}

TEST_F(PresenceCoreTest, ListedQueryShowsOnlyFriendsCoMembersAndSelf) {
  store_.friends["alice"] = {"carol"};
  store_.servers_of["alice"] = {"demo"};
  store_.members["demo"] = {"alice", "bob"};
  store_.members["other"] = {"mallory"};
  Show("alice", "online");
  Show("bob", "idle");
  Show("carol", "invisible");  // Never stored by the real store, but must not leak.
  Show("mallory", "online");
  auto r = Query("alice", {"mallory", "carol", "bob", "carol", "alice", "ghost"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Summary(*r), (std::vector<std::string>{"carol:offline", "bob:idle", "alice:online"}));
  for (const Presence& p : r->presences()) EXPECT_EQ(p.type(), "presence");
  // The limit cuts in request order.
  EXPECT_EQ(Summary(*Query("alice", {"bob", "carol"}, 1)), (std::vector<std::string>{"bob:idle"}));
  // A stranger sees nothing, not even that a user exists.
  EXPECT_TRUE(Query("mallory", {"alice", "bob"})->presences().empty());
}

TEST_F(PresenceCoreTest, OpenQueryListsFriendsAndCoMembersOnlineFirst) {
  store_.friends["alice"] = {"carol", "dave"};
  store_.servers_of["alice"] = {"demo", "games"};
  store_.members["demo"] = {"alice", "bob", "erin"};
  store_.members["games"] = {"alice", "carol", "frank"};
  store_.members["other"] = {"mallory"};
  Show("bob", "offline", 5);
  Show("carol", "idle");
  Show("dave", "online");
  Show("frank", "online");
  Show("mallory", "online");
  auto r = Query("alice", {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Summary(*r), (std::vector<std::string>{"dave:online", "frank:online", "carol:idle",
                                                   "bob:offline", "erin:offline"}));
  EXPECT_EQ(r->presences(3).last_seen(), 5);
  EXPECT_EQ(Summary(*Query("alice", {}, 2)),
            (std::vector<std::string>{"dave:online", "frank:online"}));
  // No friends, no servers: nobody.
  EXPECT_TRUE(Query("zed", {})->presences().empty());
}

TEST_F(PresenceCoreTest, OpenQueryConsidersAtMostTheCandidateCap) {
  store_.servers_of["alice"] = {"big"};
  for (int i = 0; i < 20; ++i) {
    store_.members["big"].push_back("u" + std::to_string(i));
    if (i >= 10) Show("u" + std::to_string(i), "online");
  }
  // Only the first 7 candidates (all offline) are looked at, so no online
  // member comes first: the documented cap for very large servers. The limit
  // above max_query_limit is clamped to 6.
  auto r = Query("alice", {}, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Summary(*r), (std::vector<std::string>{"u0:offline", "u1:offline", "u2:offline",
                                                   "u3:offline", "u4:offline", "u5:offline"}));
}

TEST_F(PresenceCoreTest, StoreErrorsPropagate) {
  store_.fail = absl::UnavailableError("redis: not connected");
  EXPECT_EQ(Connect(Session("alice", "s1", "online")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Heartbeat("gw1", {Session("alice", "s1", "")}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Query("alice", {}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call<int>([&](Done<int> d) { core_.SweepDue(std::move(d)); }).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace chat::presence_service
