#include "chat_service/redis_chat_store.h"

#include <google/protobuf/io/coded_stream.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/high_water.h"
#include "common/keys.h"
#include "common/redis_script.h"
#include "common/status.h"
#include "proto/events.pb.h"

namespace chat::chat_service {

using redis::HashField;
using redis::Reply;

namespace {

// KEYS: server channels hash, server members set. ARGV: channel, user.
// Returns 0 = ok, 1 = no such channel, 2 = not a member.
// Membership is checked first: a non-member gets "not a member" whether or
// not the server and channel exist, so only members learn which channels
// there are.
const redis::RedisScript& AccessScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then return 2 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 1 end
return 0
)lua");
  return *script;
}

// kLogFunctionsLua: helpers of the scripts that read or extend a channel's log.
// A log entry is a message (field "m": ChatMessage bytes) or an edit or
// delete event (field "e": Event bytes); an edited or deleted message's
// entry is removed and its latest state kept in the revised set instead.
// Seqs come from next_seq (common/high_water.h), above the floor.
constexpr absl::string_view kLogFunctionsLua = R"lua(
local function seq_of(id) return tonumber(string.match(id, '^(%d+)')) end
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == name then return f[i + 1] end
  end
  return nil
end
-- add_entry adds an entry to the log; when that trimmed the stream (it
-- keeps about retention entries), the revised and uncounted sets drop what
-- lies below its new first entry.
local function add_entry(log, retention, seq, kind, bytes, revised, uncounted)
  local before = redis.call('XLEN', log)
  redis.call('XADD', log, 'MAXLEN', '~', retention, seq .. '-0', kind, bytes)
  if redis.call('XLEN', log) > before then return end
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if first[1] then
    local below = '(' .. seq_of(first[1][1])
    redis.call('ZREMRANGEBYSCORE', revised, '-inf', below)
    redis.call('ZREMRANGEBYSCORE', uncounted, '-inf', below)
  end
end
-- The latest state of message seq: its revised record, else its entry's
-- bytes; nil when the log holds no such message.
local function message_at(log, revised, seq)
  local rev = redis.call('ZRANGEBYSCORE', revised, seq, seq)
  if rev[1] then return string.sub(rev[1], #seq + 2) end
  local entry = redis.call('XRANGE', log, seq .. '-0', seq .. '-0')
  if entry[1] then return field(entry[1], 'm') end
  return nil
end
)lua";

// KEYS: nonce key, seq counter, log stream, rollback record, revised set,
// uncounted set, revocations, slow mode, the author's slow-mode throttle, then one mentions set
// per mentioned user. ARGV: nonce ttl (s), retention, ChatMessage bytes (without seq), topic,
// sent_at, the bytes that turn the message into an Event (its field's tag and length) for the
// publication, mentions kept per user, the floor (the highest seq known to have been handed out),
// "1" when replicas are awaited after the script, the author's id, "1" when the author is exempt
// from slow mode. Returns {1, seq, first lost seq or 0} when stored, {0, "seq:sent_at"} for a
// duplicate nonce, {2, ms to wait} when slow mode holds the author back, {3} when the author's
// access was revoked (a retry of an accepted message still gets its original). Publishing
// inside the script makes topic order equal seq order. When replicas are awaited the script does
// not publish: the store publishes once WAIT confirmed, so no member sees a message a failover can
// still take back. Topic order then follows confirmation order, which can differ from seq order
// between two service replicas; gateways restore seq order from the log, and such a read can return
// entries not confirmed yet (docs/operations.md, replicated acknowledgements, says what that leaves
// open). A duplicate then refreshes its nonce's TTL (a write the WAIT can wait for) and also
// returns the stored message's bytes, to publish the original, not the retry's. A counter at or
// below the floor means Redis lost acknowledged messages: the log continues above the floor, so no
// seq is handed out twice, and the lost range is recorded for the log's readers.
const redis::RedisScript& AppendScript() {
  static const auto* script =
      new redis::RedisScript(absl::StrCat(kNextSeqLua, kLogFunctionsLua, R"lua(
local prev = redis.call('GET', KEYS[1])
if prev then
  -- A write, so that a WAIT after this retry covers the original append even
  -- on a connection other than the one that made it: WAIT is documented to
  -- cover the connection's own writes, and this one comes after the original.
  if ARGV[9] == '1' then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    local id = string.match(prev, '^(%d+)') .. '-0'
    local entry = redis.call('XRANGE', KEYS[3], id, id)
    if entry[1] then return {0, prev, entry[1][2][2]} end
  end
  return {0, prev}
end
if redis.call('HEXISTS', KEYS[7], ARGV[10]) == 1 then return {3} end
local slow = tonumber(redis.call('GET', KEYS[8]) or '0')
if slow > 0 and ARGV[11] ~= '1' then
  if not redis.call('SET', KEYS[9], '1', 'PX', slow * 1000, 'NX') then
    return {2, math.max(1, redis.call('PTTL', KEYS[9]))}
  end
end
local seq, lost = next_seq(KEYS[2], KEYS[4], ARGV[8])
add_entry(KEYS[3], ARGV[2], seq, 'm', ARGV[3], KEYS[5], KEYS[6])
redis.call('SET', KEYS[1], seq .. ':' .. ARGV[5], 'EX', ARGV[1])
for i = 10, #KEYS do
  redis.call('ZADD', KEYS[i], seq, seq)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[7]) + 1))
end
if ARGV[9] ~= '1' then redis.call('SPUBLISH', ARGV[4], seq .. ' ' .. ARGV[6] .. ARGV[3]) end
return {1, seq, lost}
)lua"));
  return *script;
}

