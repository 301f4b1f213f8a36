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
  enum class Mode { kReply, kArgs, kVia } mode = Mode::kReply;
  Callback cb;
  ArgsCallback args_cb;
  ViaCallback via_cb;

  void Finish(absl::StatusOr<Reply> reply) {
    switch (mode) {
      case Mode::kReply:
        return cb(std::move(reply));
      case Mode::kArgs:
        return args_cb(std::move(reply), std::move(args));
      case Mode::kVia:
        return via_cb(std::move(reply), std::move(args),
                      std::static_pointer_cast<RedisClient>(client->shared_from_this()));
    }
  }
};

void RedisClient::Command(std::vector<std::string> args, Callback cb) {
  auto call = std::make_unique<Call>();
  call->args = std::move(args);
  call->cb = std::move(cb);
  Post(std::move(call));
}

void RedisClient::CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb) {
  auto call = std::make_unique<Call>();
  call->args = std::move(args);
  call->mode = Call::Mode::kArgs;
  call->args_cb = std::move(cb);
  Post(std::move(call));
}

void RedisClient::CommandVia(std::vector<std::string> args, ViaCallback cb) {
  auto call = std::make_unique<Call>();
  call->args = std::move(args);
  call->mode = Call::Mode::kVia;
  call->via_cb = std::move(cb);
  Post(std::move(call));
}

void RedisClient::Post(std::unique_ptr<Call> call) {
  call->client = this;
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
  // hiredis has copied the arguments into its output buffer once this returns.
  if (redisAsyncCommandArgv(context(), &RedisClient::ReplyTrampoline, call.get(),
                            static_cast<int>(argv.size()), argv.data(),
                            argvlen.data()) != REDIS_OK) {
    mutable_stats().not_connected.fetch_add(1, std::memory_order_relaxed);
    return call->Finish(absl::UnavailableError("redis: connection closing"));
  }
  if (call->mode == Call::Mode::kReply) call->args = {};
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

}  // namespace chat::redis
