#include "invite_service/redis_invite_store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/keys.h"
#include "common/redis_script.h"
#include "common/status.h"
#include "proto/events.pb.h"

namespace chat::invite_service {

using redis::HashField;
using redis::Reply;

namespace {

// KEYS: invitation hash, actor throttle. ARGV: now, throttle ms, field/value...
// Returns {"ok"}, {"throttled", pttl} or {"already_pending"}.
const redis::RedisScript& CreateScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local now = tonumber(ARGV[1])
local throttle = tonumber(ARGV[2])
if throttle > 0 then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return {'throttled', ttl} end
end
if redis.call('HGET', KEYS[1], 'state') == 'pending' and
   tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0') > now then
  return {'already_pending', 0}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if throttle > 0 then redis.call('SET', KEYS[2], '1', 'PX', throttle) end
return {'ok', 0}
)lua");
  return *script;
}

// KEYS: invitation hash, actor throttle. ARGV: actor, "accept"|"cancel", now,
// throttle ms. Returns {outcome, pttl, hash...}: outcome is ok | unchanged |
// not_found | not_invitee | throttled | conflict (the hash says the state).
// The inviter's quota, on the inviter's own slot. KEYS: the pending sent
// zset, the per-minute counter. ARGV: now ms, the new invitation's
// expires_at, its pair key, max pending, max per minute (0: no limit).
// Returns {"present"} when that pair is already counted, {"added"} when it
// now is, {"too_many_pending"}, or {"rate_limited", ms until the minute ends}.
const redis::RedisScript& QuotaScript() {
  static const auto* script = new redis::RedisScript(R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return {'present'} end
local max_pending, per_minute = tonumber(ARGV[4]), tonumber(ARGV[5])
if max_pending > 0 and redis.call('ZCARD', KEYS[1]) >= max_pending then
  return {'too_many_pending'}
end
if per_minute > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], 60000) end
  if n > per_minute then return {'rate_limited', redis.call('PTTL', KEYS[2])} end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {'added'}
)lua");
  return *script;
}

const redis::RedisScript& ApplyScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {'not_found', 0} end
local inv = {}
for i = 1, #h, 2 do inv[h[i]] = h[i + 1] end
local actor, now, throttle = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local target
if ARGV[2] == 'accept' then
  if actor ~= inv.invited then return {'not_invitee', 0} end
  target = 'accepted'
elseif actor == inv.inviting then
  target = 'cancelled'
elseif actor == inv.invited then
  target = 'declined'
else
  return {'not_found', 0}
end
-- A due invitation counts as expired; the sweeper records and announces it.
if inv.state == 'pending' and tonumber(inv.expires_at) <= now then
  return {'conflict', 0, {'state', 'expired'}}
end
if inv.state == target then return {'unchanged', 0, h} end
if inv.state ~= 'pending' then return {'conflict', 0, h} end
if throttle > 0 then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return {'throttled', ttl} end
  redis.call('SET', KEYS[2], '1', 'PX', throttle)
end
redis.call('HSET', KEYS[1], 'state', target, 'updated_at', ARGV[3])
return {'ok', 0, redis.call('HGETALL', KEYS[1])}
)lua");
  return *script;
}

// KEYS: invitation hash. ARGV: now. Expires it if pending and due.
// Returns the hash when it expired now, its expires_at when it is pending but
// not due (it was renewed), an empty array when it is no longer pending.
const redis::RedisScript& ExpireScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return {} end
local expires_at = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0')
if expires_at > tonumber(ARGV[1]) then return expires_at end
redis.call('HSET', KEYS[1], 'state', 'expired', 'updated_at', ARGV[1])
return redis.call('HGETALL', KEYS[1])
)lua");
  return *script;
}

std::vector<std::string> Fields(const Invitation& i) {
  return {"id",
          i.id(),
          "server",
          i.server(),
          "server_name",
          i.server_name(),
          "inviting",
          i.inviting(),
          "inviting_name",
          i.inviting_name(),
          "inviting_img",
          i.inviting_img(),
          "invited",
          i.invited(),
          "invited_name",
          i.invited_name(),
          "invited_img",
          i.invited_img(),
          "state",
          i.state(),
          "created_at",
          std::to_string(i.created_at()),
          "updated_at",
          std::to_string(i.updated_at()),
          "expires_at",
          std::to_string(i.expires_at())};
}

absl::Status Rejected(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                      int64_t retry_ms = 0) {
  return WithReason(absl::Status(code, message), reason, absl::Milliseconds(retry_ms));
}

}  // namespace

