// HighWater remembers, per log (a channel's or a user's), the highest seq
// this process has handed out or seen, so that a log Redis rolled back (a
// restart on an append-only file that missed its last writes) never hands
// the same seq out twice: appends pass the mark as a floor, and the append
// scripts continue above it (docs/architecture.md, "Sequence numbers").
// Bounded: at most max_logs logs are remembered; beyond, an arbitrary one is
// forgotten (its floor falls back to what Redis and the caller know).
// Thread-safe.
#ifndef CHATSUITE_COMMON_HIGH_WATER_H_
#define CHATSUITE_COMMON_HIGH_WATER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace chat {

class HighWater {
 public:
  explicit HighWater(size_t max_logs = 200000) : max_logs_(max_logs) {}

  // Get returns the highest seq raised for log, 0 if none is remembered.
  int64_t Get(const std::string& log) const ABSL_LOCKS_EXCLUDED(mu_);
  // Raise records that seq of log was handed out or seen.
  void Raise(const std::string& log, int64_t seq) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const size_t max_logs_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> marks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chat

#endif  // CHATSUITE_COMMON_HIGH_WATER_H_
