// SessionLimits bounds what one client can hold on this gateway: WebSocket
// connections per client address and identified sessions per user. Each
// admitted connection or session holds a Slot; the count drops when the
// Slot is destroyed, and a key whose count reaches zero is forgotten, so
// the maps stay bounded by what is open. Limits are per gateway replica.
// Thread-safe.
#ifndef CHATSUITE_GATEWAY_SESSION_LIMITS_H_
#define CHATSUITE_GATEWAY_SESSION_LIMITS_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace chat::gateway {

class SessionLimits {
 public:
  // per_address, per_user: the most at once; 0 means no limit.
  SessionLimits(int per_address, int per_user);

  // Slot is one admitted connection or session.
  class Slot {
   public:
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    friend class SessionLimits;
    struct Counter;
    Slot(std::shared_ptr<Counter> counter, std::string key);
    std::shared_ptr<Counter> counter_;
    std::string key_;
  };

  // AdmitAddress takes a connection slot for a client address; null when
  // the address already holds the most allowed.
  std::unique_ptr<Slot> AdmitAddress(const std::string& address);
  // AdmitUser takes a session slot for user; null when the user already
  // holds the most allowed on this gateway.
  std::unique_ptr<Slot> AdmitUser(const std::string& user);

 private:
  std::shared_ptr<Slot::Counter> addresses_, users_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_SESSION_LIMITS_H_