// KEYS: the user's read markers, personal log seq, personal log, its
// rollback record. ARGV: the
// channel's field, the new marker, log retention, the user's topic, the
// read_state Event bytes, the personal log's floor. Returns {1, marker,
// user_seq, first lost user_seq or 0} when it moved, {0, stored marker}
// when it already was there or beyond.
const redis::RedisScript& MarkReadScript() {
  static const auto* script = new redis::RedisScript(absl::StrCat(PersonalLog::AppendLua(), R"lua(
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= cur then return {0, cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local seq, lost = append_personal(KEYS[2], KEYS[3], KEYS[4], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return {1, tonumber(ARGV[2]), seq, lost}
)lua"));
  return *script;
}

// EventPrefix returns the bytes that precede a serialized ChatMessage of
// `size` bytes to make it a serialized Event holding it: the chat_message
// field's tag and the length varint. Event has no other field set, so the
// result parses as exactly that Event; the message is serialized only once.
std::string EventPrefix(size_t size) {
  namespace io = google::protobuf::io;
  constexpr uint32_t kLengthDelimited = 2;  // The wire type of an embedded message.
  uint8_t buf[16];                          // A tag and a varint32: at most 10 bytes.
  uint8_t* end = io::CodedOutputStream::WriteTagToArray(
      (Event::kChatMessageFieldNumber << 3) | kLengthDelimited, buf);
  end = io::CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), end);
  return std::string(reinterpret_cast<const char*>(buf), end - buf);
}

// KEYS: log stream, seq counter, rollback record, revised set, revocations.
// ARGV: mode (after|before|latest), bound, limit, "1" to include edit and
// delete events, the reader ("" for none). Returns {"revoked"} when the
// reader's access was revoked, else {head_seq, oldest seq retained (0: none), items, rollback
// record or "", next}, items {seq, "m" (ChatMessage bytes) | "e" (Event
// bytes)} in the mode's order. Messages come from the stream and, where
// revised, from the revised set: the two are merged by seq. Without events,
// edit and delete entries are skipped, so a page may read further than limit
// entries (at most 20 rounds of limit) and still come back short; next is
// the last seq read, where the following page that way starts, or 0 when the
// log has nothing further that way.
const redis::RedisScript& HistoryScript() {
  static const auto* script =
      new redis::RedisScript(absl::StrCat(kNextSeqLua, kLogFunctionsLua, R"lua(
if ARGV[5] ~= '' and redis.call('HEXISTS', KEYS[5], ARGV[5]) == 1 then return {'revoked'} end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local rolled = redis.call('GET', KEYS[3]) or ''
local oldest = 0
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if first[1] then oldest = seq_of(first[1][1]) end
local rfirst = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if rfirst[1] then
  local r = tonumber(rfirst[2])
  if oldest == 0 or r < oldest then oldest = r end
end
local asc = ARGV[1] == 'after'
local limit = tonumber(ARGV[3])
local events = ARGV[4] == '1'
local cursor = nil
if ARGV[1] ~= 'latest' then cursor = ARGV[2] end
local out = {}
local drained = false
for round = 1, 20 do
  local entries, revs
  if asc then
    entries = redis.call('XRANGE', KEYS[1], '(' .. cursor .. '-0', '+', 'COUNT', limit)
    revs = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
  else
    local hi_entry, hi_rev = '+', '+inf'
    if cursor then
      hi_entry = '(' .. cursor .. '-0'
      hi_rev = '(' .. cursor
    end
    entries = redis.call('XREVRANGE', KEYS[1], hi_entry, '-', 'COUNT', limit)
    revs = redis.call('ZREVRANGEBYSCORE', KEYS[4], hi_rev, '-inf', 'WITHSCORES', 'LIMIT', 0, limit)
  end
  local ne, nr = #entries, #revs / 2
  local i, j = 1, 1
  while #out < limit do
    local es, rs = nil, nil
    if i <= ne then es = seq_of(entries[i][1]) end
    if j <= nr then rs = tonumber(revs[2 * j]) end
    -- A list that came back full may go on past its last item: read again.
    if es == nil and (rs == nil or ne == limit) then break end
    if rs == nil and nr == limit then break end
    if es ~= nil and (rs == nil or (asc and es < rs) or (not asc and es > rs)) then
      local m = field(entries[i], 'm')
      if m then
        out[#out + 1] = {es, 'm', m}
      elseif events and field(entries[i], 'e') then
        out[#out + 1] = {es, 'e', field(entries[i], 'e')}
      end
      cursor = tostring(es)
      i = i + 1
    else
      local member = revs[2 * j - 1]
      out[#out + 1] = {rs, 'm', string.sub(member, string.find(member, ':', 1, true) + 1)}
      cursor = tostring(rs)
      j = j + 1
    end
  end
  drained = i > ne and ne < limit and j > nr and nr < limit
  if #out >= limit or drained then break end
end
-- Where the next page that way starts: nothing further when both lists ran
-- out, or the cursor reached either end of the log.
local next = 0
if not drained and cursor then
  local c = tonumber(cursor)
  if (asc and c < head) or (not asc and c > oldest) then next = c end
end
return {head, oldest, out, rolled, next}
)lua"));
  return *script;
}

// KEYS: log stream, revised set. ARGV: seq. Returns the message's latest
// bytes, or nil.
const redis::RedisScript& GetMessageScript() {
  static const auto* script =
      new redis::RedisScript(absl::StrCat(kNextSeqLua, kLogFunctionsLua, R"lua(
return message_at(KEYS[1], KEYS[2], ARGV[1])
)lua"));
  return *script;
}

// KEYS: seq counter, log stream, rollback record, revised set, uncounted
// set, revocations, then mention sets: the first ARGV[10] lose the message,
// the rest gain it. ARGV: message seq, expected bytes, latest bytes, Event
// bytes, topic, retention, floor, "1" when replicas are awaited (the store
// publishes once they confirmed, as for appends), "1" for a delete,
// the number of mention sets that lose it, mentions kept per user, the
// actor. Returns {1, event seq, first lost seq or 0}, {0} when the message
// is not (or no longer) the expected bytes, {2} when the actor's access was
// revoked. The message's stream entry goes
// (with its text) and its latest state enters the revised set; the event
// takes the next seq and is published like a message.
const redis::RedisScript& ReviseScript() {
  static const auto* script =
      new redis::RedisScript(absl::StrCat(kNextSeqLua, kLogFunctionsLua, R"lua(
local target = ARGV[1]
if redis.call('HEXISTS', KEYS[6], ARGV[12]) == 1 then return {2} end
local cur = message_at(KEYS[2], KEYS[4], target)
if cur == nil or cur ~= ARGV[2] then return {0} end
local seq, lost = next_seq(KEYS[1], KEYS[3], ARGV[7])
redis.call('XDEL', KEYS[2], target .. '-0')
redis.call('ZREMRANGEBYSCORE', KEYS[4], target, target)
redis.call('ZADD', KEYS[4], target, target .. ':' .. ARGV[3])
if ARGV[9] == '1' then redis.call('ZADD', KEYS[5], target, target) end
-- Last: a trim it causes takes the revised record too if retention has
-- reached the message.
add_entry(KEYS[2], ARGV[6], seq, 'e', ARGV[4], KEYS[4], KEYS[5])
redis.call('ZADD', KEYS[5], seq, seq)
local unmention = tonumber(ARGV[10])
for i = 7, #KEYS do
  if i - 6 <= unmention then
    redis.call('ZREM', KEYS[i], target)
  else
    redis.call('ZADD', KEYS[i], target, target)
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[11]) + 1))
  end
end
if ARGV[8] ~= '1' then redis.call('SPUBLISH', ARGV[5], seq .. ' ' .. ARGV[4]) end
return {1, seq, lost}
)lua"));
  return *script;
}

// KEYS: the user's typing throttle in the channel, the channel's
// revocations. ARGV: interval ms, topic, payload, user. Returns 1 if
// published, 0 if throttled, 2 if the user's access was revoked.
const redis::RedisScript& TypingScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then return 2 end
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 0 end
redis.call('SPUBLISH', ARGV[2], ARGV[3])
return 1
)lua");
  return *script;
}

// KEYS: server meta, members, roles, bans, channels. ARGV: actor ("" for an
// operator), user, action (remove|ban|unban). Returns {-1} no such server,
// {-2} the actor is no moderator, {-3} the target is protected, {-4,
// channels} removing a non-member, else {changed, was a member, channels}.
// The role checks, the membership, the role and the ban change together.
const redis::RedisScript& ModerateScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local actor, user, action = ARGV[1], ARGV[2], ARGV[3]
local target = redis.call('HGET', KEYS[3], user)
if actor ~= '' then
  local role = redis.call('HGET', KEYS[3], actor)
  if role ~= 'owner' and role ~= 'moderator' then return {-2} end
  if action ~= 'unban' and target == 'moderator' and role ~= 'owner' then return {-3} end
end
if action == 'unban' then return {redis.call('SREM', KEYS[4], user), 0, {}} end
if target == 'owner' then return {-3} end
local changed = 0
if action == 'ban' then changed = redis.call('SADD', KEYS[4], user) end
local was = redis.call('SREM', KEYS[2], user)
redis.call('HDEL', KEYS[3], user)
local channels = redis.call('HKEYS', KEYS[5])
if action == 'remove' and was == 0 then return {-4, channels} end
return {math.max(changed, was), was, channels}
)lua");
  return *script;
}

