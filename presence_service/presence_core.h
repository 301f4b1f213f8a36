// PresenceCore is the presence service's logic, free of gRPC and Redis: it
// validates requests, turns the configured session TTL and offline grace into
// deadlines for the PresenceStore, and decides who may see whom. The gRPC
// adapter (presence_service_impl) only converts between RPCs and these calls.
//
// Aggregation rule (AggregateStatus; RedisPresenceStore applies the same rule
// inside Redis): others see the highest status among a user's live visible
// sessions, online > dnd > idle; "invisible" sessions count as absent; no
// visible session means "offline".
#ifndef CHATSUITE_PRESENCE_SERVICE_PRESENCE_CORE_H_
#define CHATSUITE_PRESENCE_SERVICE_PRESENCE_CORE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "presence_service/presence_store.h"
#include "proto/presence.pb.h"

namespace chat::presence_service {

struct PresenceCoreOptions {
  // A session not refreshed by Heartbeat for this long is dropped.
  absl::Duration session_ttl = absl::Seconds(30);
  // How long a user whose last session closed still appears as before, so
  // that a reload or a tab switch does not show them offline.
  absl::Duration offline_grace = absl::Seconds(2);
  int max_query_limit = 1000;       // Query's default and largest limit.
  int max_query_candidates = 5000;  // Users considered by an open Query.
  int max_heartbeat_sessions = 10000;
  int sweep_batch = 500;  // Users re-evaluated per SweepDue.
  std::function<int64_t()> now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
};

class PresenceCore {
 public:
  // store must outlive the core.
  PresenceCore(PresenceStore* store, PresenceCoreOptions options)
      : store_(store), options_(std::move(options)) {}

  // Connect registers a session (status online, idle, dnd or invisible) for
  // session_ttl. Connect, Disconnect and SetStatus return the user's visible
  // presence after the call. kInvalidArgument: bad ids or status.
  void Connect(const ConnectRequest& req, Done<PresenceResponse> done);
  // Disconnect removes a session (idempotent); with a gateway_id, only if the
  // session is still registered on that gateway. If it was the user's last
  // visible one, others keep seeing the old status for offline_grace.
  void Disconnect(const DisconnectRequest& req, Done<PresenceResponse> done);
  // SetStatus changes a session's status. kNotFound if the session expired or
  // never existed: the gateway should Connect it again.
  void SetStatus(const SetStatusRequest& req, Done<PresenceResponse> done);
  // Heartbeat extends every listed session by session_ttl and returns the ids
  // it did not know. kInvalidArgument: bad ids, more than
  // max_heartbeat_sessions sessions.
  void Heartbeat(const HeartbeatRequest& req, Done<HeartbeatResponse> done);
  // Query returns the presence of users the viewer may see (friends and
  // members of a shared server; the viewer may also ask for themself). With
  // user_ids: those visible, in request order. Without: the viewer's friends
  // and co-members (at most max_query_candidates considered, a documented cap
  // for very large servers), online > dnd > idle > offline, then by id.
  // At most limit (0 = max_query_limit) results.
  void Query(const QueryRequest& req, Done<QueryResponse> done);
  // SweepDue re-evaluates users whose sessions expired or whose grace ended;
  // done gets how many (sweep_batch means more are probably due).
  void SweepDue(Done<int> done);

  const PresenceCoreOptions& options() const { return options_; }

 private:
  PresenceStore* store_;
  PresenceCoreOptions options_;
};

// IsSessionStatus: "online", "idle", "dnd" or "invisible".
bool IsSessionStatus(absl::string_view status);
// VisibleRank orders what others see: online 3, dnd 2, idle 1, anything else
// (offline, invisible, unknown) 0.
int VisibleRank(absl::string_view status);
// AggregateStatus is the visible status of a user with live sessions in the
// given statuses.
std::string AggregateStatus(const std::vector<std::string>& session_statuses);
// VisiblePresence is the Presence others get for a stored status: anything
// that is not online, idle or dnd reads "offline"; last_seen only when offline;
// version as stored.
Presence VisiblePresence(const std::string& user, absl::string_view status, int64_t last_seen,
                         int64_t version);

}  // namespace chat::presence_service

#endif  // CHATSUITE_PRESENCE_SERVICE_PRESENCE_CORE_H_
