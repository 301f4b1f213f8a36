// Commands: where a store's Redis commands go. One Redis instance
// (RedisClient, redis_client.h) or a Redis Cluster (ClusterClient,
// redis_cluster_client.h, which sends each command to the master of its
// key's slot): the stores, scripts (RedisScript) and Batch work on either.
#ifndef CHATSUITE_COMMON_REDIS_COMMANDS_H_
#define CHATSUITE_COMMON_REDIS_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/redis_connection.h"

namespace chat::redis {

class RedisClient;

// ArgsCallback is a Callback that also gets the command's arguments back, for
// a caller that may need to send a variant of them (see RedisScript).
using ArgsCallback = absl::AnyInvocable<void(absl::StatusOr<Reply>, std::vector<std::string> args)>;
// ViaCallback also names the connection that answered: a WAIT for the
// command's write must go over that same connection (redis_replica_wait.h).
// via is null when no connection took the command.
using ViaCallback = absl::AnyInvocable<void(absl::StatusOr<Reply>, std::vector<std::string> args,
                                            std::shared_ptr<RedisClient> via)>;

class Commands {
 public:
  virtual ~Commands() = default;

  // Command sends args (one Redis command, binary-safe) and calls cb with the
  // reply, on the strand of the connection that carried it. Errors: see
  // Callback. In a cluster the command goes where RoutingKey(args) lives, so
  // every key one command names must share a slot. Thread-safe; never blocks.
  virtual void Command(std::vector<std::string> args, Callback cb) = 0;
  // CommandKeepingArgs is Command, with args kept (not copied) until the
  // reply and handed back to cb with it.
  virtual void CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb) = 0;
  // CommandVia is CommandKeepingArgs that also names the answering connection.
  virtual void CommandVia(std::vector<std::string> args, ViaCallback cb) = 0;
  // healthy: every connection commands need is up (for health checks;
  // racy by nature).
  virtual bool healthy() const = 0;
};

// RoutingKey is the key a command is routed by: its first key. For EVAL and
// EVALSHA that is KEYS[1]; empty for a command without keys (PING, INFO, a
// script with no keys), which any node may take.
absl::string_view RoutingKey(const std::vector<std::string>& args);

// ReplyGather collects n replies that may arrive on different strands (a
// cluster's nodes) and hands them to done, in index order, once the last
// has come. Thread-safe.
class ReplyGather {
 public:
  using Done = absl::AnyInvocable<void(std::vector<absl::StatusOr<Reply>>)>;
  ReplyGather(size_t n, Done done) : replies_(n), remaining_(n), done_(std::move(done)) {}
  void Put(size_t i, absl::StatusOr<Reply> reply) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<Reply>> replies_ ABSL_GUARDED_BY(mu_);
  size_t remaining_ ABSL_GUARDED_BY(mu_);
  Done done_;
};

// Batch sends cmds back to back (pipelined on each connection) and calls done
// once with all replies in order, or with the first failure. In a cluster
// each command goes to its own key's node. Thread-safe.
void Batch(Commands& commands, std::vector<std::vector<std::string>> cmds,
           absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_COMMANDS_H_
