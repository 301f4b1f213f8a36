// An asynchronous Redis client: hiredis's redisAsyncContext driven by a
// Boost.Asio executor (hiredis 0.14 ships no Asio adapter). One connection,
// commands pipelined on it, automatic reconnect. Two modes:
//  - RedisClient: request/reply commands.
//  - RedisSubscriber: a connection in pub/sub mode that keeps a set of topics
//    subscribed across reconnects.
#ifndef CHATSUITE_COMMON_REDIS_CLIENT_H_
#define CHATSUITE_COMMON_REDIS_CLIENT_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisAsyncContext;
struct redisReply;

namespace chat::redis {

// Reply is a copy of one hiredis reply tree.
struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
};

// Callback receives the reply, or: kUnavailable when not connected or the
// connection dropped before the reply; kResourceExhausted when too many
// commands are in flight; kInternal for a Redis error reply (message kept).
using Callback = absl::AnyInvocable<void(absl::StatusOr<Reply>)>;

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  absl::Duration reconnect_delay = absl::Milliseconds(200);
  // Commands in flight at once; beyond it Command fails fast.
  size_t max_in_flight = 100000;
};

// Connection is the Asio adapter shared by both modes. All hiredis calls happen
// on strand(). Not for direct use.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  Connection(boost::asio::any_io_executor executor, Options options);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Start connects (and keeps reconnecting until Stop). Thread-safe.
  void Start();
  // Stop disconnects for good; pending callbacks get kUnavailable. Thread-safe.
  void Stop();
  // connected reports whether the connection is up (racy by nature; for
  // readiness probes and metrics).
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  Strand& strand() { return strand_; }

 protected:
  // OnConnected runs on strand() after each successful (re)connect;
  // OnDisconnected after each loss of an established connection.
  virtual void OnConnected() {}
  virtual void OnDisconnected() {}
  redisAsyncContext* context() { return ac_; }
  const Options& options() const { return options_; }

 private:
  static void ConnectTrampoline(const redisAsyncContext* ac, int status) noexcept;
  static void DisconnectTrampoline(const redisAsyncContext* ac, int status) noexcept;
  static void AddRead(void* self) noexcept;
  static void DelRead(void* self) noexcept;
  static void AddWrite(void* self) noexcept;
  static void DelWrite(void* self) noexcept;
  static void Cleanup(void* self) noexcept;

  void DoConnect();
  void ScheduleReconnect();
  void ArmRead();
  void ArmWrite();

  Strand strand_;
  Options options_;
  boost::asio::steady_timer reconnect_timer_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  redisAsyncContext* ac_ = nullptr;
  bool want_read_ = false, want_write_ = false;
  bool reading_ = false, writing_ = false;
  bool stopped_ = false;
  std::atomic<bool> connected_{false};
};

// RedisClient sends commands and delivers replies on its strand.
class RedisClient : public Connection {
 public:
  RedisClient(boost::asio::any_io_executor executor, Options options)
      : Connection(std::move(executor), std::move(options)) {}

  // Command sends args (one Redis command, binary-safe) and calls cb on the
  // client's strand with the reply. Thread-safe; never blocks.
  void Command(std::vector<std::string> args, Callback cb);

 private:
  static void ReplyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  void DoCommand(std::vector<std::string> args, Callback cb);
  size_t in_flight_ = 0;  // On strand.
  friend struct CommandCall;
};

// RedisSubscriber keeps a set of topics subscribed and hands every message to
// the handler on its strand. After a reconnect it re-subscribes everything and
// calls the resubscribed hook, since messages published meanwhile were lost.
class RedisSubscriber : public Connection {
 public:
  using MessageHandler = std::function<void(const std::string& topic, std::string payload)>;
  using TopicHandler = std::function<void(const std::string& topic)>;

  // on_subscribed runs each time Redis confirms a subscription (again after a
  // reconnect): from then on, messages published to the topic arrive.
  // on_disconnected runs when the connection drops: nothing arrives until the
  // topics are confirmed again.
  RedisSubscriber(boost::asio::any_io_executor executor, Options options, MessageHandler on_message,
                  std::function<void()> on_resubscribed, TopicHandler on_subscribed = nullptr,
                  std::function<void()> on_disconnected = nullptr)
      : Connection(std::move(executor), std::move(options)),
        on_message_(std::move(on_message)),
        on_resubscribed_(std::move(on_resubscribed)),
        on_subscribed_(std::move(on_subscribed)),
        on_disconnected_(std::move(on_disconnected)) {}

  // Subscribe and Unsubscribe change the topic set. Thread-safe; idempotent.
  void Subscribe(const std::string& topic);
  void Unsubscribe(const std::string& topic);

 private:
  void OnConnected() override;
  void OnDisconnected() override {
    if (on_disconnected_) on_disconnected_();
  }
  void SendSubscription(const char* verb, const std::string& topic);
  static void MessageTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;

  MessageHandler on_message_;
  std::function<void()> on_resubscribed_;
  TopicHandler on_subscribed_;
  std::function<void()> on_disconnected_;
  absl::flat_hash_set<std::string> topics_;  // On strand.
  bool ever_connected_ = false;
};

// Batch sends cmds back to back (pipelined) and calls done once with all
// replies in order, or with the first failure. Thread-safe.
void Batch(RedisClient& client, std::vector<std::vector<std::string>> cmds,
           absl::AnyInvocable<void(absl::StatusOr<std::vector<Reply>>)> done);

// ConvertReply copies a hiredis reply; error replies become kInternal.
absl::StatusOr<Reply> ConvertReply(const redisReply* reply);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLIENT_H_
