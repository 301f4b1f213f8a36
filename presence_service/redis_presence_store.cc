#include "presence_service/redis_presence_store.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/keys.h"
#include "common/redis_script.h"
#include "proto/events.pb.h"

namespace chat::presence_service {

using redis::Reply;

namespace {

// KEYS: 1 sessions hash, 2 presence hash, 3 the user's servers, 4 the user's
// friends (one hash tag: one slot).
// ARGV: 1 op (connect|disconnect|status|refresh|sweep), 2 now (ms),
// 3 connect/refresh: the new expiry; disconnect: the hold deadline,
// 4 user id, 5 session status, 6 gateway id (disconnect: only a session on
// it, if given), 7.. session ids.
// Returns {changed, visible status, last_seen, due, found, unknown ids,
// version, servers, friends}; servers and friends only when changed.
const redis::RedisScript& UpdateScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local op, now = ARGV[1], tonumber(ARGV[2])
local rank = {online = 3, dnd = 2, idle = 1}
local by_rank = {[0] = 'offline', 'idle', 'dnd', 'online'}
local live = {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do
  local st, gw, exp = string.match(raw[i + 1], '^(%a+)|([^|]*)|(%d+)$')
  if exp and tonumber(exp) > now then
    live[raw[i]] = {st, gw, exp}
  else
    redis.call('HDEL', KEYS[1], raw[i])
  end
end
local function put(id, s)
  live[id] = s
  redis.call('HSET', KEYS[1], id, s[1] .. '|' .. s[2] .. '|' .. s[3])
end
local found, unknown = 1, {}
if op == 'connect' then
  put(ARGV[7], {ARGV[5], ARGV[6], ARGV[3]})
elseif op == 'disconnect' or op == 'status' then
  local s = live[ARGV[7]]
  -- A session resumed on another gateway is not the old gateway's to close.
  if not s or (op == 'disconnect' and ARGV[6] ~= '' and s[2] ~= ARGV[6]) then
    found = 0
  elseif op == 'disconnect' then
    live[ARGV[7]] = nil
    redis.call('HDEL', KEYS[1], ARGV[7])
  else
    s[1] = ARGV[5]
    put(ARGV[7], s)
  end
elseif op == 'refresh' then
  for i = 7, #ARGV do
    local s = live[ARGV[i]]
    if s then
      s[3] = ARGV[3]
      put(ARGV[i], s)
    else
      unknown[#unknown + 1] = ARGV[i]
    end
  end
end
local best, due, any = 0, 0, false
for _, s in pairs(live) do
  any = true
  best = math.max(best, rank[s[1]] or 0)
  local exp = tonumber(s[3])
  if due == 0 or exp < due then due = exp end
end
local computed = by_rank[best]
local p = redis.call('HMGET', KEYS[2], 'status', 'last_seen', 'hold_until', 'version')
local shown = p[1] or 'offline'
local last_seen = tonumber(p[2]) or 0
local hold = tonumber(p[3]) or 0
-- The last visible session just closed: keep showing the old status until
-- the hold deadline, when the sweeper comes back.
if computed == 'offline' and shown ~= 'offline' then
  if op == 'disconnect' and hold <= now then hold = tonumber(ARGV[3]) end
else
  hold = 0
end
local status = computed
if hold > now then status = shown else hold = 0 end
if hold > 0 and (due == 0 or hold < due) then due = hold end
local changed, version, servers, friends = 0, tonumber(p[4]) or 0, {}, {}
if status ~= shown then
  changed = 1
  if status == 'offline' then last_seen = now end
  version = redis.call('HINCRBY', KEYS[2], 'version', 1)
  servers = redis.call('SMEMBERS', KEYS[3])
  friends = redis.call('SMEMBERS', KEYS[4])
end
if p[1] or any or changed == 1 then
  redis.call('HSET', KEYS[2], 'status', status, 'last_seen', string.format('%d', last_seen),
             'due', string.format('%d', due), 'hold_until', string.format('%d', hold))
end
return {changed, status, last_seen, due, found, unknown, version, servers, friends}
)lua");
  return *script;
}

// KEYS: 1 the expiry index. ARGV: 1 the claim score, 2.. users the sweeper
// claimed at that score and found nothing left to watch. An entry no longer at
// the claim score was lowered by an operation meanwhile, and stays.
const redis::RedisScript& ReleaseScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local claim = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == claim then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
)lua");
  return *script;
}

