// RedisPresenceStore keeps presence in Redis (layout in common/keys.h):
//  - keys::UserSessions(user): hash session id -> "<status>|<gateway>|<expiry ms>";
//  - keys::UserPresence(user): hash status (what others see), last_seen,
//    due (next re-evaluation, ms; 0 none), hold_until (grace deadline, ms),
//    version (raised by one at every visible change);
//  - keys::kPresenceExpiry: sorted set user -> when to re-evaluate them.
//
// Every change to one user is one Lua script on that user's keys (one hash
// tag, so one Redis Cluster slot): it drops expired sessions, applies the
// change, recomputes the visible status, and when that changed, writes it,
// raises the version and returns the user's servers and friends. The store
// then publishes the event, carrying the version, to the user's own topic,
// each server's presence topic and each friend's topic, pipelined. Those
// topics live on other slots, and sharded pub/sub (SPUBLISH, which every
// topic uses) allows a script only shard channels of its own slot. Events of one user can arrive
// out of order (two service replicas, or a batched refresh or sweep published after a change that
// ran between its scripts); a client keeps the highest version (docs/protocol.md). An SPUBLISH that
// fails costs only the event: the state is stored and read again by every session at ready.
//
// The expiry index lives on another slot, so it is kept outside the scripts
// and is allowed to run early, never late: a score at most the user's `due`.
// Connect and Disconnect lower it (ZADD LT) before their script, so a crash
// cannot leave a deadline unindexed, and again after it with the resulting due.
// The sweeper first claims due users by raising their score to now +
// sweep_lease (so other replicas skip them, and a sweeper that dies mid-round
// only delays them), re-evaluates them, then lowers each score to its new due,
// or removes the entry if nothing is left to watch and no operation lowered
// it meanwhile. Refresh and SetStatus never bring a deadline forward, so they
// leave the index alone.
#ifndef CHATSUITE_PRESENCE_SERVICE_REDIS_PRESENCE_STORE_H_
#define CHATSUITE_PRESENCE_SERVICE_REDIS_PRESENCE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/redis_client.h"
#include "presence_service/presence_store.h"

namespace chat::presence_service {

struct RedisPresenceStoreOptions {
  // How long a sweeper's claim on a due user lasts. It must exceed the
  // longest session TTL and offline grace in use (PresenceServer ensures it).
  absl::Duration sweep_lease = absl::Minutes(1);
};

class RedisPresenceStore : public PresenceStore {
 public:
  // client must outlive the store and be started by the caller.
  RedisPresenceStore(std::shared_ptr<redis::Commands> client, RedisPresenceStoreOptions options);

  void Connect(const SessionRef& session, int64_t now_ms, int64_t expires_at_ms,
               Done<PresenceUpdate> done) override;
  void Disconnect(const SessionRef& session, int64_t now_ms, int64_t hold_until_ms,
                  Done<PresenceUpdate> done) override;
  void SetStatus(const SessionRef& session, int64_t now_ms, Done<PresenceUpdate> done) override;
  void Refresh(const std::vector<SessionRef>& sessions, int64_t now_ms, int64_t expires_at_ms,
               Done<std::vector<std::string>> done) override;
  void SweepDue(int64_t now_ms, int max_users, Done<int> done) override;
  void GetAudience(const std::string& viewer, Done<Audience> done) override;
  void FilterMembers(const std::vector<std::string>& servers, const std::vector<std::string>& users,
                     Done<std::vector<bool>> done) override;
  void SampleMembers(const std::vector<std::string>& servers, int max_per_server,
                     Done<std::vector<std::string>> done) override;
  void GetPresences(const std::vector<std::string>& users,
                    Done<std::vector<Presence>> done) override;

 private:
  // Change runs the update script for op on one session and, when reindex,
  // lowers the user's expiry entry to the resulting due before done.
  void Change(const char* op, const SessionRef& session, int64_t now_ms, int64_t deadline_ms,
              bool reindex, Done<PresenceUpdate> done);
  // LowerExpiry makes the user's expiry entry at most at_ms (fire and forget).
  void LowerExpiry(const std::string& user, int64_t at_ms);
  // Finish lowers the swept users' entries to their new due, or releases
  // those with nothing left to watch; done gets taken or the first error.
  void FinishSweep(std::vector<std::string> users, int64_t claim_ms,
                   std::vector<absl::StatusOr<redis::Reply>> replies, Done<int> done);

  std::shared_ptr<redis::Commands> client_;
  RedisPresenceStoreOptions options_;
};

}  // namespace chat::presence_service

#endif  // CHATSUITE_PRESENCE_SERVICE_REDIS_PRESENCE_STORE_H_
