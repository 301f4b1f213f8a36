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

// kNextSeqLua defines the Lua function next_seq(counter key, rollback key,
// floor), the append scripts' half of the guard: it returns the log's next
// seq and, when the counter came out at or below floor (Redis lost appends
// it had acknowledged), the first lost seq; the counter then continues above
// floor, so no seq is handed out twice, and the lost range "<from>:<to>" is
// recorded under the rollback key for the log's readers. (0 when none.)
inline constexpr char kNextSeqLua[] = R"lua(
local function next_seq(counter, rollback, floor_arg)
  local seq = redis.call('INCR', counter)
  local lost = 0
  local floor = tonumber(floor_arg) or 0
  if seq <= floor then
    lost = seq
    seq = floor + 1
    redis.call('SET', counter, seq)
    redis.call('SET', rollback, lost .. ':' .. floor)
  end
  return seq, lost
end
)lua";

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
