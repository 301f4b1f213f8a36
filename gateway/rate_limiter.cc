#include "gateway/rate_limiter.h"

namespace chat::gateway {

std::shared_ptr<SharedTokenBucket> ChatBudgets::For(const std::string& user) {
  absl::MutexLock lock(&mu_);
  std::weak_ptr<SharedTokenBucket>& slot = buckets_[user];
  if (auto budget = slot.lock()) return budget;
  auto budget = std::make_shared<SharedTokenBucket>(rate_, burst_);
  slot = budget;
  if (++inserts_ % 1024 == 0) {
    absl::erase_if(buckets_, [](const auto& kv) { return kv.second.expired(); });
  }
  return budget;
}

}  // namespace chat::gateway