// KEYS: the channel's revocations. ARGV: user, now (ms), topic, the
// access_revoked payload. Records the revocation, then publishes it: every
// script that posts or reads in the channel runs after it or before the
// publication, so nothing the user may no longer see follows it on the topic.
const redis::RedisScript& RevokeScript() {
  static const auto* script = new redis::RedisScript(R"lua(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SPUBLISH', ARGV[3], ARGV[4])
return 1
)lua");
  return *script;
}

// KEYS: server meta, members, bans, channels. ARGV: user. Returns {-1} no
// such server, {-2} banned, else {1 added | 0 already a member, channels}.
const redis::RedisScript& AddMemberScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {-2} end
return {redis.call('SADD', KEYS[2], ARGV[1]), redis.call('HKEYS', KEYS[4])}
)lua");
  return *script;
}

// KEYS: server meta, members, roles. ARGV: user, role ("owner", "moderator"
// or "" for none). Returns -1 not a member, else 1 changed, 0 unchanged. A
// new owner demotes the previous one to moderator.
const redis::RedisScript& SetRoleScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[3], ARGV[1]) or ''
if cur == ARGV[2] then return 0 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 1
end
if ARGV[2] == 'owner' then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    if all[i + 1] == 'owner' then redis.call('HSET', KEYS[3], all[i], 'moderator') end
  end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
)lua");
  return *script;
}

// KEYS: server meta, members, roles. ARGV: name, owner (or ""). Returns
// {1 created | 0 existed, name}. A new server with an owner has them as
// owner and member.
const redis::RedisScript& CreateServerScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local created = redis.call('HSETNX', KEYS[1], 'name', ARGV[1])
if created == 1 and ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], 'owner')
  redis.call('SADD', KEYS[2], ARGV[2])
end
return {created, redis.call('HGET', KEYS[1], 'name')}
)lua");
  return *script;
}

}  // namespace

RedisChatStore::RedisChatStore(std::shared_ptr<redis::Commands> client,
                               RedisChatStoreOptions options)
    : client_(std::move(client)),
      options_(options),
      replica_waits_(options.min_replicas > 0 ? std::make_unique<redis::ReplicaWaits>(
                                                    options.min_replicas, options.replica_timeout)
                                              : nullptr),
      personal_(client_, options.personal) {}

void RedisChatStore::CheckAccess(const std::string& server, const std::string& channel,
                                 const std::string& user, Done<bool> done) {
  AccessScript().Run(*client_, {keys::ServerChannels(server), keys::ServerMembers(server)},
                     {channel, user}, [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                       if (!r.ok()) return done(r.status());
                       if (r->integer == 1) return done(absl::NotFoundError("no such channel"));
                       if (r->integer == 2) {
                         return done(absl::PermissionDeniedError("not a member of this server"));
                       }
                       done(true);
                     });
}

