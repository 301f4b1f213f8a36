#include "common/high_water.h"

namespace chat {

int64_t HighWater::Get(const std::string& log) const {
  absl::MutexLock lock(&mu_);
  auto it = marks_.find(log);
  return it == marks_.end() ? 0 : it->second;
}

void HighWater::Raise(const std::string& log, int64_t seq) {
  absl::MutexLock lock(&mu_);
  auto it = marks_.find(log);
  if (it != marks_.end()) {
    if (seq > it->second) it->second = seq;
    return;
  }
  if (marks_.size() >= max_logs_) marks_.erase(marks_.begin());
  marks_.emplace(log, seq);
}

size_t HighWater::size() const {
  absl::MutexLock lock(&mu_);
  return marks_.size();
}

}  // namespace chat
