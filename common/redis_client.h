// RedisClient: request/reply Redis commands on one pipelined connection
// (redis_connection.h), with automatic reconnect: the Commands
// (redis_commands.h) of a single Redis instance.
#ifndef CHATSUITE_COMMON_REDIS_CLIENT_H_
#define CHATSUITE_COMMON_REDIS_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/redis_commands.h"
#include "common/redis_connection.h"

namespace chat::redis {

// RedisClient sends commands and delivers replies on its strand.
class RedisClient : public Connection, public Commands {
 public:
  RedisClient(boost::asio::any_io_executor executor, Options options)
      : Connection(std::move(executor), std::move(options)) {}

  void Command(std::vector<std::string> args, Callback cb) override;
  void CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb) override;
  void CommandVia(std::vector<std::string> args, ViaCallback cb) override;
  bool healthy() const override { return connected(); }

 private:
  struct Call;
  static void ReplyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  void Post(std::unique_ptr<Call> call);
  void DoCommand(std::unique_ptr<Call> call);
  size_t in_flight_ = 0;  // On strand.
};

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLIENT_H_