void RedisChatStore::Append(const ChatMessage& msg, const std::vector<std::string>& mentioned,
                            const AppendOptions& append, Done<AppendResult> done) {
  const int64_t seen_seq = append.seen_seq;
  ChatMessage stored = msg;
  stored.clear_type();
  stored.clear_seq();
  const int64_t sent_at = msg.sent_at();
  std::string bytes = stored.SerializeAsString();
  std::string prefix = EventPrefix(bytes.size());
  // Published by the store once replicas confirmed it (see AppendScript).
  std::string held = replica_waits_ ? bytes : std::string();
  std::string log = keys::ChannelLog(msg.server(), msg.channel());
  const int64_t floor = std::max(seen_seq, seqs_.Get(log));
  std::vector<std::string> script_keys = {
      keys::ChannelNonce(msg.server(), msg.channel(), msg.author_id(), msg.id()),
      keys::ChannelSeq(msg.server(), msg.channel()),
      log,
      keys::ChannelRollback(msg.server(), msg.channel()),
      keys::ChannelRevised(msg.server(), msg.channel()),
      keys::ChannelUncounted(msg.server(), msg.channel()),
      keys::ChannelRevoked(msg.server(), msg.channel()),
      keys::ChannelSlowMode(msg.server(), msg.channel()),
      keys::ChannelSlowUser(msg.server(), msg.channel(), msg.author_id())};
  for (const std::string& user : mentioned) {
    script_keys.push_back(keys::ChannelMentions(msg.server(), msg.channel(), user));
  }
  AppendScript().RunVia(
      *client_, std::move(script_keys),
      {std::to_string(absl::ToInt64Seconds(options_.nonce_ttl)), std::to_string(options_.retention),
       std::move(bytes), keys::ChannelTopic(msg.server(), msg.channel()), std::to_string(sent_at),
       std::move(prefix), std::to_string(options_.max_mentions), std::to_string(floor),
       replica_waits_ ? "1" : "0", msg.author_id(), append.slow_mode_exempt ? "1" : "0"},
      [this, sent_at, floor, log = std::move(log), server = msg.server(), channel = msg.channel(),
       held = std::move(held),
       done = std::move(done)](absl::StatusOr<Reply> r, std::vector<std::string>,
                               std::shared_ptr<redis::RedisClient> via) mutable {
        if (!r.ok()) return done(r.status());
        if (!r->elements.empty() && r->elements[0].integer == 3) {
          return done(absl::PermissionDeniedError("not a member of this server"));
        }
        if (r->elements.size() < 2) return done(absl::InternalError("append: bad reply"));
        if (r->elements[0].integer == 2) {
          const absl::Duration wait = absl::Milliseconds(r->elements[1].integer);
          return done(WithReason(absl::ResourceExhaustedError("slow mode: wait before posting "
                                                              "again in this channel"),
                                 "slow_mode", wait));
        }
        AppendResult result;
        if (r->elements[0].integer == 1) {
          result.seq = r->elements[1].integer;
          result.sent_at = sent_at;
          // The floor counts what was handed out for good: with replicas
          // awaited, only once they confirmed (a failover may yet take this
          // seq back, and the retry must be able to get it again).
          if (!replica_waits_) seqs_.Raise(log, result.seq);
          const int64_t lost = r->elements.size() > 2 ? r->elements[2].integer : 0;
          if (lost > 0) AnnounceRollback(server, channel, lost, floor);
        } else {
          const std::string& prev = r->elements[1].str;
          size_t colon = prev.find(':');
          (void)absl::SimpleAtoi(prev.substr(0, colon), &result.seq);
          if (colon != std::string::npos) {
            (void)absl::SimpleAtoi(prev.substr(colon + 1), &result.sent_at);
          }
          result.duplicate = true;
          // The original, which may never have been published.
          held = r->elements.size() > 2 ? r->elements[2].str : std::string();
        }
        if (!replica_waits_) return done(result);
        // The WAIT goes over the connection the script's reply came on:
        // in a cluster, that master's. Then the message is published there.
        replica_waits_->After(via, [this, result, via, log = std::move(log), held = std::move(held),
                                    topic = keys::ChannelTopic(server, channel),
                                    done = std::move(done)](absl::Status s) mutable {
          if (!s.ok()) return done(s);
          seqs_.Raise(log, result.seq);
          if (!held.empty()) {
            // A lost publication costs no message: receivers fill the gap
            // from the log at the next one, or the delivery watch does.
            std::string payload = absl::StrCat(result.seq, " ", EventPrefix(held.size()), held);
            via->Command({"SPUBLISH", std::move(topic), std::move(payload)},
                         [](absl::StatusOr<Reply>) {});
          }
          done(result);
        });
      });
}

void RedisChatStore::AnnounceRollback(const std::string& server, const std::string& channel,
                                      int64_t from, int64_t to) {
  spdlog::warn("event=log_rolled_back log=channel server={} channel={} lost_from={} lost_to={}",
               server, channel, from, to);
  Event notice;
  LogRollback* rollback = notice.mutable_log_rollback();
  rollback->set_server(server);
  rollback->set_channel(channel);
  rollback->set_from_seq(from);
  rollback->set_to_seq(to);
  client_->Command({"SPUBLISH", keys::ChannelTopic(server, channel),
                    absl::StrCat("0 ", notice.SerializeAsString())},
                   [](absl::StatusOr<Reply>) {});
}

void RedisChatStore::History(const HistoryQuery& q, Done<HistoryPage> done) {
  std::string mode = "latest", bound = "0";
  if (q.after > 0 || q.forward) {
    mode = "after";
    bound = std::to_string(q.after);
  } else if (q.before > 0) {
    mode = "before";
    bound = std::to_string(q.before);
  }
  HistoryScript().Run(
      *client_,
      {keys::ChannelLog(q.server, q.channel), keys::ChannelSeq(q.server, q.channel),
       keys::ChannelRollback(q.server, q.channel), keys::ChannelRevised(q.server, q.channel),
       keys::ChannelRevoked(q.server, q.channel)},
      {mode, bound, std::to_string(q.limit), q.revisions ? "1" : "0", q.reader},
      [ascending = (mode == "after"), done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->elements.size() == 1) {
          return done(absl::PermissionDeniedError("not a member of this server"));
        }
        done(DecodeHistoryPage(*r, ascending));
      });
}

absl::StatusOr<HistoryPage> DecodeHistoryPage(const Reply& reply, bool ascending) {
  if (reply.elements.size() != 5) return absl::InternalError("history: bad reply");
  HistoryPage page;
  page.head_seq = reply.elements[0].integer;
  page.oldest_seq = reply.elements[1].integer;
  page.next = reply.elements[4].integer;
  ParseRollback(reply.elements[3].str, &page.lost_from, &page.lost_to);
  for (const Reply& item : reply.elements[2].elements) {
    if (item.elements.size() != 3) return absl::InternalError("history: bad item");
    const int64_t seq = item.elements[0].integer;
    const std::string& bytes = item.elements[2].str;
    if (item.elements[1].str == "m") {
      ChatMessage m;
      if (!m.ParseFromString(bytes)) return absl::DataLossError("history: undecodable message");
      m.set_seq(seq);
      page.messages.push_back(std::move(m));
      continue;
    }
    Event e;
    if (!e.ParseFromString(bytes)) return absl::DataLossError("history: undecodable event");
    if (e.has_message_update()) e.mutable_message_update()->set_seq(seq);
    if (e.has_message_delete()) e.mutable_message_delete()->set_seq(seq);
    page.revisions.push_back(std::move(e));
  }
  if (!ascending) {
    std::reverse(page.messages.begin(), page.messages.end());
    std::reverse(page.revisions.begin(), page.revisions.end());
  }
  return page;
}

