#include "presence_service/presence_core.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/keys.h"

namespace chat::presence_service {

namespace {

absl::Status CheckId(absl::string_view what, const std::string& id) {
  if (keys::IsValidId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " must be 1-64 characters of A-Z a-z 0-9 _ -"));
}

// CheckSession validates a SessionRef's ids; the gateway id only when needed
// or given, the status only when needed.
absl::Status CheckSession(const SessionRef& s, bool need_gateway, bool need_status) {
  if (absl::Status st = CheckId("user_id", s.user_id()); !st.ok()) return st;
  if (absl::Status st = CheckId("session_id", s.session_id()); !st.ok()) return st;
  if (need_gateway || !s.gateway_id().empty()) {
    if (absl::Status st = CheckId("gateway_id", s.gateway_id()); !st.ok()) return st;
  }
  if (need_status && !IsSessionStatus(s.status())) {
    return absl::InvalidArgumentError("status must be one of online, idle, dnd, invisible");
  }
  return absl::OkStatus();
}

Done<PresenceUpdate> Respond(std::string user, Done<PresenceResponse> done) {
  return
      [user = std::move(user), done = std::move(done)](absl::StatusOr<PresenceUpdate> u) mutable {
        if (!u.ok()) return done(u.status());
        PresenceResponse resp;
        *resp.mutable_presence() = VisiblePresence(user, u->status, u->last_seen, u->version);
        done(std::move(resp));
      };
}

// FetchPresences answers a Query with the presence of users (already
// filtered for visibility), optionally ordered online first.
void FetchPresences(PresenceStore* store, std::vector<std::string> users, bool order, size_t limit,
                    Done<QueryResponse> done) {
  if (users.empty()) return done(QueryResponse{});
  store->GetPresences(users, [order, limit, done = std::move(done)](
                                 absl::StatusOr<std::vector<Presence>> stored) mutable {
    if (!stored.ok()) return done(stored.status());
    std::vector<Presence> out;
    out.reserve(stored->size());
    for (const Presence& p : *stored) {
      out.push_back(VisiblePresence(p.user_id(), p.status(), p.last_seen(), p.version()));
    }
    if (order) {
      std::sort(out.begin(), out.end(), [](const Presence& a, const Presence& b) {
        int ra = VisibleRank(a.status()), rb = VisibleRank(b.status());
        return ra != rb ? ra > rb : a.user_id() < b.user_id();
      });
    }
    if (out.size() > limit) out.resize(limit);
    QueryResponse resp;
    for (Presence& p : out) *resp.add_presences() = std::move(p);
    done(std::move(resp));
  });
}

}  // namespace

bool IsSessionStatus(absl::string_view s) {
  return s == "online" || s == "idle" || s == "dnd" || s == "invisible";
}

int VisibleRank(absl::string_view s) {
  if (s == "online") return 3;
  if (s == "dnd") return 2;
  if (s == "idle") return 1;
  return 0;
}

std::string AggregateStatus(const std::vector<std::string>& session_statuses) {
  int best = 0;
  for (const std::string& s : session_statuses) best = std::max(best, VisibleRank(s));
  static constexpr const char* kByRank[] = {"offline", "idle", "dnd", "online"};
  return kByRank[best];
}

Presence VisiblePresence(const std::string& user, absl::string_view status, int64_t last_seen,
                         int64_t version) {
  Presence p;
  p.set_type("presence");
  p.set_user_id(user);
  p.set_version(version);
  if (VisibleRank(status) > 0) {
    p.set_status(std::string(status));
  } else {
    p.set_status("offline");
    p.set_last_seen(last_seen);
  }
  return p;
}

void PresenceCore::Connect(const ConnectRequest& req, Done<PresenceResponse> done) {
  if (absl::Status s = CheckSession(req.session(), true, true); !s.ok()) return done(s);
  const int64_t now = options_.now_ms();
  store_->Connect(req.session(), now, now + absl::ToInt64Milliseconds(options_.session_ttl),
                  Respond(req.session().user_id(), std::move(done)));
}

void PresenceCore::Disconnect(const DisconnectRequest& req, Done<PresenceResponse> done) {
  if (absl::Status s = CheckSession(req.session(), false, false); !s.ok()) return done(s);
  const int64_t now = options_.now_ms();
  store_->Disconnect(req.session(), now, now + absl::ToInt64Milliseconds(options_.offline_grace),
                     Respond(req.session().user_id(), std::move(done)));
}

void PresenceCore::SetStatus(const SetStatusRequest& req, Done<PresenceResponse> done) {
  if (absl::Status s = CheckSession(req.session(), false, true); !s.ok()) return done(s);
  store_->SetStatus(req.session(), options_.now_ms(),
                    Respond(req.session().user_id(), std::move(done)));
}

