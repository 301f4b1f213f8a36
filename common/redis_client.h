// RedisClient: request/reply Redis commands on one pipelined connection
// (redis_connection.h), with automatic reconnect. Batch pipelines several
// commands and collects their replies.
#ifndef CHATSUITE_COMMON_REDIS_CLIENT_H_
#define CHATSUITE_COMMON_REDIS_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/redis_connection.h"

namespace chat::redis {

// ArgsCallback is a Callback that also gets the command's arguments back, for
// a caller that may need to send a variant of them (see RedisScript).
using ArgsCallback = absl::AnyInvocable<void(absl::StatusOr<Reply>, std::vector<std::string> args)>;

// RedisClient sends commands and delivers replies on its strand.
class RedisClient : public Connection {
 public:
  RedisClient(boost::asio::any_io_executor executor, Options options)
      : Connection(std::move(executor), std::move(options)) {}

  // Command sends args (one Redis command, binary-safe) and calls cb on the
  // client's strand with the reply. Thread-safe; never blocks.
  void Command(std::vector<std::string> args, Callback cb);
  // CommandKeepingArgs is Command, with args kept (not copied) until the
  // reply and handed back to cb with it.
  void CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb);

 private:
  struct Call;
  static void ReplyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  void DoCommand(std::unique_ptr<Call> call);
  size_t in_flight_ = 0;  // On strand.
};

// Batch sends cmds back to back (pipelined) and calls done once with all
// replies in order, or with the first failure. Thread-safe.
void Batch(RedisClient& client, std::vector<std::vector<std::string>> cmds,
           absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLIENT_H_