// Payload is what goes on a topic for one presence change.
std::string Payload(const std::string& user, absl::string_view status, int64_t last_seen,
                    int64_t version) {
  Event event;
  Presence* p = event.mutable_presence();
  p->set_type("presence");
  p->set_user_id(user);
  p->set_status(std::string(status));
  p->set_last_seen(last_seen);
  p->set_version(version);
  return absl::StrCat("0 ", event.SerializeAsString());
}

std::vector<std::string> UserKeys(const std::string& user) {
  return {keys::UserSessions(user), keys::UserPresence(user), keys::UserServers(user),
          keys::UserFriends(user)};
}

// UpdateArgs builds the script's ARGV up to the session ids.
std::vector<std::string> UpdateArgs(const char* op, const std::string& user, int64_t now_ms,
                                    int64_t deadline_ms, const std::string& status = "",
                                    const std::string& gateway = "") {
  return {op, std::to_string(now_ms), std::to_string(deadline_ms), user, status, gateway};
}

struct UpdateResult {
  PresenceUpdate update;
  int64_t due = 0;
  bool found = false;
  std::vector<std::string> unknown;
  // When update.changed: the new version and who must hear of it.
  int64_t version = 0;
  std::vector<std::string> servers, friends;
};

absl::StatusOr<UpdateResult> ParseUpdate(absl::StatusOr<Reply> r) {
  if (!r.ok()) return r.status();
  if (r->elements.size() != 9) return absl::InternalError("presence: bad script reply");
  UpdateResult out;
  out.update.changed = r->elements[0].integer == 1;
  out.update.status = r->elements[1].str;
  out.update.last_seen = r->elements[2].integer;
  out.due = r->elements[3].integer;
  out.found = r->elements[4].integer == 1;
  for (Reply& id : r->elements[5].elements) out.unknown.push_back(std::move(id.str));
  out.version = r->elements[6].integer;
  out.update.version = out.version;
  for (Reply& s : r->elements[7].elements) out.servers.push_back(std::move(s.str));
  for (Reply& f : r->elements[8].elements) out.friends.push_back(std::move(f.str));
  return out;
}

// AnnouncementOf is the SPUBLISH commands that tell everyone who may see user
// of a changed status: their own topic (their other sessions), each of their
// servers' presence topics and each friend's topic; empty if nothing changed.
std::vector<std::vector<std::string>> AnnouncementOf(const std::string& user,
                                                     const UpdateResult& r) {
  std::vector<std::vector<std::string>> cmds;
  if (!r.update.changed) return cmds;
  const std::string payload = Payload(
      user, r.update.status, r.update.status == "offline" ? r.update.last_seen : 0, r.version);
  cmds.push_back({"SPUBLISH", keys::UserTopic(user), payload});
  for (const std::string& s : r.servers) {
    cmds.push_back({"SPUBLISH", keys::ServerPresenceTopic(s), payload});
  }
  for (const std::string& f : r.friends) cmds.push_back({"SPUBLISH", keys::UserTopic(f), payload});
  return cmds;
}

// Announce publishes the announcements of every change and then calls done.
// A failed SPUBLISH only costs the event (the state is stored, and every
// session reads it again at ready), so it is logged, not returned.
void Announce(redis::Commands& client, std::vector<std::vector<std::string>> cmds,
              absl::AnyInvocable<void()> done) {
  if (cmds.empty()) return done();
  redis::Batch(client, std::move(cmds),
               [done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) {
                   spdlog::warn("event=presence_publish_failed error=\"{}\"",
                                std::string(r.status().message()));
                 }
                 done();
               });
}

struct ScriptCall {
  std::vector<std::string> keys, args;
};

