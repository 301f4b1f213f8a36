#include "chat_service/redis_chat_store.h"

#include <google/protobuf/io/coded_stream.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/keys.h"
#include "common/redis_script.h"
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

// KEYS: nonce key, seq counter, log stream, rollback record, then one
// mentions set per mentioned user. ARGV: nonce ttl (s), retention, ChatMessage bytes (without
// seq), topic, sent_at, the bytes that turn the message into an Event (its
// field's tag and length) for the publication, mentions kept per user, the
// floor (the highest seq known to have been handed out), "1" when replicas
// are awaited after the script. Returns {1, seq, first lost seq or 0} when
// stored, {0, "seq:sent_at"} for a duplicate nonce. Publishing inside the
// script makes topic order equal seq order. When replicas are awaited the
// script does not publish: the store publishes once WAIT confirmed, so no
// member sees a message a failover can still take back. Topic order then
// follows confirmation order, which can differ from seq order between two
// service replicas; gateways restore seq order from the log, and such a
// read can return entries not confirmed yet (docs/operations.md, replicated
// acknowledgements, says what that leaves open). A duplicate then
// refreshes its nonce's TTL (a write the WAIT can wait for) and also returns
// the stored message's bytes, to publish the original, not the retry's. A
// counter at or below the floor means Redis lost acknowledged messages: the
// log continues above the floor, so no seq is handed out twice, and the
// lost range is recorded for the log's readers.
const redis::RedisScript& AppendScript() {
  static const auto* script = new redis::RedisScript(R"lua(
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
local seq = redis.call('INCR', KEYS[2])
local lost = 0
local floor = tonumber(ARGV[8]) or 0
if seq <= floor then
  lost = seq
  seq = floor + 1
  redis.call('SET', KEYS[2], seq)
  redis.call('SET', KEYS[4], lost .. ':' .. floor)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'm', ARGV[3])
redis.call('SET', KEYS[1], seq .. ':' .. ARGV[5], 'EX', ARGV[1])
for i = 5, #KEYS do
  redis.call('ZADD', KEYS[i], seq, seq)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[7]) + 1))
end
if ARGV[9] ~= '1' then redis.call('SPUBLISH', ARGV[4], seq .. ' ' .. ARGV[6] .. ARGV[3]) end
return {1, seq, lost}
)lua");
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

// KEYS: log stream, seq counter, rollback record. ARGV: mode
// (after|before|latest), bound, limit. Returns {head_seq, oldest entry id,
// entries, rollback record or ""}.
const redis::RedisScript& HistoryScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local rolled = redis.call('GET', KEYS[3]) or ''
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = '0-0'
if #first > 0 then oldest = first[1][1] end
local entries
if ARGV[1] == 'after' then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2] .. '-0', '+', 'COUNT', ARGV[3])
elseif ARGV[1] == 'before' then
  entries = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[2] .. '-0', '-', 'COUNT', ARGV[3])
else
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[3])
end
return {head, oldest, entries, rolled}
)lua");
  return *script;
}

// KEYS: the user's typing throttle in the channel. ARGV: interval ms, topic,
// payload. Returns 1 if published, 0 if throttled.
const redis::RedisScript& TypingScript() {
  static const auto* script = new redis::RedisScript(R"lua(
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 0 end
redis.call('SPUBLISH', ARGV[2], ARGV[3])
return 1
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
                            int64_t seen_seq, Done<AppendResult> done) {
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
      keys::ChannelSeq(msg.server(), msg.channel()), log,
      keys::ChannelRollback(msg.server(), msg.channel())};
  for (const std::string& user : mentioned) {
    script_keys.push_back(keys::ChannelMentions(msg.server(), msg.channel(), user));
  }
  AppendScript().RunVia(
      *client_, std::move(script_keys),
      {std::to_string(absl::ToInt64Seconds(options_.nonce_ttl)), std::to_string(options_.retention),
       std::move(bytes), keys::ChannelTopic(msg.server(), msg.channel()), std::to_string(sent_at),
       std::move(prefix), std::to_string(options_.max_mentions), std::to_string(floor),
       replica_waits_ ? "1" : "0"},
      [this, sent_at, floor, log = std::move(log), server = msg.server(), channel = msg.channel(),
       held = std::move(held),
       done = std::move(done)](absl::StatusOr<Reply> r, std::vector<std::string>,
                               std::shared_ptr<redis::RedisClient> via) mutable {
        if (!r.ok()) return done(r.status());
        if (r->elements.size() < 2) return done(absl::InternalError("append: bad reply"));
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
       keys::ChannelRollback(q.server, q.channel)},
      {mode, bound, std::to_string(q.limit)},
      [ascending = (mode == "after"), done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        done(DecodeHistoryPage(*r, ascending));
      });
}