void RedisChatStore::GetMessage(const std::string& server, const std::string& channel, int64_t seq,
                                Done<StoredMessage> done) {
  GetMessageScript().Run(
      *client_, {keys::ChannelLog(server, channel), keys::ChannelRevised(server, channel)},
      {std::to_string(seq)}, [seq, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->type != redis::Reply::Type::kString) {
          return done(absl::NotFoundError("no such message"));
        }
        StoredMessage stored;
        if (!stored.message.ParseFromString(r->str)) {
          return done(absl::DataLossError("undecodable message"));
        }
        stored.message.set_seq(seq);
        stored.bytes = std::move(r->str);
        done(std::move(stored));
      });
}

void RedisChatStore::Revise(const Revision& rev, Done<int64_t> done) {
  ChatMessage latest = rev.latest;
  latest.clear_type();
  latest.clear_seq();
  std::string event = rev.event.SerializeAsString();
  std::string log = keys::ChannelLog(rev.server, rev.channel);
  const int64_t floor = std::max(rev.seen_seq, seqs_.Get(log));
  std::vector<std::string> script_keys = {keys::ChannelSeq(rev.server, rev.channel),
                                          log,
                                          keys::ChannelRollback(rev.server, rev.channel),
                                          keys::ChannelRevised(rev.server, rev.channel),
                                          keys::ChannelUncounted(rev.server, rev.channel),
                                          keys::ChannelRevoked(rev.server, rev.channel)};
  for (const std::string& user : rev.unmention) {
    script_keys.push_back(keys::ChannelMentions(rev.server, rev.channel, user));
  }
  for (const std::string& user : rev.mention) {
    script_keys.push_back(keys::ChannelMentions(rev.server, rev.channel, user));
  }
  std::string topic = keys::ChannelTopic(rev.server, rev.channel);
  // Built before the callback takes topic and event.
  std::vector<std::string> args = {std::to_string(rev.message_seq),
                                   rev.expected,
                                   latest.SerializeAsString(),
                                   event,
                                   topic,
                                   std::to_string(options_.retention),
                                   std::to_string(floor),
                                   replica_waits_ ? "1" : "0",
                                   rev.deleted ? "1" : "0",
                                   std::to_string(rev.unmention.size()),
                                   std::to_string(options_.max_mentions),
                                   rev.actor};
  ReviseScript().RunVia(
      *client_, std::move(script_keys), std::move(args),
      [this, floor, log = std::move(log), server = rev.server, channel = rev.channel,
       topic = std::move(topic), event = std::move(event),
       done = std::move(done)](absl::StatusOr<Reply> r, std::vector<std::string>,
                               std::shared_ptr<redis::RedisClient> via) mutable {
        if (!r.ok()) return done(r.status());
        if (r->elements.empty()) return done(absl::InternalError("revise: bad reply"));
        if (r->elements[0].integer == 0) {
          return done(absl::AbortedError("the message changed meanwhile"));
        }
        if (r->elements[0].integer == 2) {
          return done(absl::PermissionDeniedError("not a member of this server"));
        }
        if (r->elements.size() < 3) return done(absl::InternalError("revise: bad reply"));
        const int64_t seq = r->elements[1].integer;
        if (r->elements[2].integer > 0)
          AnnounceRollback(server, channel, r->elements[2].integer, floor);
        if (!replica_waits_) {
          seqs_.Raise(log, seq);
          return done(seq);
        }
        replica_waits_->After(
            via, [this, seq, via, log = std::move(log), topic = std::move(topic),
                  event = std::move(event), done = std::move(done)](absl::Status s) mutable {
              if (!s.ok()) return done(s);
              seqs_.Raise(log, seq);
              // As for a message: a lost publication is filled from the log.
              via->Command({"SPUBLISH", std::move(topic), absl::StrCat(seq, " ", event)},
                           [](absl::StatusOr<Reply>) {});
              done(seq);
            });
      });
}

void RedisChatStore::RelayTyping(const Typing& typing, absl::Duration interval, Done<bool> done) {
  Event event;
  *event.mutable_typing() = typing;
  TypingScript().Run(*client_,
                     {keys::ChannelTyping(typing.server(), typing.channel(), typing.user_id()),
                      keys::ChannelRevoked(typing.server(), typing.channel())},
                     {std::to_string(absl::ToInt64Milliseconds(interval)),
                      keys::ChannelTopic(typing.server(), typing.channel()),
                      absl::StrCat("0 ", event.SerializeAsString()), typing.user_id()},
                     [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                       if (!r.ok()) return done(r.status());
                       if (r->integer == 2) {
                         return done(absl::PermissionDeniedError("not a member of this server"));
                       }
                       done(r->integer == 1);
                     });
}

void RedisChatStore::LoadServers(const std::string& user, std::vector<std::string> ids,
                                 Done<std::vector<Server>> done) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& id : ids) {
    cmds.push_back({"HGETALL", keys::ServerMeta(id)});
    cmds.push_back({"HGETALL", keys::ServerChannels(id)});
    cmds.push_back({"HGET", keys::ServerRoles(id), user});
  }
  redis::Batch(
      *client_, std::move(cmds),
      [this, ids = std::move(ids),
       done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        std::vector<Server> servers;
        std::vector<std::vector<std::string>> seq_cmds;
        for (size_t i = 0; i < ids.size(); ++i) {
          const Reply& meta = (*r)[3 * i];
          const Reply& channels = (*r)[3 * i + 1];
          if (meta.elements.empty()) continue;  // Deleted meanwhile.
          Server s;
          s.set_id(ids[i]);
          s.set_name(HashField(meta, "name"));
          s.set_role((*r)[3 * i + 2].str);
          for (size_t j = 0; j + 1 < channels.elements.size(); j += 2) {
            Channel* c = s.add_channels();
            c->set_id(channels.elements[j].str);
            c->set_server(ids[i]);
            c->set_name(channels.elements[j + 1].str);
          }
          std::sort(s.mutable_channels()->begin(), s.mutable_channels()->end(),
                    [](const Channel& a, const Channel& b) { return a.name() < b.name(); });
          servers.push_back(std::move(s));
        }
        std::sort(servers.begin(), servers.end(),
                  [](const Server& a, const Server& b) { return a.name() < b.name(); });
        // Head seqs and slow modes, in the order of the sorted channels.
        for (const Server& s : servers) {
          for (const Channel& c : s.channels()) {
            seq_cmds.push_back({"GET", keys::ChannelSeq(s.id(), c.id())});
            seq_cmds.push_back({"GET", keys::ChannelSlowMode(s.id(), c.id())});
          }
        }
        redis::Batch(*client_, std::move(seq_cmds),
                     [servers = std::move(servers),
                      done = std::move(done)](absl::StatusOr<std::vector<Reply>> seqs) mutable {
                       if (!seqs.ok()) return done(seqs.status());
                       size_t k = 0;
                       for (Server& s : servers) {
                         for (Channel& c : *s.mutable_channels()) {
                           c.set_head_seq(redis::ReplyInt((*seqs)[k++]).value_or(0));
                           c.set_slow_mode_s(
                               static_cast<int32_t>(redis::ReplyInt((*seqs)[k++]).value_or(0)));
                           c.set_unread(std::max<int64_t>(0, c.head_seq() - c.last_read_seq()));
                         }
                       }
                       done(std::move(servers));
                     });
      });
}

