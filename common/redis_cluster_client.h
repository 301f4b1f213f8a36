// ClusterClient sends commands to a Redis Cluster: each to the master that
// serves its key's slot (ClusterMap), over one pipelined RedisClient per
// node. It follows redirects as Redis Cluster clients must: MOVED (the slot
// has a new owner: retry there and re-read the map), ASK (the slot is
// migrating: send ASKING and the command to the named node, once), and
// retries TRYAGAIN, CLUSTERDOWN and a lost node with bounded backoff while
// the map is read again (a failover promotes a replica to a new address).
// It is the Commands (redis_commands.h) of cluster mode (--redis_cluster):
// stores, scripts and Batch run on it unchanged. Pub/sub in a cluster is
// ClusterSubscriber's (redis_cluster_subscriber.h), which reads the slot
// map from here.
#ifndef CHATSUITE_COMMON_REDIS_CLUSTER_CLIENT_H_
#define CHATSUITE_COMMON_REDIS_CLUSTER_CLIENT_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/redis_client.h"
#include "common/redis_cluster_map.h"
#include "common/redis_commands.h"

namespace chat::redis {

// ClusterStats counts what routing did, for metrics and tests. Lock-free.
struct ClusterStats {
  std::atomic<uint64_t> moved{0};      // MOVED redirects followed.
  std::atomic<uint64_t> ask{0};        // ASK redirects followed.
  std::atomic<uint64_t> retries{0};    // Retries after TRYAGAIN, CLUSTERDOWN or a lost node.
  std::atomic<uint64_t> refreshes{0};  // Slot maps read.
};

struct ClusterOptions {
  // Per-node connection options (host and port are each node's).
  Options node;
  // Redirects and retries one command may take before it fails with the
  // last error; retries wait 10 ms, doubling, at most max_backoff.
  int max_attempts = 8;
  absl::Duration max_backoff = absl::Milliseconds(500);
};

class ClusterClient : public Commands, public std::enable_shared_from_this<ClusterClient> {
 public:
  // Use Create: callbacks hold the client alive.
  static std::shared_ptr<ClusterClient> Create(boost::asio::any_io_executor executor,
                                               std::vector<HostPort> seeds, ClusterOptions options);
  ~ClusterClient() override;

  // Start reads the slot map from the first seed that answers (trying each
  // until one does) and connects to every master; done gets OK once the map
  // covers every slot, or the last error after options.max_attempts rounds.
  void Start(absl::AnyInvocable<void(absl::Status)> done);
  // Stop closes every connection; commands in flight fail. Idempotent.
  void Stop();

  // Command sends args to the master serving RoutingKey(args)'s slot (every
  // key it names must share that slot; a command without keys goes to any
  // master, a script without keys is refused with kInvalidArgument: it has
  // no slot) and calls cb with the reply, on that node connection's strand.
  // Errors as for RedisClient::Command, after the redirects and retries
  // above. Thread-safe; never blocks.
  void Command(std::vector<std::string> args, Callback cb) override;
  void CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb) override;
  void CommandVia(std::vector<std::string> args, ViaCallback cb) override;
  // Command on an explicit routing key.
  void Command(absl::string_view key, std::vector<std::string> args, Callback cb);
  // healthy: the map covers every slot and every master's connection is up.
  bool healthy() const override;

  // RefreshMap reads the slot map again (one read in flight; a caller that
  // finds one running is told when it ends); done may be null and runs on
  // some node connection's strand or the executor. A node that does not
  // answer within a second is passed over for the next.
  void RefreshMap(absl::AnyInvocable<void(absl::Status)> done) { Refresh(std::move(done)); }
  // map is the slot map as last read (null before the first).
  std::shared_ptr<const ClusterMap> map() const ABSL_LOCKS_EXCLUDED(mu_);
  // nodes lists every node connection made so far, named "host:port".
  std::vector<std::pair<std::string, std::shared_ptr<RedisClient>>> nodes() const
      ABSL_LOCKS_EXCLUDED(mu_);

  const ClusterStats& stats() const { return stats_; }

 private:
  struct Attempt;
  ClusterClient(boost::asio::any_io_executor executor, std::vector<HostPort> seeds,
                ClusterOptions options);

  void Route(std::vector<std::string> args, ViaCallback done);
  void Send(std::shared_ptr<Attempt> attempt);
  void OnReply(std::shared_ptr<Attempt> attempt, HostPort node, std::shared_ptr<RedisClient> via,
               absl::StatusOr<Reply> reply);
  void Retry(std::shared_ptr<Attempt> attempt, absl::Status last);
  // Refresh reads the map from a known node (masters first, then seeds);
  // at most one in flight, done (may be null) after it.
  void Refresh(absl::AnyInvocable<void(absl::Status)> done) ABSL_LOCKS_EXCLUDED(mu_);
  void RefreshFrom(size_t index, std::vector<HostPort> candidates);
  void FinishRefresh(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<RedisClient> Node(const HostPort& node);

  boost::asio::any_io_executor executor_;
  const std::vector<HostPort> seeds_;
  const ClusterOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const ClusterMap> map_ ABSL_GUARDED_BY(mu_);  // Replaced whole, never changed.
  absl::flat_hash_map<std::string, std::shared_ptr<RedisClient>> nodes_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void(absl::Status)>> refresh_waiters_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  ClusterStats stats_;
};

// ClusterConnections lists the client's node connections for
// AppendRedisMetrics, labelled "<name>:<host>:<port>".
std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> ClusterConnections(
    const ClusterClient& client, const std::string& name);
// AppendClusterMetrics appends the routing counters
// chat_redis_cluster_redirects_total{kind="moved"|"ask"},
// chat_redis_cluster_retries_total and chat_redis_cluster_map_reads_total,
// labelled connection="<name>".
void AppendClusterMetrics(const ClusterClient& client, const std::string& name, std::string* out);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLUSTER_CLIENT_H_