// RunEach runs script once per call, pipelined, and gives done every reply in
// call order.
void RunEach(redis::Commands& client, const redis::RedisScript& script,
             std::vector<ScriptCall> calls,
             absl::AnyInvocable<void(std::vector<absl::StatusOr<Reply>>)> done) {
  if (calls.empty()) return done({});
  // In a cluster the replies come on several nodes' strands.
  auto gather = std::make_shared<redis::ReplyGather>(calls.size(), std::move(done));
  for (size_t i = 0; i < calls.size(); ++i) {
    script.Run(client, std::move(calls[i].keys), std::move(calls[i].args),
               [gather, i](absl::StatusOr<Reply> r) { gather->Put(i, std::move(r)); });
  }
}

std::vector<std::string> Strings(const Reply& array) {
  std::vector<std::string> out;
  out.reserve(array.elements.size());
  for (const Reply& e : array.elements) out.push_back(e.str);
  return out;
}

}  // namespace

RedisPresenceStore::RedisPresenceStore(std::shared_ptr<redis::Commands> client,
                                       RedisPresenceStoreOptions options)
    : client_(std::move(client)), options_(options) {}

void RedisPresenceStore::LowerExpiry(const std::string& user, int64_t at_ms) {
  client_->Command({"ZADD", std::string(keys::kPresenceExpiry), "LT", std::to_string(at_ms), user},
                   [](absl::StatusOr<Reply>) {});
}

void RedisPresenceStore::Change(const char* op, const SessionRef& s, int64_t now_ms,
                                int64_t deadline_ms, bool reindex, Done<PresenceUpdate> done) {
  std::vector<std::string> args =
      UpdateArgs(op, s.user_id(), now_ms, deadline_ms, s.status(), s.gateway_id());
  args.push_back(s.session_id());
  UpdateScript().Run(*client_, UserKeys(s.user_id()), std::move(args),
                     [this, op, user = s.user_id(), reindex,
                      done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                       absl::StatusOr<UpdateResult> result = ParseUpdate(std::move(r));
                       if (!result.ok()) return done(result.status());
                       // A status call on an unknown session is refused, but its script
                       // may still have changed the visible status (expired sessions
                       // dropped, a hold ended): that change is announced first.
                       const bool refused = !result->found && absl::string_view(op) == "status";
                       std::vector<std::vector<std::string>> announcement =
                           AnnouncementOf(user, *result);
                       Announce(*client_, std::move(announcement),
                                [this, user, reindex, refused, result = *std::move(result),
                                 done = std::move(done)]() mutable {
                                  if (refused)
                                    return done(absl::NotFoundError("unknown or expired session"));
                                  if (!reindex || result.due == 0) return done(result.update);
                                  // A sweeper may have claimed the user between our first
                                  // LowerExpiry and the script; this second one restores
                                  // the deadline it hid.
                                  client_->Command({"ZADD", std::string(keys::kPresenceExpiry),
                                                    "LT", std::to_string(result.due), user},
                                                   [update = result.update, done = std::move(done)](
                                                       absl::StatusOr<Reply> z) mutable {
                                                     if (!z.ok()) return done(z.status());
                                                     done(std::move(update));
                                                   });
                                });
                     });
}

void RedisPresenceStore::Connect(const SessionRef& s, int64_t now_ms, int64_t expires_at_ms,
                                 Done<PresenceUpdate> done) {
  // Indexed before the change, so a crash right after the script cannot leave
  // a session that no sweeper will ever look at.
  LowerExpiry(s.user_id(), expires_at_ms);
  Change("connect", s, now_ms, expires_at_ms, true, std::move(done));
}

void RedisPresenceStore::Disconnect(const SessionRef& s, int64_t now_ms, int64_t hold_until_ms,
                                    Done<PresenceUpdate> done) {
  LowerExpiry(s.user_id(), hold_until_ms);
  Change("disconnect", s, now_ms, hold_until_ms, true, std::move(done));
}

void RedisPresenceStore::SetStatus(const SessionRef& s, int64_t now_ms, Done<PresenceUpdate> done) {
  Change("status", s, now_ms, 0, false, std::move(done));
}

