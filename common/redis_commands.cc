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

void Batch(Commands& commands, std::vector<std::vector<std::string>> cmds,
           absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done) {
  struct State {
    // In a cluster the replies come on several connections' strands.
    absl::Mutex mu;
    std::vector<Reply> replies ABSL_GUARDED_BY(mu);
    absl::Status status ABSL_GUARDED_BY(mu);
    size_t remaining ABSL_GUARDED_BY(mu);
    absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done;
  };
  if (cmds.empty()) {
    done(std::vector<Reply>{});
    return;
  }
  auto state = std::make_shared<State>();
  {
    absl::MutexLock lock(&state->mu);
    state->replies.resize(cmds.size());
    state->remaining = cmds.size();
  }
  state->done = std::move(done);
  for (size_t i = 0; i < cmds.size(); ++i) {
    commands.Command(std::move(cmds[i]), [state, i](absl::StatusOr<Reply> r) {
      absl::StatusOr<std::vector<Reply>> result;
      {
        absl::MutexLock lock(&state->mu);
        if (r.ok()) {
          state->replies[i] = *std::move(r);
        } else if (state->status.ok()) {
          state->status = r.status();
        }
        if (--state->remaining > 0) return;
        if (state->status.ok()) {
          result = std::move(state->replies);
        } else {
          result = state->status;
        }
      }
      state->done(std::move(result));
    });
  }
}

}  // namespace chat::redis
