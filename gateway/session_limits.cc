#include "gateway/session_limits.h"

#include <utility>

namespace chat::gateway {

struct SessionLimits::Slot::Counter {
  explicit Counter(int limit) : limit(limit) {}
  const int limit;
  absl::Mutex mu;
  absl::flat_hash_map<std::string, int> open ABSL_GUARDED_BY(mu);

  // Take counts one more for key unless it is at the limit.
  bool Take(const std::string& key) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    int& n = open[key];
    if (limit > 0 && n >= limit) {
      if (n == 0) open.erase(key);
      return false;
    }
    ++n;
    return true;
  }
  void Give(const std::string& key) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    auto it = open.find(key);
    if (it != open.end() && --it->second <= 0) open.erase(it);
  }
};

SessionLimits::Slot::Slot(std::shared_ptr<Counter> counter, std::string key)
    : counter_(std::move(counter)), key_(std::move(key)) {}

SessionLimits::Slot::~Slot() { counter_->Give(key_); }

SessionLimits::SessionLimits(int per_address, int per_user)
    : addresses_(std::make_shared<Slot::Counter>(per_address)),
      users_(std::make_shared<Slot::Counter>(per_user)) {}

std::unique_ptr<SessionLimits::Slot> SessionLimits::AdmitAddress(const std::string& address) {
  if (!addresses_->Take(address)) return nullptr;
  return std::unique_ptr<Slot>(new Slot(addresses_, address));
}

std::unique_ptr<SessionLimits::Slot> SessionLimits::AdmitUser(const std::string& user) {
  if (!users_->Take(user)) return nullptr;
  return std::unique_ptr<Slot>(new Slot(users_, user));
}

}  // namespace chat::gateway
