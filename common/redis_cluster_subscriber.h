// ClusterSubscriber: sharded pub/sub across a Redis Cluster. Each topic is
// subscribed (SSUBSCRIBE) on the master that owns its slot, over one
// RedisSubscriber per master. When Redis drops a topic (its slot moved:
// the node sends an sunsubscribe of its own, or refuses with MOVED) or a
// node's connection drops (it may have failed over), the slot map is read
// again and every topic whose owner changed is subscribed on its new owner;
// once confirmed there, on_moved tells the caller to fill what it missed
// from the logs.
#ifndef CHATSUITE_COMMON_REDIS_CLUSTER_SUBSCRIBER_H_
#define CHATSUITE_COMMON_REDIS_CLUSTER_SUBSCRIBER_H_

#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis_cluster_client.h"
#include "common/redis_subscriber.h"

namespace chat::redis {

class ClusterSubscriber : public PubSub, public std::enable_shared_from_this<ClusterSubscriber> {
 public:
  // cluster reads the slot map (it is started and stopped by the caller);
  // node is each node connection's options (host and port are the node's).
  ClusterSubscriber(boost::asio::any_io_executor executor, std::shared_ptr<ClusterClient> cluster,
                    Options node, PubSubHandlers handlers);

  void Start() override;
  void Stop() override;
  void Reconnect() override;
  void Subscribe(const std::string& topic) override;
  void Unsubscribe(const std::string& topic) override;
  void Renew(const std::string& topic) override;
  bool connected() const override;
  Connection::Strand& strand() override { return strand_; }
  std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> Connections(
      const std::string& name) const override;

  // moves: topics subscribed again on another node (for tests and metrics).
  uint64_t moves() const { return moves_.load(std::memory_order_relaxed); }

 private:
  // On strand_ from here on.
  std::shared_ptr<RedisSubscriber> NodeFor(const std::string& name, const HostPort& node);
  // Place subscribes topic on its slot's master by the current map; false
  // when the map names none (yet). moved: tell on_moved once confirmed.
  bool Place(const std::string& topic, bool moved);
  // Reconcile reads the map and moves every topic whose owner changed: one
  // read at a time, at most one every 100 ms, and again after 250 ms while
  // a node is down or a topic unplaced. Settled, it still reads the map
  // every kSteadyRefresh: a node can accept a subscription and never say it
  // no longer owns the slot (a killed master that restarts and rejoins as a
  // replica, subscribed in between), and only the map shows that.
  void Reconcile();
  void Reconciled(absl::Status read);
  void PublishSnapshot() ABSL_LOCKS_EXCLUDED(snapshot_mu_);
  // UpdateConnected recomputes connected(): a map, and every topic on a
  // node whose connection is up.
  bool UpdateConnected();

  Connection::Strand strand_;
  std::shared_ptr<ClusterClient> cluster_;
  const Options node_options_;
  PubSubHandlers handlers_;
  absl::flat_hash_map<std::string, std::shared_ptr<RedisSubscriber>> nodes_;  // By "host:port".
  // Every topic, and the node it is subscribed on ("" while unplaced).
  absl::flat_hash_map<std::string, std::string> topics_;
  absl::flat_hash_map<std::string, bool> moving_;  // Topics to tell on_moved about.
  bool reconciling_ = false, again_ = false, stopped_ = false, retry_armed_ = false;
  bool any_unplaced_ = false;  // Some topic has no node (as of the last Place or Reconciled).
  absl::Time last_read_ = absl::InfinitePast();
  boost::asio::steady_timer retry_;
  boost::asio::steady_timer steady_;  // The settled map's next read.
  static constexpr absl::Duration kSteadyRefresh = absl::Seconds(2);
  // The node list for AppendMetrics, which runs off the strand.
  mutable absl::Mutex snapshot_mu_;
  std::vector<std::pair<std::string, std::shared_ptr<RedisSubscriber>>> snapshot_
      ABSL_GUARDED_BY(snapshot_mu_);
  std::atomic<uint64_t> moves_{0};
  std::atomic<bool> all_connected_{false};
};

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLUSTER_SUBSCRIBER_H_