absl::StatusOr<HistoryPage> DecodeHistoryPage(const Reply& reply, bool ascending) {
  if (reply.elements.size() != 4) return absl::InternalError("history: bad reply");
  HistoryPage page;
  page.head_seq = reply.elements[0].integer;
  page.oldest_seq = redis::StreamSeq(reply.elements[1].str);
  ParseRollback(reply.elements[3].str, &page.lost_from, &page.lost_to);
  for (const Reply& entry : reply.elements[2].elements) {
    if (entry.elements.size() != 2) continue;
    ChatMessage m;
    if (!m.ParseFromString(HashField(entry.elements[1], "m"))) {
      return absl::DataLossError("history: undecodable stream entry");
    }
    m.set_seq(redis::StreamSeq(entry.elements[0].str));
    page.messages.push_back(std::move(m));
  }
  if (!ascending) std::reverse(page.messages.begin(), page.messages.end());
  return page;
}

void RedisChatStore::RelayTyping(const Typing& typing, absl::Duration interval, Done<bool> done) {
  Event event;
  *event.mutable_typing() = typing;
  TypingScript().Run(*client_,
                     {keys::ChannelTyping(typing.server(), typing.channel(), typing.user_id())},
                     {std::to_string(absl::ToInt64Milliseconds(interval)),
                      keys::ChannelTopic(typing.server(), typing.channel()),
                      absl::StrCat("0 ", event.SerializeAsString())},
                     [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
                       if (!r.ok()) return done(r.status());
                       done(r->integer == 1);
                     });
}

void RedisChatStore::LoadServers(std::vector<std::string> ids, Done<std::vector<Server>> done) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& id : ids) {
    cmds.push_back({"HGETALL", keys::ServerMeta(id)});
    cmds.push_back({"HGETALL", keys::ServerChannels(id)});
  }
  redis::Batch(
      *client_, std::move(cmds),
      [this, ids = std::move(ids),
       done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        std::vector<Server> servers;
        std::vector<std::vector<std::string>> seq_cmds;
        for (size_t i = 0; i < ids.size(); ++i) {
          const Reply& meta = (*r)[2 * i];
          const Reply& channels = (*r)[2 * i + 1];
          if (meta.elements.empty()) continue;  // Deleted meanwhile.
          Server s;
          s.set_id(ids[i]);
          s.set_name(HashField(meta, "name"));
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
        // Head seqs, in the order of the sorted channels.
        for (const Server& s : servers) {
          for (const Channel& c : s.channels()) {
            seq_cmds.push_back({"GET", keys::ChannelSeq(s.id(), c.id())});
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
        LoadServers(std::move(ids), [this, state = std::move(state), done = std::move(done)](
                                        absl::StatusOr<std::vector<Server>> servers) mutable {
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
                                  Done<Server> done) {
  redis::Batch(
      *client_,
      {{"HSETNX", keys::ServerMeta(id), "name", name}, {"HGET", keys::ServerMeta(id), "name"}},
      [id, done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        Server s;
        s.set_id(id);
        s.set_name((*r)[1].str);
        done(std::move(s));
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
  redis::Batch(
      *client_, {{"EXISTS", keys::ServerMeta(server)}, {"EXISTS", keys::UserProfile(user)}},
      [this, server, user, done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
        if (!r.ok()) return done(r.status());
        if ((*r)[0].integer == 0) return done(absl::NotFoundError("no such server"));
        if ((*r)[1].integer == 0) return done(absl::NotFoundError("unknown user"));
        // Two slots: the server's member set and the user's server set. Both
        // SADDs are idempotent, so a retry after a partial failure converges.
        redis::Batch(
            *client_,
            {{"SADD", keys::ServerMembers(server), user},
             {"SADD", keys::UserServers(user), server}},
            [this, server, user,
             done = std::move(done)](absl::StatusOr<std::vector<Reply>> r) mutable {
              if (!r.ok()) return done(r.status());
              bool added = (*r)[0].integer == 1;
              if (!added) return done(false);
              LoadServers({server}, [this, user, done = std::move(done)](
                                        absl::StatusOr<std::vector<Server>> servers) mutable {
                if (!servers.ok() || servers->empty()) return done(true);
                Event event;
                *event.mutable_server_joined() = (*servers)[0];
                // The membership stands either way; a lost announcement shows
                // in the next ready.
                personal_.Append(
                    user, event,
                    [done = std::move(done)](absl::StatusOr<int64_t>) mutable { done(true); });
              });
            });
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

void RedisChatStore::MentionsAfter(const std::string& server, const std::string& channel,
                                   const std::string& user, int64_t seq, Done<int64_t> done) {
  client_->Command(
      {"ZCOUNT", keys::ChannelMentions(server, channel, user), absl::StrCat("(", seq), "+inf"},
      [done = std::move(done)](absl::StatusOr<Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        done(r->integer);
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
            c.set_unread(std::max<int64_t>(0, c.head_seq() - read));
            counts.push_back({"ZCOUNT", keys::ChannelMentions(s.id(), c.id(), user),
                              absl::StrCat("(", read), "+inf"});
          }
        }
        redis::Batch(*client_, std::move(counts),
                     [state = std::move(state),
                      done = std::move(done)](absl::StatusOr<std::vector<Reply>> mentions) mutable {
                       if (!mentions.ok()) return done(mentions.status());
                       size_t k = 0;
                       for (Server& s : *state.mutable_servers()) {
                         int64_t unread = 0, mentioned = 0;
                         for (Channel& c : *s.mutable_channels()) {
                           c.set_mentions((*mentions)[k++].integer);
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
