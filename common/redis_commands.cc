#include "common/redis_commands.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"

namespace chat::redis {

absl::string_view RoutingKey(const std::vector<std::string>& args) {
  if (args.size() < 2) return {};
  const std::string verb = absl::AsciiStrToUpper(args[0]);
  if (verb == "EVAL" || verb == "EVALSHA" || verb == "EVAL_RO" || verb == "EVALSHA_RO") {
    int numkeys = 0;
    if (args.size() < 4 || !absl::SimpleAtoi(args[2], &numkeys) || numkeys < 1) return {};
    return args[3];
  }
  // Commands without keys whose first argument is not one.
  static constexpr absl::string_view kKeyless[] = {"PING",   "INFO",   "WAIT",   "CLUSTER",
                                                   "SCRIPT", "CONFIG", "CLIENT", "COMMAND",
                                                   "DBSIZE", "ECHO",   "TIME",   "HELLO"};
  for (absl::string_view k : kKeyless) {
    if (verb == k) return {};
  }
  return args[1];
}

void ReplyGather::Put(size_t i, absl::StatusOr<Reply> reply) {
  std::vector<absl::StatusOr<Reply>> all;
  {
    absl::MutexLock lock(&mu_);
    replies_[i] = std::move(reply);
    if (--remaining_ > 0) return;
    all = std::move(replies_);
  }
  done_(std::move(all));
}

void Batch(Commands& commands, std::vector<std::vector<std::string>> cmds,
           absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done) {
  if (cmds.empty()) {
    done(std::vector<Reply>{});
    return;
  }
  auto gather = std::make_shared<ReplyGather>(
      cmds.size(), [done = std::move(done)](std::vector<absl::StatusOr<Reply>> all) mutable {
        std::vector<Reply> replies;
        replies.reserve(all.size());
        for (absl::StatusOr<Reply>& r : all) {
          if (!r.ok()) return done(r.status());  // The first failure.
          replies.push_back(*std::move(r));
        }
        done(std::move(replies));
      });
  for (size_t i = 0; i < cmds.size(); ++i) {
    commands.Command(std::move(cmds[i]),
                     [gather, i](absl::StatusOr<Reply> r) { gather->Put(i, std::move(r)); });
  }
}

}  // namespace chat::redis
