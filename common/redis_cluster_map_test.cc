// ClusterMap and ParseRedirect: the parsing alone, and against a real
// three-master cluster with a replica each.
#include "common/redis_cluster_map.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "common/redis_test_server.h"

namespace chat::redis {
namespace {

TEST(ParseRedirectTest, ReadsMovedAndAsk) {
  std::optional<Redirect> r = ParseRedirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Redirect::Kind::kMoved);
  EXPECT_EQ(r->slot, 3999);
  EXPECT_EQ(r->node.host, "127.0.0.1");
  EXPECT_EQ(r->node.port, 6381);
  r = ParseRedirect("ASK 0 [::1]:7000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Redirect::Kind::kAsk);
  EXPECT_EQ(r->node.host, "[::1]");
  EXPECT_EQ(r->node.port, 7000);
  r = ParseRedirect("MOVED 16383 :6390");  // The answering node's own host.
  ASSERT_TRUE(r);
  EXPECT_EQ(r->node.host, "");
  r = ParseRedirect("redis: ASK 7 h:1");  // As ConvertReply words it.
  ASSERT_TRUE(r);
  EXPECT_EQ(r->slot, 7);
}

TEST(ParseRedirectTest, RefusesEverythingElse) {
  for (absl::string_view bad :
       {"", "MOVED", "MOVED 1", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED x h:1", "MOVED 1 h",
        "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED 1 h:1 extra", "moved 1 h:1",
        "CROSSSLOT Keys in request don't hash to the same slot", "TRYAGAIN Multiple keys"}) {
    EXPECT_FALSE(ParseRedirect(bad)) << bad;
  }
}

Reply Int(int64_t v) {
  Reply r;
  r.type = Reply::Type::kInteger;
  r.integer = v;
  return r;
}
Reply Str(std::string s) {
  Reply r;
  r.type = Reply::Type::kString;
  r.str = std::move(s);
  return r;
}
Reply Arr(std::vector<Reply> e) {
  Reply r;
  r.type = Reply::Type::kArray;
  r.elements = std::move(e);
  return r;
}

TEST(ClusterMapTest, RangesOfOneMasterAreOneShardAndGapsAreUncovered) {
  Reply reply = Arr({
      Arr({Int(0), Int(99), Arr({Str("10.0.0.1"), Int(7000), Str("id1")}),
           Arr({Str("10.0.0.2"), Int(7001), Str("id2")})}),
      Arr({Int(200), Int(16383), Arr({Str(""), Int(7002), Str("id3")})}),
      Arr({Int(100), Int(149), Arr({Str("10.0.0.1"), Int(7000), Str("id1")})}),
  });
  absl::StatusOr<ClusterMap> map = ClusterMap::FromSlotsReply(reply, "seed");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->shards().size(), 2u);
  ASSERT_NE(map->ShardOf(120), nullptr);
  EXPECT_EQ(map->ShardOf(120)->master.port, 7000);
  ASSERT_EQ(map->ShardOf(0)->replicas.size(), 1u);
  EXPECT_EQ(map->ShardOf(0)->replicas[0].port, 7001);
  EXPECT_EQ(map->ShardOf(16383)->master.host, "seed");  // "" is the seed's host.
  EXPECT_EQ(map->ShardOf(150), nullptr);                // 150-199: nobody.
  EXPECT_EQ(map->ShardOf(16384), nullptr);
  EXPECT_FALSE(map->Covered());
}

TEST(ClusterMapTest, RefusesMalformedReplies) {
  const Reply node = Arr({Str("h"), Int(7000)});
  for (const Reply& bad :
       {Str("x"), Arr({Str("x")}), Arr({Arr({Int(0), Int(10)})}),
        Arr({Arr({Int(10), Int(0), node})}), Arr({Arr({Int(0), Int(16384), node})}),
        Arr({Arr({Int(0), Int(1), Arr({Str("h")})})}),
        Arr({Arr({Int(0), Int(1), Arr({Str("h"), Int(0)})})}),
        Arr({Arr({Int(0), Int(1), node, Arr({Int(1), Int(2)})})})}) {
    EXPECT_FALSE(ClusterMap::FromSlotsReply(bad, "seed").ok());
  }
}

TEST(ClusterMapTest, RoutesEveryKeyOfARealClusterToTheMasterThatServesIt) {
  chat::testing::RedisTestCluster cluster(3, 1);
  ASSERT_TRUE(cluster.Start().ok());
  absl::StatusOr<Reply> slots =
      chat::testing::CommandOn(cluster.node(0).port(), {"CLUSTER", "SLOTS"});
  ASSERT_TRUE(slots.ok()) << slots.status();
  absl::StatusOr<ClusterMap> map = ClusterMap::FromSlotsReply(*slots, "127.0.0.1");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_TRUE(map->Covered());
  ASSERT_EQ(map->shards().size(), 3u);
  for (const ClusterShard& shard : map->shards()) EXPECT_EQ(shard.replicas.size(), 1u);
  std::mt19937 rng(7);
  for (int i = 0; i < 100; ++i) {
    const std::string key = absl::StrCat("{c:s", rng(), ":general}:log");
    const ClusterShard* shard = map->ShardOfKey(key);
    ASSERT_NE(shard, nullptr);
    EXPECT_TRUE(chat::testing::CommandOn(shard->master.port, {"SET", key, "v"}).ok()) << key;
    // Any other master refuses it, naming the same slot and master.
    for (const ClusterShard& other : map->shards()) {
      if (other.master.port == shard->master.port) continue;
      absl::StatusOr<Reply> refused = chat::testing::CommandOn(other.master.port, {"GET", key});
      ASSERT_FALSE(refused.ok());
      std::optional<Redirect> r = ParseRedirect(refused.status().message());
      ASSERT_TRUE(r) << refused.status();
      EXPECT_EQ(r->kind, Redirect::Kind::kMoved);
      EXPECT_EQ(r->slot, KeySlot(key));
      EXPECT_EQ(r->node.port, shard->master.port);
    }
  }
}

}  // namespace
}  // namespace chat::redis