void RedisPresenceStore::Refresh(const std::vector<SessionRef>& sessions, int64_t now_ms,
                                 int64_t expires_at_ms, Done<std::vector<std::string>> done) {
  // One script per user, all pipelined.
  std::vector<std::string> users;
  std::vector<ScriptCall> calls;
  absl::flat_hash_map<std::string, size_t> call_of_user;
  for (const SessionRef& s : sessions) {
    auto [it, added] = call_of_user.try_emplace(s.user_id(), calls.size());
    if (added) {
      users.push_back(s.user_id());
      calls.push_back(
          {UserKeys(s.user_id()), UpdateArgs("refresh", s.user_id(), now_ms, expires_at_ms)});
    }
    calls[it->second].args.push_back(s.session_id());
  }
  RunEach(*client_, UpdateScript(), std::move(calls),
          [this, sessions, users = std::move(users),
           done = std::move(done)](std::vector<absl::StatusOr<Reply>> replies) mutable {
            absl::flat_hash_set<std::pair<std::string, std::string>> unknown;
            std::vector<std::vector<std::string>> announcements;
            absl::Status error;  // The first failure; the others' changes are still announced.
            for (size_t i = 0; i < replies.size(); ++i) {
              absl::StatusOr<UpdateResult> r = ParseUpdate(std::move(replies[i]));
              if (!r.ok()) {
                if (error.ok()) error = r.status();
                continue;
              }
              for (std::string& id : r->unknown) unknown.insert({users[i], std::move(id)});
              for (auto& cmd : AnnouncementOf(users[i], *r))
                announcements.push_back(std::move(cmd));
            }
            std::vector<std::string> out;
            for (const SessionRef& s : sessions) {
              if (unknown.contains({s.user_id(), s.session_id()})) out.push_back(s.session_id());
            }
            Announce(*client_, std::move(announcements),
                     [error, out = std::move(out), done = std::move(done)]() mutable {
                       if (!error.ok()) return done(error);
                       done(std::move(out));
                     });
          });
}

void RedisPresenceStore::SweepDue(int64_t now_ms, int max_users, Done<int> done) {
  const std::string index(keys::kPresenceExpiry);
  client_->Command(
      {"ZRANGEBYSCORE", index, "-inf", std::to_string(now_ms), "LIMIT", "0",
       std::to_string(max_users)},
      [this, index, now_ms, done = std::move(done)](absl::StatusOr<Reply> due) mutable {
        if (!due.ok()) return done(due.status());
        std::vector<std::string> users = Strings(*due);
        if (users.empty()) return done(0);
        // Claim them first: other replicas skip them, and if this one dies
        // before finishing they come due again when the lease runs out.
        const int64_t claim_ms = now_ms + absl::ToInt64Milliseconds(options_.sweep_lease);
        std::vector<std::string> claim = {"ZADD", index};
        for (const std::string& u : users) {
          claim.push_back(std::to_string(claim_ms));
          claim.push_back(u);
        }
        client_->Command(std::move(claim), [this, now_ms, claim_ms, users = std::move(users),
                                            done = std::move(done)](
                                               absl::StatusOr<Reply> claimed) mutable {
          if (!claimed.ok()) return done(claimed.status());
          std::vector<ScriptCall> calls;
          calls.reserve(users.size());
          for (const std::string& u : users) {
            calls.push_back({UserKeys(u), UpdateArgs("sweep", u, now_ms, 0)});
          }
          RunEach(*client_, UpdateScript(), std::move(calls),
                  [this, claim_ms, users = std::move(users),
                   done = std::move(done)](std::vector<absl::StatusOr<Reply>> replies) mutable {
                    FinishSweep(std::move(users), claim_ms, std::move(replies), std::move(done));
                  });
        });
      });
}

