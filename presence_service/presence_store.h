// PresenceStore is the presence service's persistence interface.
// RedisPresenceStore is the production implementation; unit tests of
// PresenceCore use a fake.
//
// The store owns the per-user state machine: sessions with expiries, the
// visible status others see, the hold that keeps a user who just closed their
// last session from flapping offline, and publishing a presence event to the
// user's audience whenever the visible status changes. It applies no policy:
// times (now, expiries, hold deadline) come from the caller.
//
// Every method is asynchronous: it returns at once and calls done exactly once,
// on a thread of the store's choosing, never while holding a caller's lock.
#ifndef CHATSUITE_PRESENCE_SERVICE_PRESENCE_STORE_H_
#define CHATSUITE_PRESENCE_SERVICE_PRESENCE_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/async.h"
#include "proto/presence.pb.h"

namespace chat::presence_service {

// PresenceUpdate is a user's visible presence after a store operation.
struct PresenceUpdate {
  std::string status;     // "online" | "idle" | "dnd" | "offline".
  int64_t last_seen = 0;  // When the user last went offline (ms); 0 if never.
  bool changed = false;   // This call changed the visible status and published it.
  int64_t version = 0;    // Raised at every visible change (Presence.version).
};

// Audience is what a viewer may see: their friends and their servers.
struct Audience {
  std::vector<std::string> friends;
  std::vector<std::string> servers;
};

class PresenceStore {
 public:
  virtual ~PresenceStore() = default;

  // Connect adds the session, or replaces one with the same id, with
  // session.status and expiry expires_at_ms. Done gets the user's visible
  // presence afterwards.
  virtual void Connect(const SessionRef& session, int64_t now_ms, int64_t expires_at_ms,
                       Done<PresenceUpdate> done) = 0;

  // Disconnect removes the session (a no-op for an unknown one, or, when
  // session.gateway_id is set, for one registered on another gateway: the
  // client resumed it there before this gateway noticed). When that
  // leaves the user no visible session while others still see them, the
  // visible status is held until hold_until_ms; if no visible session is back
  // by then, SweepDue publishes offline. hold_until_ms <= now_ms: no hold.
  virtual void Disconnect(const SessionRef& session, int64_t now_ms, int64_t hold_until_ms,
                          Done<PresenceUpdate> done) = 0;

  // SetStatus changes a live session's status to session.status. kNotFound if
  // the session is unknown or expired.
  virtual void SetStatus(const SessionRef& session, int64_t now_ms, Done<PresenceUpdate> done) = 0;

  // Refresh moves the expiry of every listed live session to expires_at_ms and
  // returns the ids of listed sessions it does not know (never connected,
  // disconnected, or expired), in request order.
  virtual void Refresh(const std::vector<SessionRef>& sessions, int64_t now_ms,
                       int64_t expires_at_ms, Done<std::vector<std::string>> done) = 0;

  // SweepDue re-evaluates at most max_users users whose sessions expired or
  // whose hold ended by now_ms, publishing what changed. Done gets how many
  // users it took; max_users means more may be due.
  virtual void SweepDue(int64_t now_ms, int max_users, Done<int> done) = 0;

  // GetAudience: the viewer's friends and servers.
  virtual void GetAudience(const std::string& viewer, Done<Audience> done) = 0;

  // FilterMembers: for each of users, whether it is a member of at least one
  // of servers (same order as users).
  virtual void FilterMembers(const std::vector<std::string>& servers,
                             const std::vector<std::string>& users,
                             Done<std::vector<bool>> done) = 0;

  // SampleMembers: members of the servers, at most max_per_server of each
  // (every member of a smaller server), in no particular order; duplicates
  // possible across servers.
  virtual void SampleMembers(const std::vector<std::string>& servers, int max_per_server,
                             Done<std::vector<std::string>> done) = 0;

  // GetPresences: each user's stored visible presence (user_id, status,
  // last_seen), in the order of users; status is empty when none is stored.
  virtual void GetPresences(const std::vector<std::string>& users,
                            Done<std::vector<Presence>> done) = 0;
};

}  // namespace chat::presence_service

#endif  // CHATSUITE_PRESENCE_SERVICE_PRESENCE_STORE_H_