void RedisChatStore::GetUserState(const std::string& user, Done<UserState> done) {
  redis::Batch(
      *client_, {{"HGETALL", keys::UserProfile(user)}, {"SMEMBERS", keys::UserServers(user)}},
      [this, user, done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        const Reply& profile = (*r)[0];
        if (profile.elements.empty()) return done(absl::NotFoundError("unknown user"));
        UserState state;
        state.mutable_user()->set_id(user);
        state.mutable_user()->set_name(HashField(profile, "name"));
        state.mutable_user()->set_image(HashField(profile, "image"));
        std::vector<std::string> ids;
        for (const Reply& e : (*r)[1].elements) ids.push_back(e.str);
        LoadServers(user, std::move(ids),
                    [this, state = std::move(state),
                     done = std::move(done)](absl::StatusOr<std::vector<Server>> servers) mutable {
                      if (!servers.ok()) return done(servers.status());
                      for (Server& s : *servers) *state.add_servers() = std::move(s);
                      std::string user = state.user().id();
                      LoadReadState(user, std::move(state), std::move(done));
                    });
      });
}

void RedisChatStore::UpsertUser(const User& user, Done<User> done) {
  redis::Batch(*client_,
               {{"HSET", keys::UserProfile(user.id()), "name", user.name(), "image", user.image()},
                {"SADD", std::string(keys::kUsers), user.id()}},
               [user, done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) return done(r.status());
                 done(user);
               });
}

void RedisChatStore::GetUser(const std::string& id, Done<User> done) {
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

void RedisChatStore::CreateServer(const std::string& id, const std::string& name,
                                  const std::string& owner, Done<Server> done) {
  if (owner.empty()) return CreateServerChecked(id, name, owner, std::move(done));
  client_->Command(
      {"EXISTS", keys::UserProfile(owner)},
      [this, id, name, owner, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->integer == 0) return done(absl::NotFoundError("unknown user"));
        CreateServerChecked(id, name, owner, std::move(done));
      });
}

void RedisChatStore::CreateServerChecked(const std::string& id, const std::string& name,
                                         const std::string& owner, Done<Server> done) {
  CreateServerScript().Run(
      *client_, {keys::ServerMeta(id), keys::ServerMembers(id), keys::ServerRoles(id)},
      {name, owner}, [this, id, owner, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->elements.size() != 2) return done(absl::InternalError("create server: bad reply"));
        Server s;
        s.set_id(id);
        s.set_name(r->elements[1].str);
        if (r->elements[0].integer != 1 || owner.empty()) return done(std::move(s));
        // The owner's side of the membership, as AddMember's.
        client_->Command(
            {"SADD", keys::UserServers(owner), id},
            [s = std::move(s), done = std::move(done)](absl::StatusOr<Reply> added) mutable {
              if (!added.ok()) return done(added.status());
              s.set_role(kRoleOwner);
              done(std::move(s));
            });
      });
}

void RedisChatStore::CreateChannel(const std::string& server, const std::string& id,
                                   const std::string& name, Done<Channel> done) {
  client_->Command(
      {"EXISTS", keys::ServerMeta(server)},
      [this, server, id, name, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->integer == 0) return done(absl::NotFoundError("no such server"));
        redis::Batch(*client_,
                     {{"HSETNX", keys::ServerChannels(server), id, name},
                      {"HGET", keys::ServerChannels(server), id},
                      {"GET", keys::ChannelSeq(server, id)}},
                     [this, server, id,
                      done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                       if (!r.ok()) return done(r.status());
                       Channel c;
                       c.set_id(id);
                       c.set_server(server);
                       c.set_name((*r)[1].str);
                       c.set_head_seq(redis::ReplyInt((*r)[2]).value_or(0));
                       if ((*r)[0].integer == 0) return done(std::move(c));  // It existed.
                       AnnounceChannel(std::move(c), std::move(done));
                     });
      });
}

void RedisChatStore::AddMember(const std::string& server, const std::string& user,
                               Done<bool> done) {
  client_->Command({"EXISTS", keys::UserProfile(user)}, [this, server, user,
                                                         done = std::move(done)](
                                                            absl::StatusOr<Reply> r) mutable {
    if (!r.ok()) return done(r.status());
    if (r->integer == 0) return done(absl::NotFoundError("unknown user"));
    AddMemberScript().Run(
        *client_,
        {keys::ServerMeta(server), keys::ServerMembers(server), keys::ServerBans(server),
         keys::ServerChannels(server)},
        {user}, [this, server, user, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
          if (!r.ok()) return done(r.status());
          if (r->elements.empty()) return done(absl::InternalError("add member: bad reply"));
          if (r->elements[0].integer == -1) return done(absl::NotFoundError("no such server"));
          if (r->elements[0].integer == -2) {
            return done(
                WithReason(absl::FailedPreconditionError("banned from this server"), "banned"));
          }
          const bool added = r->elements[0].integer == 1;
          // Other slots: the user's server set and each channel's
          // revocations (a member removed before may post again). All
          // idempotent, so a retry after a partial failure converges.
          std::vector<std::vector<std::string>> cmds = {{"SADD", keys::UserServers(user), server}};
          if (r->elements.size() > 1) {
            for (const Reply& c : r->elements[1].elements) {
              cmds.push_back({"HDEL", keys::ChannelRevoked(server, c.str), user});
            }
          }
          redis::Batch(*client_, std::move(cmds),
                       [this, server, user, added,
                        done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                         if (!r.ok()) return done(r.status());
                         if (!added) return done(false);
                         LoadServers(user, {server},
                                     [this, user, done = std::move(done)](
                                         absl::StatusOr<std::vector<Server>> servers) mutable {
                                       if (!servers.ok() || servers->empty()) return done(true);
                                       Event event;
                                       *event.mutable_server_joined() = (*servers)[0];
                                       // The membership stands either way; a lost
                                       // announcement shows in the next ready.
                                       personal_.Append(
                                           user, event,
                                           [done = std::move(done)](
                                               absl::StatusOr<int64_t>) mutable { done(true); });
                                     });
                       });
        });
  });
}

