// ClusterClient and ClusterSubscriber against a real cluster of three
// masters with a replica each: routing, a slot moved under the client
// (MOVED), a slot mid-migration (ASK), sharded subscriptions on every master
// that follow a moved slot and a failed-over master.
#include "common/redis_cluster_client.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/redis_cluster_subscriber.h"
#include "common/redis_script.h"
#include "common/redis_slot.h"
#include "common/redis_test_server.h"

namespace chat::redis {
namespace {

const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2).
  return true;
}();

namespace asio = boost::asio;

class ClusterClientTest : public ::testing::Test {
 protected:
  // One cluster for the suite (it takes seconds to form); each test uses
  // keys of its own slots.
  static void SetUpTestSuite() {
    cluster_ = new chat::testing::RedisTestCluster(3, 1);
    started_ = cluster_->Start();
  }
  static void TearDownTestSuite() { delete cluster_; }

  void SetUp() override {
    ASSERT_TRUE(started_.ok()) << started_;
    thread_ = std::thread([this] { ioc_.run(); });
    ClusterOptions o;
    o.node.reconnect_delay = absl::Milliseconds(20);
    client_ =
        ClusterClient::Create(ioc_.get_executor(), {{"127.0.0.1", cluster_->node(0).port()}}, o);
    std::promise<absl::Status> started;
    client_->Start([&](absl::Status s) { started.set_value(s); });
    absl::Status s = started.get_future().get();
    ASSERT_TRUE(s.ok()) << s;
  }
  void TearDown() override {
    client_->Stop();
    client_.reset();
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  absl::StatusOr<Reply> Run(const std::string& key, std::vector<std::string> args) {
    std::promise<absl::StatusOr<Reply>> done;
    client_->Command(key, std::move(args),
                     [&](absl::StatusOr<Reply> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  // Owner returns the port of the master serving slot, from CLUSTER SLOTS.
  int Owner(int slot) { return cluster_->MasterOf(slot); }
  // AnotherMaster returns a master's port other than port.
  int AnotherMaster(int port) {
    absl::StatusOr<Reply> slots =
        chat::testing::CommandOn(cluster_->node(0).port(), {"CLUSTER", "SLOTS"});
    absl::StatusOr<ClusterMap> map = ClusterMap::FromSlotsReply(*slots, "127.0.0.1");
    for (const ClusterShard& s : map->shards()) {
      if (s.master.port != port) return s.master.port;
    }
    return 0;
  }
  static std::string Id(int port) {
    absl::StatusOr<Reply> id = chat::testing::CommandOn(port, {"CLUSTER", "MYID"});
    return id.ok() ? id->str : "";
  }
  // BeginMigration marks slot as moving from one master to another and moves
  // key across, as redis-cli --cluster reshard does, without finishing.
  void BeginMigration(int slot, const std::string& key, int from, int to) {
    const std::string s = std::to_string(slot);
    ASSERT_TRUE(
        chat::testing::CommandOn(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", Id(from)}).ok());
    ASSERT_TRUE(
        chat::testing::CommandOn(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", Id(to)}).ok());
    absl::StatusOr<Reply> moved = chat::testing::CommandOn(
        from, {"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS", key});
    ASSERT_TRUE(moved.ok()) << moved.status();
  }
  // FinishMigration gives slot to the master on port, on every master.
  void FinishMigration(int slot, int to, std::vector<int> masters) {
    for (int port : masters) {
      ASSERT_TRUE(chat::testing::CommandOn(
                      port, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", Id(to)})
                      .ok());
    }
  }

  // Heard records what a ClusterSubscriber's handlers were told.
  struct Heard {
    std::mutex mu;
    std::vector<std::string> messages;  // "topic=payload"
    std::set<std::string> subscribed, moved, unconfirmed;
    bool Has(const std::string& message) {
      std::lock_guard<std::mutex> l(mu);
      return std::find(messages.begin(), messages.end(), message) != messages.end();
    }
  };
  // The handlers share heard: a stop takes effect on the subscriber's strand,
  // after the test body may have returned.
  std::shared_ptr<ClusterSubscriber> Subscriber(std::shared_ptr<ClusterClient> client,
                                                std::shared_ptr<Heard> heard) {
    PubSubHandlers h;
    h.on_message = [heard](const std::string& topic, std::string payload) {
      std::lock_guard<std::mutex> l(heard->mu);
      heard->messages.push_back(topic + "=" + payload);
    };
    h.on_subscribed = [heard](const std::string& topic) {
      std::lock_guard<std::mutex> l(heard->mu);
      heard->subscribed.insert(topic);
    };
    h.on_moved = [heard](const std::string& topic) {
      std::lock_guard<std::mutex> l(heard->mu);
      heard->moved.insert(topic);
    };
    h.on_unconfirmed = [heard](const std::string& topic) {
      std::lock_guard<std::mutex> l(heard->mu);
      heard->unconfirmed.insert(topic);
    };
    Options node;
    node.reconnect_delay = absl::Milliseconds(20);
    return std::make_shared<ClusterSubscriber>(ioc_.get_executor(), std::move(client), node,
                                               std::move(h));
  }
  static bool WaitFor(const std::function<bool()>& f) {
    for (int i = 0; i < 1000; ++i) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return f();
  }

  static chat::testing::RedisTestCluster* cluster_;
  static absl::Status started_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::thread thread_;
  std::shared_ptr<ClusterClient> client_;
};

chat::testing::RedisTestCluster* ClusterClientTest::cluster_ = nullptr;
absl::Status ClusterClientTest::started_;

TEST_F(ClusterClientTest, EveryKeyReachesTheMasterThatServesItsSlot) {
  std::set<int> owners;
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("{c:demo:ch", i, "}:seq");
    ASSERT_TRUE(Run(key, {"SET", key, std::to_string(i)}).ok()) << key;
    owners.insert(Owner(KeySlot(key)));
  }
  EXPECT_EQ(owners.size(), 3u);  // The keys spread over all three masters.
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("{c:demo:ch", i, "}:seq");
    absl::StatusOr<Reply> r = Run(key, {"GET", key});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->str, std::to_string(i));
  }
  EXPECT_EQ(client_->stats().moved.load(), 0u);
  EXPECT_EQ(client_->stats().ask.load(), 0u);
  // A real error reply is the caller's, not a redirect.
  absl::StatusOr<Reply> wrong = Run("k", {"INCR", "k", "extra"});
  EXPECT_TRUE(absl::IsInternal(wrong.status())) << wrong.status();
}

TEST_F(ClusterClientTest, ASlotMovedUnderTheClientIsFollowedAndTheMapReadAgain) {
  const std::string key = "{u:alice}:presence";
  ASSERT_TRUE(Run(key, {"SET", key, "online"}).ok());
  const int slot = KeySlot(key);
  const int from = Owner(slot), to = AnotherMaster(from);
  BeginMigration(slot, key, from, to);
  // The two masters concerned learn it at once, the third by gossip.
  FinishMigration(slot, to, {from, to});
  absl::StatusOr<Reply> r = Run(key, {"GET", key});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "online");
  EXPECT_GE(client_->stats().moved.load(), 1u);
  // Each MOVED reads the map again. Once a read reflects the move (the
  // third master learns it by gossip), commands go straight to the owner.
  uint64_t moved = client_->stats().moved.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Run(key, {"GET", key}).ok());
    const uint64_t now = client_->stats().moved.load();
    if (now == moved) break;
    moved = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Run(key, {"GET", key}).ok());
  EXPECT_EQ(client_->stats().moved.load(), moved);
}

TEST_F(ClusterClientTest, AKeyAlreadyMigratedMidReshardIsReadThroughAsk) {
  const std::string key = "{c:demo:general}:log";
  ASSERT_TRUE(Run(key, {"SET", key, "entries"}).ok());
  const int slot = KeySlot(key);
  const int from = Owner(slot), to = AnotherMaster(from);
  BeginMigration(slot, key, from, to);
  // The old owner still serves the slot, but not this key any more: ASK.
  absl::StatusOr<Reply> r = Run(key, {"GET", key});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "entries");
  EXPECT_GE(client_->stats().ask.load(), 1u);
  EXPECT_EQ(client_->stats().moved.load(), 0u);
  FinishMigration(slot, to, {from, to});
}

TEST_F(ClusterClientTest, ScriptsRunOnTheirSlotsMasterAndLoadThemselvesThere) {
  static const RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  std::set<int> owners;
  for (int i = 0; i < 60; ++i) {
    const std::string key = absl::StrCat("{c:demo:s", i, "}:seq");
    std::promise<absl::StatusOr<Reply>> done;
    script.Run(*client_, {key}, {"5"},
               [&](absl::StatusOr<Reply> r) { done.set_value(std::move(r)); });
    absl::StatusOr<Reply> r = done.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->integer, 5);
    owners.insert(Owner(KeySlot(key)));
  }
  EXPECT_EQ(owners.size(), 3u);  // Loaded on every master by its first run there.
  // Keys of two slots: the cluster refuses, and the caller hears why.
  std::promise<absl::StatusOr<Reply>> cross;
  script.Run(*client_, {"{u:a}:x", "{u:b}:x"}, {"1"},
             [&](absl::StatusOr<Reply> r) { cross.set_value(std::move(r)); });
  absl::StatusOr<Reply> refused = cross.get_future().get();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "CROSSSLOT")) << refused.status();
  std::promise<absl::StatusOr<Reply>> keyless;
  script.Run(*client_, {}, {"1"},
             [&](absl::StatusOr<Reply> r) { keyless.set_value(std::move(r)); });
  EXPECT_TRUE(absl::IsInvalidArgument(keyless.get_future().get().status()));
}