void PresenceCore::Heartbeat(const HeartbeatRequest& req, Done<HeartbeatResponse> done) {
  if (absl::Status s = CheckId("gateway_id", req.gateway_id()); !s.ok()) return done(s);
  if (req.sessions_size() > options_.max_heartbeat_sessions) {
    return done(absl::InvalidArgumentError(absl::StrCat(
        "at most ", options_.max_heartbeat_sessions, " sessions per heartbeat; split the call")));
  }
  for (const SessionRef& s : req.sessions()) {
    if (absl::Status st = CheckSession(s, false, false); !st.ok()) return done(st);
  }
  if (req.sessions().empty()) return done(HeartbeatResponse{});
  const int64_t now = options_.now_ms();
  store_->Refresh({req.sessions().begin(), req.sessions().end()}, now,
                  now + absl::ToInt64Milliseconds(options_.session_ttl),
                  [done = std::move(done)](absl::StatusOr<std::vector<std::string>> r) mutable {
                    if (!r.ok()) return done(r.status());
                    HeartbeatResponse resp;
                    for (std::string& id : *r) resp.add_unknown_session_ids(std::move(id));
                    done(std::move(resp));
                  });
}

void PresenceCore::Query(const QueryRequest& req, Done<QueryResponse> done) {
  if (absl::Status s = CheckId("viewer_id", req.viewer_id()); !s.ok()) return done(s);
  if (req.limit() < 0) return done(absl::InvalidArgumentError("limit must not be negative"));
  if (req.user_ids_size() > options_.max_query_limit) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("at most ", options_.max_query_limit, " user_ids per query")));
  }
  std::vector<std::string> wanted;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& id : req.user_ids()) {
    if (absl::Status s = CheckId("user_ids", id); !s.ok()) return done(s);
    if (seen.insert(id).second) wanted.push_back(id);
  }
  const size_t limit =
      req.limit() == 0 ? options_.max_query_limit : std::min(req.limit(), options_.max_query_limit);
  store_->GetAudience(req.viewer_id(), [this, viewer = req.viewer_id(), wanted = std::move(wanted),
                                        limit, done = std::move(done)](
                                           absl::StatusOr<Audience> audience) mutable {
    if (!audience.ok()) return done(audience.status());
    absl::flat_hash_set<std::string> friends(audience->friends.begin(), audience->friends.end());

    if (wanted.empty()) {
      // Everyone the viewer may see: friends first, then co-members.
      store_->SampleMembers(
          audience->servers, options_.max_query_candidates,
          [this, viewer, friend_ids = std::move(audience->friends), limit,
           done = std::move(done)](absl::StatusOr<std::vector<std::string>> members) mutable {
            if (!members.ok()) return done(members.status());
            const size_t cap = options_.max_query_candidates;
            std::vector<std::string> candidates;
            absl::flat_hash_set<std::string> taken = {viewer};
            for (std::vector<std::string>* from : {&friend_ids, &*members}) {
              for (std::string& u : *from) {
                if (candidates.size() >= cap) break;
                if (taken.insert(u).second) candidates.push_back(std::move(u));
              }
            }
            FetchPresences(store_, std::move(candidates), true, limit, std::move(done));
          });
      return;
    }

    // Listed users: the viewer themself and friends are visible outright;
    // the others only if they share one of the viewer's servers.
    std::vector<std::string> unsure;
    for (const std::string& u : wanted) {
      if (u != viewer && !friends.contains(u)) unsure.push_back(u);
    }
    auto finish =
        [this, viewer, wanted = std::move(wanted), friends = std::move(friends), limit,
         done = std::move(done)](absl::StatusOr<absl::flat_hash_set<std::string>> members) mutable {
          if (!members.ok()) return done(members.status());
          std::vector<std::string> visible;
          for (std::string& u : wanted) {
            if (visible.size() >= limit) break;
            if (u == viewer || friends.contains(u) || members->contains(u)) {
              visible.push_back(std::move(u));
            }
          }
          FetchPresences(store_, std::move(visible), false, limit, std::move(done));
        };
    if (unsure.empty() || audience->servers.empty()) {
      return finish(absl::flat_hash_set<std::string>{});
    }
    store_->FilterMembers(
        audience->servers, unsure,
        [unsure, finish = std::move(finish)](absl::StatusOr<std::vector<bool>> is_member) mutable {
          if (!is_member.ok()) return finish(is_member.status());
          absl::flat_hash_set<std::string> members;
          for (size_t i = 0; i < unsure.size() && i < is_member->size(); ++i) {
            if ((*is_member)[i]) members.insert(unsure[i]);
          }
          finish(std::move(members));
        });
  });
}

void PresenceCore::SweepDue(Done<int> done) {
  store_->SweepDue(options_.now_ms(), options_.sweep_batch, std::move(done));
}

}  // namespace chat::presence_service