void RedisChatStore::Role(const std::string& server, const std::string& user,
                          Done<std::string> done) {
  client_->Command({"HGET", keys::ServerRoles(server), user},
                   [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(std::move(r->str));
                   });
}

void RedisChatStore::Moderate(const std::string& actor, const std::string& server,
                              const std::string& user, ModerateAction action,
                              Done<ModerateResult> done) {
  const char* verb = action == ModerateAction::kRemove ? "remove"
                     : action == ModerateAction::kBan  ? "ban"
                                                       : "unban";
  ModerateScript().Run(
      *client_,
      {keys::ServerMeta(server), keys::ServerMembers(server), keys::ServerRoles(server),
       keys::ServerBans(server), keys::ServerChannels(server)},
      {actor, user, verb},
      [this, actor, server, user, action, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->elements.empty()) return done(absl::InternalError("moderate: bad reply"));
        const int64_t code = r->elements[0].integer;
        if (code == -1) return done(absl::NotFoundError("no such server"));
        if (code == -2) {
          return done(WithReason(
              absl::PermissionDeniedError("only the server's owner or a moderator may do this"),
              "not_moderator"));
        }
        if (code == -3) {
          return done(WithReason(
              absl::PermissionDeniedError("the owner cannot be removed or banned, and a moderator "
                                          "only by the owner"),
              "protected_member"));
        }
        ModerateResult result;
        result.changed = code == 1;
        const size_t channels_at = code == -4 ? 1 : 2;
        if (r->elements.size() > channels_at) {
          for (const Reply& c : r->elements[channels_at].elements) {
            result.channels.push_back(c.str);
          }
        }
        if (action == ModerateAction::kUnban) return done(std::move(result));
        const bool was_member = code >= 0 && r->elements.size() > 1 && r->elements[1].integer == 1;
        Revoke(actor, server, user, action, code == -4, was_member, std::move(result),
               std::move(done));
      });
}

void RedisChatStore::Revoke(const std::string& actor, const std::string& server,
                            const std::string& user, ModerateAction action, bool not_member,
                            bool was_member, ModerateResult result, Done<ModerateResult> done) {
  const std::vector<std::string> channels = result.channels;
  auto finish = [this, actor, server, user, action, not_member, was_member,
                 result = std::move(result), done = std::move(done)](absl::Status s) mutable {
    if (!s.ok()) return done(s);
    if (not_member) {
      return done(WithReason(absl::NotFoundError("not a member of this server"), "not_member"));
    }
    if (!was_member) return done(std::move(result));
    Event event;
    ServerRemoved* removed = event.mutable_server_removed();
    removed->set_type("server_removed");
    removed->set_server(server);
    removed->set_reason(action == ModerateAction::kBan ? "banned" : "removed");
    removed->set_by(actor);
    // The removal stands either way; a lost notice shows in the next ready.
    personal_.Append(user, event,
                     [result = std::move(result), done = std::move(done)](
                         absl::StatusOr<int64_t>) mutable { done(std::move(result)); });
  };
  // The user's server set loses the server first; then every channel
  // records the revocation and says so on its topic. A session whose
  // subscription went live after that publication therefore finds the
  // server gone when it reads the user's state again (ClientSession
  // re-reads once its topics are live). Each step is idempotent, so a retry
  // after a failure converges.
  struct Pending {
    size_t remaining = 0;
    absl::Status status;
    absl::AnyInvocable<void(absl::Status)> finish;
  };
  auto pending = std::make_shared<Pending>();
  pending->remaining = channels.size();
  pending->finish = std::move(finish);
  client_->Command({"SREM", keys::UserServers(user), server},
                   [this, pending, channels, server, user](absl::StatusOr<Reply> r) {
                     if (!r.ok()) return pending->finish(r.status());
                     if (channels.empty()) return pending->finish(absl::OkStatus());
                     auto step = [pending](const absl::Status& s) {
                       if (!s.ok()) pending->status = s;
                       if (--pending->remaining == 0) pending->finish(pending->status);
                     };
                     const std::string now = std::to_string(absl::ToUnixMillis(absl::Now()));
                     for (const std::string& channel : channels) {
                       Event revoked;
                       AccessRevoked* a = revoked.mutable_access_revoked();
                       a->set_server(server);
                       a->set_channel(channel);
                       a->set_user_id(user);
                       RevokeScript().Run(*client_, {keys::ChannelRevoked(server, channel)},
                                          {user, now, keys::ChannelTopic(server, channel),
                                           absl::StrCat("0 ", revoked.SerializeAsString())},
                                          [step](absl::StatusOr<Reply> r) { step(r.status()); });
                     }
                   });
}

void RedisChatStore::SetSlowMode(const std::string& server, const std::string& channel, int seconds,
                                 Done<bool> done) {
  client_->Command(
      {"HEXISTS", keys::ServerChannels(server), channel},
      [this, server, channel, seconds, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->integer == 0) return done(absl::NotFoundError("no such channel"));
        std::vector<std::string> cmd = {"DEL", keys::ChannelSlowMode(server, channel)};
        if (seconds > 0)
          cmd = {"SET", keys::ChannelSlowMode(server, channel), std::to_string(seconds)};
        client_->Command(std::move(cmd), [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
          if (!r.ok()) return done(r.status());
          done(true);
        });
      });
}

void RedisChatStore::SetRole(const std::string& server, const std::string& user,
                             const std::string& role, Done<bool> done) {
  SetRoleScript().Run(
      *client_, {keys::ServerMeta(server), keys::ServerMembers(server), keys::ServerRoles(server)},
      {user, role}, [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->integer == -1) {
          return done(WithReason(absl::NotFoundError("not a member of this server"), "not_member"));
        }
        done(r->integer == 1);
      });
}