TEST_F(ClusterClientTest, ShardedSubscriptionsSpanEveryMasterAndFollowAMovedSlot) {
  auto heard = std::make_shared<Heard>();
  auto sub = Subscriber(client_, heard);
  sub->Start();
  std::vector<std::string> topics;
  std::set<int> owners;
  for (int i = 0; i < 30; ++i) {
    topics.push_back(absl::StrCat("{c:sub:ch", i, "}:topic"));
    owners.insert(Owner(KeySlot(topics.back())));
    sub->Subscribe(topics.back());
  }
  ASSERT_EQ(owners.size(), 3u);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(heard->mu);
    return heard->subscribed.size() == topics.size();
  }));
  EXPECT_TRUE(sub->connected());
  for (const std::string& t : topics) {
    absl::StatusOr<Reply> r = Run(t, {"SPUBLISH", t, "one"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->integer, 1) << t;  // Our subscriber, on the slot's own master.
  }
  for (const std::string& t : topics) EXPECT_TRUE(WaitFor([&] { return heard->Has(t + "=one"); }));

  // The slot of a topic moves to another master: its old owner drops the
  // subscription, and the subscriber takes it to the new owner.
  const std::string& moving = topics[0];
  const int slot = KeySlot(moving);
  const int from = Owner(slot), to = AnotherMaster(from);
  const std::string s = std::to_string(slot);
  ASSERT_TRUE(chat::testing::CommandOn(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", Id(from)}).ok());
  ASSERT_TRUE(chat::testing::CommandOn(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", Id(to)}).ok());
  FinishMigration(slot, to, {from, to});
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(heard->mu);
    return heard->moved.count(moving) == 1;
  }));
  absl::StatusOr<Reply> r = Run(moving, {"SPUBLISH", moving, "two"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->integer, 1);
  EXPECT_TRUE(WaitFor([&] { return heard->Has(moving + "=two"); }));
  EXPECT_EQ(sub->moves(), 1u);
  {
    std::lock_guard<std::mutex> l(heard->mu);
    EXPECT_EQ(heard->moved.size(), 1u);  // The other topics stayed where they were.
  }
  // Unsubscribed topics hear nothing more.
  sub->Unsubscribe(topics[1]);
  ASSERT_TRUE(WaitFor([&] { return Run(topics[1], {"SPUBLISH", topics[1], "x"})->integer == 0; }));
  sub->Stop();
}

// Last: it takes a master away from the suite's cluster.
TEST_F(ClusterClientTest, AKilledMastersSlotsAreServedByItsPromotedReplica) {
  ClusterOptions patient;
  patient.node.reconnect_delay = absl::Milliseconds(20);
  patient.max_attempts = 30;  // About 12 s of retries: the failover takes 2-4 s.
  auto client = ClusterClient::Create(ioc_.get_executor(),
                                      {{"127.0.0.1", cluster_->node(0).port()},
                                       {"127.0.0.1", cluster_->node(1).port()},
                                       {"127.0.0.1", cluster_->node(2).port()}},
                                      patient);
  std::promise<absl::Status> started;
  client->Start([&](absl::Status s) { started.set_value(s); });
  ASSERT_TRUE(started.get_future().get().ok());
  const std::string key = "{u:bob}:sessions";
  // A subscription on the same shard (the same hash tag: the same slot).
  const std::string topic = "{u:bob}:topic";
  // And one on another master, which the failover must leave alone.
  std::string elsewhere;
  for (int i = 0; elsewhere.empty(); ++i) {
    const std::string t = absl::StrCat("{u:other", i, "}:topic");
    if (Owner(KeySlot(t)) != Owner(KeySlot(topic))) elsewhere = t;
  }
  auto heard = std::make_shared<Heard>();
  auto sub = Subscriber(client, heard);
  sub->Start();
  sub->Subscribe(topic);
  sub->Subscribe(elsewhere);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(heard->mu);
    return heard->subscribed.size() == 2;
  }));
  std::promise<absl::StatusOr<Reply>> set;
  client->Command(key, {"SET", key, "s1"},
                  [&](absl::StatusOr<Reply> r) { set.set_value(std::move(r)); });
  ASSERT_TRUE(set.get_future().get().ok());
  const int owner = Owner(KeySlot(key));
  // Make sure the replica has it before its master dies.
  absl::StatusOr<Reply> replicated = chat::testing::CommandOn(owner, {"WAIT", "1", "2000"});
  ASSERT_TRUE(replicated.ok()) << replicated.status();
  ASSERT_EQ(replicated->integer, 1);
  for (size_t i = 0; i < cluster_->size(); ++i) {
    if (cluster_->node(i).port() == owner) cluster_->node(i).Stop(/*hard=*/true);
  }
  std::promise<absl::StatusOr<Reply>> got;
  client->Command(key, {"GET", key}, [&](absl::StatusOr<Reply> r) { got.set_value(std::move(r)); });
  absl::StatusOr<Reply> r = got.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "s1");
  EXPECT_GT(client->stats().retries.load(), 0u);
  EXPECT_GE(client->stats().refreshes.load(), 2u);
  // The subscription followed the slot to the promoted replica.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(heard->mu);
    return heard->moved.count(topic) == 1;
  }));
  std::promise<absl::StatusOr<Reply>> published;
  client->Command(topic, {"SPUBLISH", topic, "after"},
                  [&](absl::StatusOr<Reply> r) { published.set_value(std::move(r)); });
  absl::StatusOr<Reply> p = published.get_future().get();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->integer, 1);
  EXPECT_TRUE(WaitFor([&] { return heard->Has(topic + "=after"); }));
  EXPECT_TRUE(WaitFor([&] { return sub->connected(); }));
  {
    std::lock_guard<std::mutex> l(heard->mu);
    // Only the failed master's topic lost its subscription for a while.
    EXPECT_EQ(heard->unconfirmed, std::set<std::string>{topic});
    EXPECT_EQ(heard->moved, std::set<std::string>{topic});
  }
  sub->Stop();
  client->Stop();
}

}  // namespace
}  // namespace chat::redis