Invitation InvitationFromHash(const Reply& hash) {
  Invitation i;
  for (size_t k = 0; k + 1 < hash.elements.size(); k += 2) {
    const std::string& f = hash.elements[k].str;
    const std::string& v = hash.elements[k + 1].str;
    int64_t n = 0;
    if (f == "id")
      i.set_id(v);
    else if (f == "server")
      i.set_server(v);
    else if (f == "server_name")
      i.set_server_name(v);
    else if (f == "inviting")
      i.set_inviting(v);
    else if (f == "inviting_name")
      i.set_inviting_name(v);
    else if (f == "inviting_img")
      i.set_inviting_img(v);
    else if (f == "invited")
      i.set_invited(v);
    else if (f == "invited_name")
      i.set_invited_name(v);
    else if (f == "invited_img")
      i.set_invited_img(v);
    else if (f == "state")
      i.set_state(v);
    else if (f == "created_at" && absl::SimpleAtoi(v, &n))
      i.set_created_at(n);
    else if (f == "updated_at" && absl::SimpleAtoi(v, &n))
      i.set_updated_at(n);
    else if (f == "expires_at" && absl::SimpleAtoi(v, &n))
      i.set_expires_at(n);
  }
  return i;
}

void RedisInviteStore::GetUser(const std::string& id, Done<User> done) {
  client_->Command({"HGETALL", keys::UserProfile(id)},
                   [id, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     if (r->elements.empty()) return done(absl::NotFoundError("unknown user"));
                     User u;
                     u.set_id(id);
                     u.set_name(HashField(*r, "name"));
                     u.set_image(HashField(*r, "image"));
                     done(std::move(u));
                   });
}

void RedisInviteStore::GetServerName(const std::string& id, Done<std::string> done) {
  client_->Command({"HGET", keys::ServerMeta(id), "name"},
                   [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     if (r->is_nil()) return done(absl::NotFoundError("no such server"));
                     done(r->str);
                   });
}

void RedisInviteStore::IsFriend(const std::string& a, const std::string& b, Done<bool> done) {
  client_->Command({"SISMEMBER", keys::UserFriends(a), b},
                   [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(r->integer == 1);
                   });
}

void RedisInviteStore::IsMember(const std::string& server, const std::string& user,
                                Done<bool> done) {
  client_->Command({"SISMEMBER", keys::ServerMembers(server), user},
                   [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(r->integer == 1);
                   });
}

void RedisInviteStore::Create(const Invitation& inv, const CreateLimits& limits,
                              Done<Invitation> done) {
  const std::string key = keys::PairInvitation(inv.inviting(), inv.invited(), inv.server());
  QuotaScript().Run(
      *client_, {keys::UserSentInvitations(inv.inviting()), keys::UserInviteRate(inv.inviting())},
      {std::to_string(inv.created_at()), std::to_string(inv.expires_at()), key,
       std::to_string(limits.max_pending), std::to_string(limits.per_minute)},
      [this, key, inv, throttle = limits.throttle,
       done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        const std::string& outcome = r->elements.empty() ? "" : r->elements[0].str;
        if (outcome == "too_many_pending") {
          return done(Rejected(absl::StatusCode::kResourceExhausted, "too_many_pending",
                               "you have too many pending invitations; cancel some first"));
        }
        if (outcome == "rate_limited") {
          return done(Rejected(absl::StatusCode::kResourceExhausted, "rate_limited",
                               "too many invitations this minute",
                               r->elements.size() > 1 ? r->elements[1].integer : 60000));
        }
        CreateCounted(key, inv, throttle, outcome == "added", std::move(done));
      });
}