void RedisChatStore::AnnounceChannel(Channel channel, Done<Channel> done) {
  const std::string server = channel.server();
  client_->Command({"SMEMBERS", keys::ServerMembers(server)},
                   [this, channel = std::move(channel),
                    done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok() || r->elements.empty()) return done(std::move(channel));
                     // Each member's log gets the event; the reply waits for all of them,
                     // so a member who connects after it has the channel in ready.
                     struct Pending {
                       size_t remaining;
                       Channel channel;
                       Done<Channel> done;
                     };
                     auto pending = std::make_shared<Pending>();
                     pending->remaining = r->elements.size();
                     pending->channel = std::move(channel);
                     pending->done = std::move(done);
                     Event event;
                     *event.mutable_channel_created() = pending->channel;
                     for (const Reply& member : r->elements) {
                       personal_.Append(member.str, event, [pending](absl::StatusOr<int64_t>) {
                         if (--pending->remaining == 0) pending->done(std::move(pending->channel));
                       });
                     }
                   });
}

void RedisChatStore::Members(const std::string& server, const std::vector<std::string>& ids,
                             Done<std::vector<std::string>> done) {
  if (ids.empty()) return done(std::vector<std::string>{});
  std::vector<std::string> cmd = {"SMISMEMBER", keys::ServerMembers(server)};
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  client_->Command(std::move(cmd), [ids, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
    if (!r.ok()) return done(r.status());
    std::vector<std::string> members;
    for (size_t i = 0; i < ids.size() && i < r->elements.size(); ++i) {
      if (r->elements[i].integer == 1) members.push_back(ids[i]);
    }
    done(std::move(members));
  });
}

void RedisChatStore::ChannelHead(const std::string& server, const std::string& channel,
                                 Done<int64_t> done) {
  client_->Command({"GET", keys::ChannelSeq(server, channel)},
                   [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(redis::ReplyInt(*r));
                   });
}

void RedisChatStore::CountsAfter(const std::string& server, const std::string& channel,
                                 const std::string& user, int64_t seq, int64_t head,
                                 Done<ReadCounts> done) {
  // Bounded by the head read before: what was appended since is not in it.
  std::string after = absl::StrCat("(", seq), upto = std::to_string(head);
  redis::Batch(*client_,
               {{"ZCOUNT", keys::ChannelMentions(server, channel, user), after, upto},
                {"ZCOUNT", keys::ChannelUncounted(server, channel), after, upto},
                {"ZCOUNT", keys::ChannelMentions(server, channel, kEveryone), after, upto}},
               [done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
                 if (!r.ok()) return done(r.status());
                 ReadCounts counts;
                 // A message pings a user singly or as one of everyone, never both.
                 counts.mentions = (*r)[0].integer + (*r)[2].integer;
                 counts.uncounted = (*r)[1].integer;
                 done(counts);
               });
}

void RedisChatStore::MarkRead(const std::string& user, const ReadState& state,
                              Done<MarkReadResult> done) {
  Event event;
  *event.mutable_read_state() = state;
  MarkReadScript().Run(
      *client_,
      {keys::UserReadState(user), keys::UserLogSeq(user), keys::UserLog(user),
       keys::UserRollback(user)},
      {keys::ReadField(state.server(), state.channel()), std::to_string(state.last_read_seq()),
       std::to_string(personal_.retention()), keys::UserTopic(user), event.SerializeAsString(),
       std::to_string(personal_.Floor(user))},
      [this, user, done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        if (r->elements.size() < 2) return done(absl::InternalError("mark read: bad reply"));
        MarkReadResult result;
        result.changed = r->elements[0].integer == 1;
        result.last_read_seq = r->elements[1].integer;
        if (result.changed && r->elements.size() == 4) {
          personal_.Appended(user, r->elements[2].integer, r->elements[3].integer);
        }
        done(result);
      });
}

void RedisChatStore::PersonalTail(const std::string& user, int64_t after, int limit,
                                  Done<PersonalPage> done) {
  personal_.Read(user, after, limit, std::move(done));
}

void RedisChatStore::LoadReadState(const std::string& user, UserState state, Done<UserState> done) {
  redis::Batch(
      *client_, {{"HGETALL", keys::UserReadState(user)}, {"GET", keys::UserLogSeq(user)}},
      [this, user, state = std::move(state),
       done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        state.set_user_seq(redis::ReplyInt((*r)[1]).value_or(0));
        std::vector<std::vector<std::string>> counts;
        for (Server& s : *state.mutable_servers()) {
          for (Channel& c : *s.mutable_channels()) {
            int64_t read = 0;
            (void)absl::SimpleAtoi(HashField((*r)[0], keys::ReadField(s.id(), c.id())), &read);
            read = std::min(read, c.head_seq());
            c.set_last_read_seq(read);
            // Bounded by the head read before: what came since is not in it.
            counts.push_back({"ZCOUNT", keys::ChannelMentions(s.id(), c.id(), user),
                              absl::StrCat("(", read), std::to_string(c.head_seq())});
            counts.push_back({"ZCOUNT", keys::ChannelUncounted(s.id(), c.id()),
                              absl::StrCat("(", read), std::to_string(c.head_seq())});
            counts.push_back({"ZCOUNT", keys::ChannelMentions(s.id(), c.id(), kEveryone),
                              absl::StrCat("(", read), std::to_string(c.head_seq())});
          }
        }
        redis::Batch(
            *client_, std::move(counts),
            [state = std::move(state),
             done = std::move(done)](absl::StatusOr<std::vector<Reply>> mentions) mutable {
              if (!mentions.ok()) return done(mentions.status());
              size_t k = 0;
              for (Server& s : *state.mutable_servers()) {
                int64_t unread = 0, mentioned = 0;
                for (Channel& c : *s.mutable_channels()) {
                  c.set_mentions((*mentions)[k++].integer);
                  // Edits, deletes and deleted messages are no unread messages.
                  const int64_t uncounted = (*mentions)[k++].integer;
                  // A message pings a user singly or as one of everyone, never both.
                  c.set_mentions(c.mentions() + (*mentions)[k++].integer);
                  c.set_unread(std::max<int64_t>(0, c.head_seq() - c.last_read_seq() - uncounted));
                  unread += c.unread();
                  mentioned += c.mentions();
                }
                s.set_unread(unread);
                s.set_mentions(mentioned);
              }
              done(std::move(state));
            });
      });
}

}  // namespace chat::chat_service