void RedisPresenceStore::FinishSweep(std::vector<std::string> users, int64_t claim_ms,
                                     std::vector<absl::StatusOr<Reply>> replies, Done<int> done) {
  const std::string index(keys::kPresenceExpiry);
  std::vector<std::string> lower = {"ZADD", index, "LT"};
  std::vector<std::string> release = {std::to_string(claim_ms)};
  std::vector<std::vector<std::string>> announcements;
  absl::Status error;
  for (size_t i = 0; i < users.size(); ++i) {
    absl::StatusOr<UpdateResult> r = ParseUpdate(std::move(replies[i]));
    if (!r.ok()) {
      // Stays claimed: it is retried when the lease runs out.
      if (error.ok()) error = r.status();
      continue;
    }
    for (auto& cmd : AnnouncementOf(users[i], *r)) announcements.push_back(std::move(cmd));
    if (r->due > 0) {
      lower.push_back(std::to_string(r->due));
      lower.push_back(users[i]);
    } else {
      release.push_back(users[i]);
    }
  }
  const int taken = static_cast<int>(users.size());
  auto finish = [taken, error, done = std::move(done)](absl::Status s) mutable {
    if (!error.ok()) return done(error);
    if (!s.ok()) return done(s);
    done(taken);
  };
  auto do_release = [this, index, release = std::move(release),
                     finish = std::move(finish)](absl::Status s) mutable {
    if (!s.ok() || release.size() == 1) return finish(s);
    ReleaseScript().Run(
        *client_, {index}, std::move(release),
        [finish = std::move(finish)](absl::StatusOr<Reply> r) mutable { finish(r.status()); });
  };
  Announce(*client_, std::move(announcements),
           [this, lower = std::move(lower), do_release = std::move(do_release)]() mutable {
             if (lower.size() == 3) return do_release(absl::OkStatus());
             client_->Command(std::move(lower),
                              [do_release = std::move(do_release)](
                                  absl::StatusOr<Reply> r) mutable { do_release(r.status()); });
           });
}

void RedisPresenceStore::GetAudience(const std::string& viewer, Done<Audience> done) {
  redis::Batch(*client_,
               {{"SMEMBERS", keys::UserFriends(viewer)}, {"SMEMBERS", keys::UserServers(viewer)}},
               [done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) return done(r.status());
                 Audience a;
                 a.friends = Strings((*r)[0]);
                 a.servers = Strings((*r)[1]);
                 done(std::move(a));
               });
}

void RedisPresenceStore::FilterMembers(const std::vector<std::string>& servers,
                                       const std::vector<std::string>& users,
                                       Done<std::vector<bool>> done) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& s : servers) {
    std::vector<std::string> cmd = {"SMISMEMBER", keys::ServerMembers(s)};
    cmd.insert(cmd.end(), users.begin(), users.end());
    cmds.push_back(std::move(cmd));
  }
  redis::Batch(
      *client_, std::move(cmds),
      [n = users.size(), done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        std::vector<bool> member(n, false);
        for (const Reply& per_server : *r) {
          for (size_t i = 0; i < n && i < per_server.elements.size(); ++i) {
            if (per_server.elements[i].integer == 1) member[i] = true;
          }
        }
        done(std::move(member));
      });
}

void RedisPresenceStore::SampleMembers(const std::vector<std::string>& servers, int max_per_server,
                                       Done<std::vector<std::string>> done) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& s : servers) {
    // A positive count returns distinct members: all of a smaller set.
    cmds.push_back({"SRANDMEMBER", keys::ServerMembers(s), std::to_string(max_per_server)});
  }
  redis::Batch(*client_, std::move(cmds),
               [done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) return done(r.status());
                 std::vector<std::string> members;
                 for (const Reply& per_server : *r) {
                   for (const Reply& m : per_server.elements) members.push_back(m.str);
                 }
                 done(std::move(members));
               });
}

void RedisPresenceStore::GetPresences(const std::vector<std::string>& users,
                                      Done<std::vector<Presence>> done) {
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(users.size());
  for (const std::string& u : users) {
    cmds.push_back({"HMGET", keys::UserPresence(u), "status", "last_seen", "version"});
  }
  redis::Batch(*client_, std::move(cmds),
               [users, done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) return done(r.status());
                 std::vector<Presence> out;
                 out.reserve(users.size());
                 for (size_t i = 0; i < users.size(); ++i) {
                   Presence p;
                   p.set_user_id(users[i]);
                   const Reply& fields = (*r)[i];
                   if (fields.elements.size() == 3) {
                     p.set_status(fields.elements[0].str);
                     p.set_last_seen(redis::ReplyInt(fields.elements[1]).value_or(0));
                     p.set_version(redis::ReplyInt(fields.elements[2]).value_or(0));
                   }
                   out.push_back(std::move(p));
                 }
                 done(std::move(out));
               });
}

}  // namespace chat::presence_service
