#include "common/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <utility>

namespace chat::redis {

namespace asio = boost::asio;

// Call is one command on its way: its callback, and its arguments when the
// caller wants them back.
struct RedisClient::Call {
  RedisClient* client = nullptr;
  std::vector<std::string> args;
  bool keep_args = false;
  Callback cb;
  ArgsCallback args_cb;

  void Finish(absl::StatusOr<Reply> reply) {
    if (keep_args) {
      args_cb(std::move(reply), std::move(args));
    } else {
      cb(std::move(reply));
    }
  }
};

void RedisClient::Command(std::vector<std::string> args, Callback cb) {
  auto call = std::make_unique<Call>();
  call->args = std::move(args);
  call->cb = std::move(cb);
  asio::post(strand(), [self = std::static_pointer_cast<RedisClient>(shared_from_this()),
                        call = std::move(call)]() mutable { self->DoCommand(std::move(call)); });
}

void RedisClient::CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb) {
  auto call = std::make_unique<Call>();
  call->args = std::move(args);
  call->keep_args = true;
  call->args_cb = std::move(cb);
  asio::post(strand(), [self = std::static_pointer_cast<RedisClient>(shared_from_this()),
                        call = std::move(call)]() mutable { self->DoCommand(std::move(call)); });
}

void RedisClient::DoCommand(std::unique_ptr<Call> call) {
  if (context() == nullptr || !connected()) {
    mutable_stats().not_connected.fetch_add(1, std::memory_order_relaxed);
    return call->Finish(absl::UnavailableError("redis: not connected"));
  }
  if (in_flight_ >= options().max_in_flight) {
    mutable_stats().overloaded.fetch_add(1, std::memory_order_relaxed);
    return call->Finish(absl::ResourceExhaustedError("redis: too many commands in flight"));
  }
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  argv.reserve(call->args.size());
  argvlen.reserve(call->args.size());
  for (const std::string& a : call->args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  call->client = this;
  // hiredis has copied the arguments into its output buffer once this returns.
  if (redisAsyncCommandArgv(context(), &RedisClient::ReplyTrampoline, call.get(),
                            static_cast<int>(argv.size()), argv.data(),
                            argvlen.data()) != REDIS_OK) {
    mutable_stats().not_connected.fetch_add(1, std::memory_order_relaxed);
    return call->Finish(absl::UnavailableError("redis: connection closing"));
  }
  if (!call->keep_args) call->args = {};
  (void)call.release();  // Owned by hiredis until ReplyTrampoline.
  ++in_flight_;
  mutable_stats().commands.fetch_add(1, std::memory_order_relaxed);
}

void RedisClient::ReplyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept {
  std::unique_ptr<Call> call(static_cast<Call*>(privdata));
  // The client is being destroyed (see ~Connection): drop the callback, since
  // whatever it would call into may be gone too.
  if (ac->data == nullptr) return;
  --call->client->in_flight_;
  const auto* r = static_cast<redisReply*>(reply);
  ConnectionStats& stats = call->client->mutable_stats();
  if (r == nullptr) {
    stats.connection_lost.fetch_add(1, std::memory_order_relaxed);
  } else if (r->type == REDIS_REPLY_ERROR) {
    stats.error_replies.fetch_add(1, std::memory_order_relaxed);
  }
  call->Finish(ConvertReply(r));
}

void Batch(RedisClient& client, std::vector<std::vector<std::string>> cmds,
           absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done) {
  struct State {
    std::vector<Reply> replies;
    absl::Status status;
    size_t remaining;
    absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done;
  };
  if (cmds.empty()) {
    done(std::vector<Reply>{});
    return;
  }
  auto state = std::make_shared<State>();
  state->replies.resize(cmds.size());
  state->remaining = cmds.size();
  state->done = std::move(done);
  for (size_t i = 0; i < cmds.size(); ++i) {
    // Callbacks all run on the client's strand, so State needs no lock.
    client.Command(std::move(cmds[i]), [state, i](absl::StatusOr<Reply> r) {
      if (r.ok()) {
        state->replies[i] = *std::move(r);
      } else if (state->status.ok()) {
        state->status = r.status();
      }
      if (--state->remaining > 0) return;
      if (state->status.ok()) {
        state->done(std::move(state->replies));
      } else {
        state->done(state->status);
      }
    });
  }
}

}  // namespace chat::redis
