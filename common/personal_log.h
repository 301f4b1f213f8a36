// PersonalLog: each user's log of personal events (invitation transitions,
// friendships, server joins, new channels, read-state changes). A Redis Stream
// under the user's hash tag, with its own sequence (user_seq): appending an
// event stores it and publishes "<user_seq> <Event bytes>" on the user's
// topic in one script, so the topic carries each user's events in user_seq
// order, and a gateway or a resuming client can read what it missed.
#ifndef CHATSUITE_COMMON_PERSONAL_LOG_H_
#define CHATSUITE_COMMON_PERSONAL_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/async.h"
#include "common/high_water.h"
#include "common/redis_client.h"
#include "proto/events.pb.h"

namespace chat {

struct PersonalLogOptions {
  // Events kept per user (approximately: trimming is Redis's "~"). A resume
  // cursor older than that gets resync_required.
  int64_t retention = 10000;
};

// PersonalPage is a slice of one user's log, ascending user_seq.
struct PersonalPage {
  std::vector<std::pair<int64_t, Event>> events;
  int64_t head_seq = 0;
  int64_t oldest_seq = 0;  // 0 when the log is empty.
  // The last range Redis lost (0, 0: none): see AppendLua.
  int64_t lost_from = 0, lost_to = 0;
};

// ParseRollback reads a log's rollback record ("<from>:<to>", or empty).
void ParseRollback(absl::string_view record, int64_t* from, int64_t* to);

class PersonalLog {
 public:
  PersonalLog(std::shared_ptr<redis::Commands> client, PersonalLogOptions options);

  // Append stores event as the next entry of user's log, publishes it on the
  // user's topic, and passes done the user_seq it got. done runs on the Redis
  // client's strand. kUnavailable when Redis is unreachable.
  void Append(const std::string& user, const Event& event, Done<int64_t> done) const;

  // Read returns up to limit (1..100) events with user_seq > after.
  // kDataLoss for an entry that does not decode.
  void Read(const std::string& user, int64_t after, int limit, Done<PersonalPage> done) const;

  // AppendLua defines the Lua function append_personal(seq_key, log_key,
  // rollback_key, retention, topic, event_bytes, floor) -> user_seq,
  // lost_from. Scripts that must append atomically with a change of their
  // own (a read marker) embed it, pass Floor(user), and report what it
  // returned to Appended; their keys must then include the user's log seq,
  // log and rollback record (same hash tag).
  static const std::string& AppendLua();
  // Floor: the highest user_seq this process handed out for user.
  int64_t Floor(const std::string& user) const;
  // Appended records an append's result; with lost_from > 0 (the log was
  // behind what had been handed out: Redis lost acknowledged appends) it
  // logs it and publishes a LogRollback on the user's topic.
  void Appended(const std::string& user, int64_t seq, int64_t lost_from) const;

  int64_t retention() const { return options_.retention; }

 private:
  std::shared_ptr<redis::Commands> client_;
  PersonalLogOptions options_;
  std::shared_ptr<HighWater> marks_;  // Highest user_seq handed out, per user.
};

// DecodePersonalPage reads the log read script's reply (head seq, oldest
// stream id, stream entries, rollback record). kDataLoss for an entry that
// does not decode.
absl::StatusOr<PersonalPage> DecodePersonalPage(const redis::Reply& reply);

}  // namespace chat

#endif  // CHATSUITE_COMMON_PERSONAL_LOG_H_
