// ReplicaWait makes "acknowledged" mean "on N replicas": Redis replication is
// asynchronous, so a write a master acknowledged can vanish in a failover
// unless the caller waits for replicas with WAIT. WAIT blocks the connection
// it is sent on until the replicas confirm every write that connection made
// before it, so ReplicaWait groups its callers: one WAIT in flight per
// client, and everyone who arrives meanwhile shares the next one.
#ifndef CHATSUITE_COMMON_REDIS_REPLICA_WAIT_H_
#define CHATSUITE_COMMON_REDIS_REPLICA_WAIT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis_client.h"

namespace chat::redis {

// ReplicaWaitStats counts outcomes, for metrics. Lock-free.
struct ReplicaWaitStats {
  std::atomic<uint64_t> waits{0};      // WAIT commands sent.
  std::atomic<uint64_t> confirmed{0};  // Callers whose write reached enough replicas.
  std::atomic<uint64_t> short_{0};     // Callers told kUnavailable: too few replicas in time.
  std::atomic<uint64_t> failed{0};     // Callers told an error: WAIT failed or connection changed.
};

class ReplicaWait {
 public:
  // replicas >= 1; timeout is WAIT's own (how long one WAIT may block the
  // client's connection). stats (null: its own) counts the outcomes. This
  // object must outlive the client's callbacks (stop the client first).
  ReplicaWait(std::shared_ptr<RedisClient> client, int replicas, absl::Duration timeout,
              ReplicaWaitStats* stats = nullptr);

  // WriteEpoch identifies the connection a write went through. Call it in
  // the write's reply callback (on the client's strand), where it names the
  // connection that reply came on.
  uint64_t WriteEpoch() const;

  // After calls done with OK once a WAIT sent after this call, on the
  // connection of write_epoch, reports at least `replicas` replicas; with
  // kUnavailable when fewer confirmed within the timeout or the connection
  // was replaced since the write (WAIT on a new connection covers nothing
  // of the old one); with the error when WAIT fails. The write is then
  // stored but unconfirmed: callers retry it idempotently. done runs on the
  // client's strand. Thread-safe; never blocks.
  void After(uint64_t write_epoch, absl::AnyInvocable<void(absl::Status)> done);

  int replicas() const { return replicas_; }
  const ReplicaWaitStats& stats() const { return *stats_; }

 private:
  struct Waiter {
    uint64_t epoch;
    absl::AnyInvocable<void(absl::Status)> done;
  };
  void SendLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(std::vector<Waiter> batch, absl::StatusOr<Reply> reply);

  std::shared_ptr<RedisClient> client_;
  const int replicas_;
  const std::string timeout_ms_;
  absl::Mutex mu_;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Waiter> queued_ ABSL_GUARDED_BY(mu_);
  ReplicaWaitStats own_stats_;
  ReplicaWaitStats* stats_;
};

// ReplicaWaits keeps a ReplicaWait for each connection writes come back on
// (one instance has one; a cluster one per master), made on first use, all
// counted together.
class ReplicaWaits {
 public:
  ReplicaWaits(int replicas, absl::Duration timeout) : replicas_(replicas), timeout_(timeout) {}

  // After is ReplicaWait::After for a write whose reply came over via; call
  // it in that reply's callback. A null via (no connection took the write)
  // fails with kUnavailable.
  void After(const std::shared_ptr<RedisClient>& via, absl::AnyInvocable<void(absl::Status)> done)
      ABSL_LOCKS_EXCLUDED(mu_);

  int replicas() const { return replicas_; }
  const ReplicaWaitStats& stats() const { return stats_; }

 private:
  const int replicas_;
  const absl::Duration timeout_;
  ReplicaWaitStats stats_;
  absl::Mutex mu_;
  absl::flat_hash_map<const RedisClient*, std::unique_ptr<ReplicaWait>> waits_ ABSL_GUARDED_BY(mu_);
};

// AppendReplicaWaitMetrics appends chat_redis_replica_waits_total and
// chat_redis_replica_acks_total{outcome="confirmed"|"short"|"failed"}.
void AppendReplicaWaitMetrics(const ReplicaWaitStats& stats, std::string* out);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_REPLICA_WAIT_H_
