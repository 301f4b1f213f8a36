// ClusterClient sends commands to a Redis Cluster: each to the master that
// serves its key's slot (ClusterMap), over one pipelined RedisClient per
// node. It follows redirects as Redis Cluster clients must: MOVED (the slot
// has a new owner: retry there and re-read the map), ASK (the slot is
// migrating: send ASKING and the command to the named node, once), and
// retries TRYAGAIN, CLUSTERDOWN and a lost node with bounded backoff while
// the map is read again (a failover promotes a replica to a new address).
//
// This is the routing layer of issue 10. The binaries do not use it yet:
// RedisClient's callers (scripts, Batch, the subscriber) still need a
// cluster-aware form, and sharded pub/sub is not written.
#ifndef CHATSUITE_COMMON_REDIS_CLUSTER_CLIENT_H_
#define CHATSUITE_COMMON_REDIS_CLUSTER_CLIENT_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/redis_client.h"
#include "common/redis_cluster_map.h"
#include "common/redis_script.h"

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

class ClusterClient : public std::enable_shared_from_this<ClusterClient> {
 public:
  // Use Create: callbacks hold the client alive.
  static std::shared_ptr<ClusterClient> Create(boost::asio::any_io_executor executor,
                                               std::vector<HostPort> seeds, ClusterOptions options);
  ~ClusterClient();

  // Start reads the slot map from the first seed that answers (trying each
  // until one does) and connects to every master; done gets OK once the map
  // covers every slot, or the last error after options.max_attempts rounds.
  void Start(absl::AnyInvocable<void(absl::Status)> done);
  // Stop closes every connection; commands in flight fail. Idempotent.
  void Stop();

  // Command sends args to the master serving key's slot (key is the
  // command's first key; every key it names must share that slot) and
  // calls cb with the reply, on some node connection's strand. Errors as for
  // RedisClient::Command, after the redirects and retries above.
  // Thread-safe; never blocks.
  void Command(absl::string_view key, std::vector<std::string> args, Callback cb);

  const ClusterStats& stats() const { return stats_; }

  // RunScript runs script (EVALSHA, then EVAL on NOSCRIPT: each node loads
  // it the first time it runs there) on the master serving keys[0]'s slot.
  // Every key must share that slot, as the slot guard holds the code to; a
  // script without keys is refused with kInvalidArgument (it has no slot).
  void RunScript(const RedisScript& script, std::vector<std::string> keys,
                 std::vector<std::string> args, Callback cb);

 private:
  struct Attempt;
  ClusterClient(boost::asio::any_io_executor executor, std::vector<HostPort> seeds,
                ClusterOptions options);

  void Send(std::shared_ptr<Attempt> attempt);
  void OnReply(std::shared_ptr<Attempt> attempt, HostPort node, absl::StatusOr<Reply> reply);
  void Retry(std::shared_ptr<Attempt> attempt, absl::Status last);
  // Refresh reads the map from a known node (masters first, then seeds);
  // at most one in flight, done (may be null) after it.
  void Refresh(absl::AnyInvocable<void(absl::Status)> done);
  void RefreshFrom(size_t index, std::vector<HostPort> candidates,
                   absl::AnyInvocable<void(absl::Status)> done);
  std::shared_ptr<RedisClient> Node(const HostPort& node);

  boost::asio::any_io_executor executor_;
  const std::vector<HostPort> seeds_;
  const ClusterOptions options_;
  absl::Mutex mu_;
  std::optional<ClusterMap> map_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<RedisClient>> nodes_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  ClusterStats stats_;
};

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLUSTER_CLIENT_H_
