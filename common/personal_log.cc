#include "common/personal_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/keys.h"
#include "common/redis_script.h"

namespace chat {

namespace {

// append_personal(seq key, log key, rollback key, retention, topic, Event
// bytes, floor)
// appends the event with the next user_seq (next_seq, common/high_water.h),
// publishes it, and returns the user_seq and the first lost user_seq (0:
// none).
constexpr char kAppendPersonalLua[] = R"lua(
local function append_personal(seq_key, log_key, rollback_key, retention, topic, bytes, floor)
  local seq, lost = next_seq(seq_key, rollback_key, floor)
  redis.call('XADD', log_key, 'MAXLEN', '~', retention, seq .. '-0', 'e', bytes)
  redis.call('SPUBLISH', topic, seq .. ' ' .. bytes)
  return seq, lost
end
)lua";

// KEYS: log seq, log stream, rollback record. ARGV: retention, topic, Event
// bytes, floor. Returns {user_seq, first lost user_seq or 0}.
const redis::RedisScript& AppendScript() {
  static const auto* script = new redis::RedisScript(absl::StrCat(PersonalLog::AppendLua(), R"lua(
local seq, lost = append_personal(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return {seq, lost}
)lua"));
  return *script;
}

// KEYS: log stream, log seq, rollback record. ARGV: after, limit. Returns
// {head, oldest id, entries, rollback record or ""}.
const redis::RedisScript& ReadScript() {
  static const auto* script = new redis::RedisScript(R"lua(
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local rolled = redis.call('GET', KEYS[3]) or ''
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = '0-0'
if #first > 0 then oldest = first[1][1] end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
return {head, oldest, entries, rolled}
)lua");
  return *script;
}

}  // namespace

const std::string& PersonalLog::AppendLua() {
  static const auto* lua = new std::string(absl::StrCat(kNextSeqLua, kAppendPersonalLua));
  return *lua;
}

void ParseRollback(absl::string_view record, int64_t* from, int64_t* to) {
  *from = *to = 0;
  const size_t colon = record.find(':');
  if (colon == absl::string_view::npos) return;
  if (!absl::SimpleAtoi(record.substr(0, colon), from) ||
      !absl::SimpleAtoi(record.substr(colon + 1), to)) {
    *from = *to = 0;
  }
}

PersonalLog::PersonalLog(std::shared_ptr<redis::Commands> client, PersonalLogOptions options)
    : client_(std::move(client)), options_(options), marks_(std::make_shared<HighWater>()) {}

namespace {

// NoteAppended raises user's mark to seq; with lost_from > 0 it logs the
// rollback and publishes a LogRollback on the user's topic.
void NoteAppended(HighWater& marks, redis::Commands& client, const std::string& user, int64_t seq,
                  int64_t lost_from) {
  const int64_t floor = marks.Get(user);
  marks.Raise(user, seq);
  if (lost_from <= 0) return;
  spdlog::warn("event=log_rolled_back log=user user={} lost_from={} lost_to={}", user, lost_from,
               seq - 1);
  Event notice;
  LogRollback* rollback = notice.mutable_log_rollback();
  rollback->set_user_id(user);
  rollback->set_from_seq(lost_from);
  rollback->set_to_seq(std::max(floor, seq - 1));
  client.Command(
      {"SPUBLISH", keys::UserTopic(user), absl::StrCat("0 ", notice.SerializeAsString())},
      [](absl::StatusOr<redis::Reply>) {});
}

}  // namespace

void PersonalLog::Append(const std::string& user, const Event& event, Done<int64_t> done) const {
  AppendScript().Run(*client_,
                     {keys::UserLogSeq(user), keys::UserLog(user), keys::UserRollback(user)},
                     {std::to_string(options_.retention), keys::UserTopic(user),
                      event.SerializeAsString(), std::to_string(Floor(user))},
                     [marks = marks_, client = client_, user,
                      done = std::move(done)](absl::StatusOr<redis::Reply> r) mutable {
                       if (!r.ok()) return done(r.status());
                       if (r->elements.size() != 2) {
                         return done(absl::InternalError("personal log: bad append reply"));
                       }
                       const int64_t seq = r->elements[0].integer;
                       NoteAppended(*marks, *client, user, seq, r->elements[1].integer);
                       done(seq);
                     });
}

int64_t PersonalLog::Floor(const std::string& user) const { return marks_->Get(user); }

void PersonalLog::Appended(const std::string& user, int64_t seq, int64_t lost_from) const {
  NoteAppended(*marks_, *client_, user, seq, lost_from);
}

void PersonalLog::Read(const std::string& user, int64_t after, int limit,
                       Done<PersonalPage> done) const {
  ReadScript().Run(*client_,
                   {keys::UserLog(user), keys::UserLogSeq(user), keys::UserRollback(user)},
                   {std::to_string(after), std::to_string(limit)},
                   [done = std::move(done)](absl::StatusOr<redis::Reply> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(DecodePersonalPage(*r));
                   });
}

absl::StatusOr<PersonalPage> DecodePersonalPage(const redis::Reply& reply) {
  if (reply.elements.size() != 4) return absl::InternalError("personal log: bad reply");
  PersonalPage page;
  page.head_seq = reply.elements[0].integer;
  page.oldest_seq = redis::StreamSeq(reply.elements[1].str);
  ParseRollback(reply.elements[3].str, &page.lost_from, &page.lost_to);
  for (const redis::Reply& entry : reply.elements[2].elements) {
    if (entry.elements.size() != 2) continue;
    Event e;
    if (!e.ParseFromString(redis::HashField(entry.elements[1], "e"))) {
      return absl::DataLossError("personal log: undecodable entry");
    }
    page.events.emplace_back(redis::StreamSeq(entry.elements[0].str), std::move(e));
  }
  return page;
}

}  // namespace chat