void RedisInviteStore::CreateCounted(const std::string& key, const Invitation& inv,
                                     absl::Duration throttle, bool counted_now,
                                     Done<Invitation> done) {
  // Index first: an index entry without a live invitation is dropped on read,
  // while an invitation without its index entry would be invisible.
  redis::Batch(
      *client_,
      {{"SADD", keys::UserInvitations(inv.inviting()), key},
       {"SADD", keys::UserInvitations(inv.invited()), key},
       // LT: a refused create must not postpone a pending invitation's expiry.
       {"ZADD", std::string(keys::kInvitationExpiry), "LT", std::to_string(inv.expires_at()), key}},
      [this, key, inv, throttle, counted_now,
       done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        std::vector<std::string> args = {std::to_string(inv.updated_at()),
                                         std::to_string(absl::ToInt64Milliseconds(throttle))};
        for (std::string& f : Fields(inv)) args.push_back(std::move(f));
        CreateScript().Run(
            *client_,
            {key, keys::PairThrottle(inv.inviting(), inv.invited(), inv.inviting(), "invitation")},
            std::move(args),
            [this, key, inv, counted_now, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
              if (!r.ok()) return done(r.status());
              const std::string& outcome = r->elements.at(0).str;
              // Not created: the quota must not keep counting it.
              if (outcome == "throttled" && counted_now) Uncount(inv.inviting(), key);
              if (outcome == "throttled") {
                return done(Rejected(absl::StatusCode::kResourceExhausted, "rate_limited",
                                     "one invitation per person every 1.5 s",
                                     r->elements.at(1).integer));
              }
              if (outcome == "already_pending") {
                return done(Rejected(absl::StatusCode::kAlreadyExists, "already_pending",
                                     "an invitation is already pending"));
              }
              done(inv);
            });
      });
}

void RedisInviteStore::Apply(Transition t, const std::string& actor, const std::string& inviting,
                             const std::string& invited, const std::string& server, int64_t now_ms,
                             absl::Duration throttle, Done<TransitionResult> done) {
  const std::string other = actor == inviting ? invited : inviting;
  ApplyScript().Run(
      *client_,
      {keys::PairInvitation(inviting, invited, server),
       keys::PairThrottle(actor, other, actor, "cancel_invitation")},
      {actor, t == Transition::kAccept ? "accept" : "cancel", std::to_string(now_ms),
       std::to_string(absl::ToInt64Milliseconds(throttle))},
      [this, inviting, key = keys::PairInvitation(inviting, invited, server),
       done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        const std::string& outcome = r->elements.at(0).str;
        if (outcome == "not_found") {
          return done(Rejected(absl::StatusCode::kNotFound, "not_found", "no such invitation"));
        }
        if (outcome == "not_invitee") {
          return done(Rejected(absl::StatusCode::kPermissionDenied, "not_invitee",
                               "only the invited user can accept"));
        }
        if (outcome == "throttled") {
          return done(Rejected(absl::StatusCode::kResourceExhausted, "rate_limited",
                               "one change per person every 1.5 s", r->elements.at(1).integer));
        }
        TransitionResult result;
        result.invitation = InvitationFromHash(r->elements.at(2));
        result.effect_applied = HashField(r->elements.at(2), "effect_applied") == "1";
        if (outcome == "conflict") {
          const std::string& state = result.invitation.state();
          return done(Rejected(absl::StatusCode::kFailedPrecondition, "already_" + state,
                               "the invitation is already " + state));
        }
        result.changed = outcome == "ok";
        if (result.changed) Uncount(inviting, key);  // No longer pending.
        done(std::move(result));
      });
}

void RedisInviteStore::Uncount(const std::string& inviter, const std::string& key) {
  client_->Command({"ZREM", keys::UserSentInvitations(inviter), key}, [](absl::StatusOr<Reply>) {});
}

void RedisInviteStore::MarkEffectApplied(const Invitation& inv, Done<bool> done) {
  client_->Command({"HSET", keys::PairInvitation(inv.inviting(), inv.invited(), inv.server()),
                    "effect_applied", "1"},
                   [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(true);
                   });
}

void RedisInviteStore::AddFriends(const std::string& a, const std::string& b, Done<bool> done) {
  redis::Batch(*client_, {{"SADD", keys::UserFriends(a), b}, {"SADD", keys::UserFriends(b), a}},
               [done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) return done(r.status());
                 done(true);
               });
}

