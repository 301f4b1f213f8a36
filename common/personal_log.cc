#include "common/personal_log.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/keys.h"
#include "common/redis_script.h"

namespace chat {

namespace {

// append_personal(seq key, log key, retention, topic, Event bytes) appends
// the event with the next user_seq, publishes it, and returns the user_seq.
constexpr char kAppendLua[] = R"lua(
local function append_personal(seq_key, log_key, retention, topic, bytes)
  local seq = redis.call('INCR', seq_key)
  redis.call('XADD', log_key, 'MAXLEN', '~', retention, seq .. '-0', 'e', bytes)
  redis.call('PUBLISH', topic, seq .. ' ' .. bytes)
  return seq
end
)lua";

// KEYS: log seq, log stream. ARGV: retention, topic, Event bytes.
const redis::RedisScript& AppendScript() {
  static const auto* script = new redis::RedisScript(absl::StrCat(
      kAppendLua, "return append_personal(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])\n"));
  return *script;
}

// KEYS: log stream, log seq. ARGV: after, limit. Returns {head, oldest id, entries}.
const redis::RedisScript& ReadScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = '0-0'
if #first > 0 then oldest = first[1][1] end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
return {head, oldest, entries}
)lua");
  return *script;
}

}  // namespace

const char* PersonalLog::AppendLua() { return kAppendLua; }

PersonalLog::PersonalLog(std::shared_ptr<redis::RedisClient> client, PersonalLogOptions options)
    : client_(std::move(client)), options_(options) {}

void PersonalLog::Append(const std::string& user, const Event& event, Done<int64_t> done) const {
  AppendScript().Run(
      *client_, {keys::UserLogSeq(user), keys::UserLog(user)},
      {std::to_string(options_.retention), keys::UserTopic(user), event.SerializeAsString()},
      [done = std::move(done)](absl::StatusOr<redis::Reply> r) mutable {
        if (!r.ok()) return done(r.status());
        done(r->integer);
      });
}

void PersonalLog::Read(const std::string& user, int64_t after, int limit,
                       Done<PersonalPage> done) const {
  ReadScript().Run(*client_, {keys::UserLog(user), keys::UserLogSeq(user)},
                   {std::to_string(after), std::to_string(limit)},
                   [done = std::move(done)](absl::StatusOr<redis::Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     if (r->elements.size() != 3)
                       return done(absl::InternalError("personal log: bad reply"));
                     PersonalPage page;
                     page.head_seq = r->elements[0].integer;
                     page.oldest_seq = redis::StreamSeq(r->elements[1].str);
                     for (const redis::Reply& entry : r->elements[2].elements) {
                       if (entry.elements.size() != 2) continue;
                       Event e;
                       if (!e.ParseFromString(redis::HashField(entry.elements[1], "e"))) {
                         return done(absl::DataLossError("personal log: undecodable entry"));
                       }
                       page.events.emplace_back(redis::StreamSeq(entry.elements[0].str),
                                                std::move(e));
                     }
                     done(std::move(page));
                   });
}

}  // namespace chat
