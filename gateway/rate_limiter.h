// The gateway's rate limits. TokenBucket is one budget: frames of any kind
// and the "sustained abuse" budget of rejected frames are per connection;
// chat messages are per user, in a SharedTokenBucket that ChatBudgets hands
// to all of one user's sessions on this gateway. Pure logic with an injected
// clock.
#ifndef CHATSUITE_GATEWAY_RATE_LIMITER_H_
#define CHATSUITE_GATEWAY_RATE_LIMITER_H_

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chat::gateway {

// TokenBucket is not thread-safe (one per session strand).
class TokenBucket {
 public:
  // rate: tokens added per second; burst: capacity (and the initial fill).
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

  // Take removes one token at time now and returns true, or returns false and
  // sets *retry_after to when one token will be available.
  bool Take(absl::Time now, absl::Duration* retry_after) {
    Refill(now);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return true;
    }
    if (retry_after != nullptr) {
      double seconds = rate_ > 0 ? (1.0 - tokens_) / rate_ : 3600.0;
      *retry_after = absl::Milliseconds(std::ceil(seconds * 1000.0));
    }
    return false;
  }

 private:
  void Refill(absl::Time now) {
    if (last_ != absl::InfinitePast()) {
      double elapsed = absl::ToDoubleSeconds(now - last_);
      if (elapsed > 0) tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    }
    last_ = std::max(last_, now);
  }

  double rate_, burst_, tokens_;
  absl::Time last_ = absl::InfinitePast();
};

// SharedTokenBucket is a TokenBucket several strands may use: the chat
// budget that all of one user's sessions on a gateway share.
class SharedTokenBucket {
 public:
  SharedTokenBucket(double rate, double burst) : bucket_(rate, burst) {}
  bool Take(absl::Time now, absl::Duration* retry_after) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return bucket_.Take(now, retry_after);
  }

 private:
  absl::Mutex mu_;
  TokenBucket bucket_ ABSL_GUARDED_BY(mu_);
};

// ChatBudgets hands out the chat budget of each user on this gateway.
class ChatBudgets {
 public:
  ChatBudgets(double rate, double burst) : rate_(rate), burst_(burst) {}

  // For returns the bucket shared by every session of user (created on first
  // use, dropped with the last session holding it; forgotten users are swept
  // now and then, so the map stays bounded by the users connected). Thread-safe.
  std::shared_ptr<SharedTokenBucket> For(const std::string& user) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const double rate_, burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::weak_ptr<SharedTokenBucket>> buckets_ ABSL_GUARDED_BY(mu_);
  size_t inserts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_RATE_LIMITER_H_
