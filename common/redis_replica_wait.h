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
  // client's connection). This object must outlive the client's callbacks
  // (stop the client first).
  ReplicaWait(std::shared_ptr<RedisClient> client, int replicas, absl::Duration timeout);

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
  const ReplicaWaitStats& stats() const { return stats_; }

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
  ReplicaWaitStats stats_;
};

// AppendReplicaWaitMetrics appends chat_redis_replica_waits_total and
// chat_redis_replica_acks_total{outcome="confirmed"|"short"|"failed"}.
void AppendReplicaWaitMetrics(const ReplicaWait& wait, std::string* out);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_REPLICA_WAIT_H_
