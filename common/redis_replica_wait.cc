#include "common/redis_replica_wait.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat::redis {

ReplicaWait::ReplicaWait(std::shared_ptr<RedisClient> client, int replicas, absl::Duration timeout,
                         ReplicaWaitStats* stats)
    : client_(std::move(client)),
      replicas_(replicas),
      timeout_ms_(std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)))),
      stats_(stats != nullptr ? stats : &own_stats_) {}

uint64_t ReplicaWait::WriteEpoch() const {
  return client_->stats().connects.load(std::memory_order_relaxed);
}

void ReplicaWait::After(uint64_t write_epoch, absl::AnyInvocable<void(absl::Status)> done) {
  absl::MutexLock lock(&mu_);
  queued_.push_back({write_epoch, std::move(done)});
  if (!in_flight_) SendLocked();
}

void ReplicaWait::SendLocked() {
  in_flight_ = true;
  std::vector<Waiter> batch;
  batch.swap(queued_);
  stats_->waits.fetch_add(1, std::memory_order_relaxed);
  // Command only posts to the strand, so its callback never runs under mu_.
  client_->Command({"WAIT", std::to_string(replicas_), timeout_ms_},
                   [this, batch = std::move(batch)](absl::StatusOr<Reply> reply) mutable {
                     Finish(std::move(batch), std::move(reply));
                   });
}

void ReplicaWait::Finish(std::vector<Waiter> batch, absl::StatusOr<Reply> reply) {
  // On the strand, in the reply's callback: this epoch is the connection the
  // WAIT went through.
  const uint64_t epoch = WriteEpoch();
  absl::Status status;
  if (!reply.ok()) {
    status = reply.status();
  } else if (reply->integer < replicas_) {
    status = absl::UnavailableError(absl::StrCat("redis: ", reply->integer, " of ", replicas_,
                                                 " replicas confirmed the write in time"));
  }
  for (Waiter& w : batch) {
    absl::Status s = status;
    if (s.ok() && w.epoch != epoch) {
      s = absl::UnavailableError("redis: reconnected before the replicas confirmed the write");
    }
    if (s.ok()) {
      stats_->confirmed.fetch_add(1, std::memory_order_relaxed);
    } else if (reply.ok() && reply->integer < replicas_) {
      stats_->short_.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_->failed.fetch_add(1, std::memory_order_relaxed);
    }
    w.done(std::move(s));
  }
  // The next WAIT only after the callbacks: what they send on this
  // connection (the chat store's publications) goes out ahead of it, not
  // behind a WAIT that blocks the connection.
  absl::MutexLock lock(&mu_);
  in_flight_ = false;
  if (!queued_.empty()) SendLocked();
}

void ReplicaWaits::After(const std::shared_ptr<RedisClient>& via,
                         absl::AnyInvocable<void(absl::Status)> done) {
  if (via == nullptr) {
    stats_.failed.fetch_add(1, std::memory_order_relaxed);
    return done(absl::UnavailableError("redis: no connection took the write"));
  }
  ReplicaWait* wait = nullptr;
  {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<ReplicaWait>& w = waits_[via.get()];
    if (w == nullptr) w = std::make_unique<ReplicaWait>(via, replicas_, timeout_, &stats_);
    wait = w.get();
  }
  wait->After(wait->WriteEpoch(), std::move(done));
}

void AppendReplicaWaitMetrics(const ReplicaWaitStats& s, std::string* out) {
  absl::StrAppend(
      out,
      "# HELP chat_redis_replica_waits_total WAIT commands sent to confirm writes on replicas.\n"
      "# TYPE chat_redis_replica_waits_total counter\n",
      "chat_redis_replica_waits_total ", s.waits.load(std::memory_order_relaxed), "\n",
      "# HELP chat_redis_replica_acks_total Writes awaiting replicas, by outcome: confirmed, "
      "short (too few replicas in time) or failed.\n"
      "# TYPE chat_redis_replica_acks_total counter\n",
      "chat_redis_replica_acks_total{outcome=\"confirmed\"} ",
      s.confirmed.load(std::memory_order_relaxed), "\n",
      "chat_redis_replica_acks_total{outcome=\"short\"} ", s.short_.load(std::memory_order_relaxed),
      "\n", "chat_redis_replica_acks_total{outcome=\"failed\"} ",
      s.failed.load(std::memory_order_relaxed), "\n");
}

}  // namespace chat::redis
