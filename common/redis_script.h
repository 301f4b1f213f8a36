// RedisScript runs a Lua script by EVALSHA, falling back to EVAL (which also
// loads it) when the server does not have it cached yet, e.g. after a restart.
#ifndef CHATSUITE_COMMON_REDIS_SCRIPT_H_
#define CHATSUITE_COMMON_REDIS_SCRIPT_H_

#include <memory>
#include <string>
#include <vector>

#include "common/redis_commands.h"

namespace chat::redis {

class RedisScript {
 public:
  explicit RedisScript(std::string source);

  // Run calls the script with keys and args on commands (in a cluster, on
  // the master of keys[0]'s slot, where every key must live; each node
  // loads the script the first time it runs there); cb as for
  // Commands::Command. The script and commands must outlive the call
  // (scripts are static in practice). Thread-safe.
  void Run(Commands& commands, std::vector<std::string> keys, std::vector<std::string> args,
           Callback cb) const;
  // RunVia is Run that also names the connection that answered (for WAIT).
  void RunVia(Commands& commands, std::vector<std::string> keys, std::vector<std::string> args,
              ViaCallback cb) const;

  const std::string& sha1() const { return sha1_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::string sha1_;  // Lowercase hex.
};

// HashField returns field's value in an HGETALL reply (a flat array of
// field, value pairs); empty if absent.
std::string HashField(const Reply& hash, absl::string_view field);

// StreamSeq returns the sequence number of a stream entry id "<seq>-0" (the
// channel and personal logs use their seq as the entry id); 0 if malformed.
int64_t StreamSeq(absl::string_view id);

// ReplyInt parses a Redis integer or bulk-string reply holding an integer.
absl::StatusOr<int64_t> ReplyInt(const Reply& reply);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_SCRIPT_H_