void RedisInviteStore::Publish(const Invitation& event, Done<bool> done) {
  Event e;
  *e.mutable_invitation() = event;
  // Each party's log gets its own entry (two users: two slots); done waits
  // for both, and fails if either append did.
  struct Pending {
    int remaining = 2;
    absl::Status status;
    Done<bool> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  auto one = [pending](absl::StatusOr<int64_t> r) {
    if (!r.ok() && pending->status.ok()) pending->status = r.status();
    if (--pending->remaining > 0) return;
    if (!pending->status.ok()) return pending->done(pending->status);
    pending->done(true);
  };
  personal_.Append(event.inviting(), e, one);
  personal_.Append(event.invited(), e, one);
}

void RedisInviteStore::ListPending(const std::string& user, int64_t now_ms,
                                   Done<std::vector<Invitation>> done) {
  client_->Command(
      {"SMEMBERS", keys::UserInvitations(user)},
      [this, user, now_ms, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        std::vector<std::string> index;
        std::vector<std::vector<std::string>> cmds;
        for (const Reply& e : r->elements) {
          index.push_back(e.str);
          cmds.push_back({"HGETALL", e.str});
        }
        redis::Batch(*client_, std::move(cmds),
                     [this, user, now_ms, index = std::move(index),
                      done = std::move(done)](absl::StatusOr<std::vector<Reply>> hashes) mutable {
                       if (!hashes.ok()) return done(hashes.status());
                       std::vector<Invitation> out;
                       std::vector<std::string> stale = {"SREM", keys::UserInvitations(user)};
                       for (size_t i = 0; i < hashes->size(); ++i) {
                         Invitation inv = InvitationFromHash((*hashes)[i]);
                         if (inv.state() == "pending" && inv.expires_at() > now_ms) {
                           out.push_back(std::move(inv));
                         } else {
                           stale.push_back(index[i]);
                         }
                       }
                       std::sort(out.begin(), out.end(),
                                 [](const Invitation& a, const Invitation& b) {
                                   return a.created_at() < b.created_at();
                                 });
                       if (stale.size() > 2) client_->Command(std::move(stale), [](auto) {});
                       done(std::move(out));
                     });
      });
}

void RedisInviteStore::ListFriends(const std::string& user, Done<std::vector<User>> done) {
  client_->Command({"SMEMBERS", keys::UserFriends(user)}, [this, done = std::move(done)](
                                                              absl::StatusOr<Reply> r) mutable {
    if (!r.ok()) return done(r.status());
    std::vector<std::string> ids;
    std::vector<std::vector<std::string>> cmds;
    for (const Reply& e : r->elements) {
      ids.push_back(e.str);
      cmds.push_back({"HGETALL", keys::UserProfile(e.str)});
    }
    redis::Batch(*client_, std::move(cmds),
                 [ids = std::move(ids),
                  done = std::move(done)](absl::StatusOr<std::vector<Reply>> profiles) mutable {
                   if (!profiles.ok()) return done(profiles.status());
                   std::vector<User> out;
                   for (size_t i = 0; i < ids.size(); ++i) {
                     User u;
                     u.set_id(ids[i]);
                     u.set_name(HashField((*profiles)[i], "name"));
                     u.set_image(HashField((*profiles)[i], "image"));
                     out.push_back(std::move(u));
                   }
                   std::sort(out.begin(), out.end(),
                             [](const User& a, const User& b) { return a.name() < b.name(); });
                   done(std::move(out));
                 });
  });
}

void RedisInviteStore::ExpireDue(int64_t now_ms, Done<std::vector<Invitation>> done) {
  client_->Command({"ZRANGEBYSCORE", std::string(keys::kInvitationExpiry), "-inf",
                    std::to_string(now_ms), "LIMIT", "0", "200"},
                   [this, now_ms, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     if (r->elements.empty()) return done(std::vector<Invitation>{});
                     // In a cluster the replies come on several nodes' strands.
                     struct State {
                       absl::Mutex mu;
                       std::vector<Invitation> expired ABSL_GUARDED_BY(mu);
                       size_t remaining ABSL_GUARDED_BY(mu);
                       Done<std::vector<Invitation>> done;
                     };
                     auto state = std::make_shared<State>();
                     {
                       absl::MutexLock lock(&state->mu);
                       state->remaining = r->elements.size();
                     }
                     state->done = std::move(done);
                     for (const Reply& e : r->elements) {
                       const std::string key = e.str;
                       ExpireScript().Run(
                           *client_, {key}, {std::to_string(now_ms)},
                           [this, key, state](absl::StatusOr<Reply> h) {
                             if (h.ok() && h->type == Reply::Type::kInteger) {
                               // Renewed: sweep it when the new invitation is due.
                               client_->Command({"ZADD", std::string(keys::kInvitationExpiry),
                                                 std::to_string(h->integer), key},
                                                [](auto) {});
                             } else if (h.ok()) {
                               client_->Command({"ZREM", std::string(keys::kInvitationExpiry), key},
                                                [](auto) {});
                             }
                             std::vector<Invitation> all;
                             {
                               absl::MutexLock lock(&state->mu);
                               if (h.ok() && !h->elements.empty()) {
                                 state->expired.push_back(InvitationFromHash(*h));
                               }
                               if (--state->remaining > 0) return;
                               all = std::move(state->expired);
                             }
                             state->done(std::move(all));
                           });
                     }
                   });
}

}  // namespace chat::invite_service
