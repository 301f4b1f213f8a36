// The Redis connection layer: hiredis's redisAsyncContext driven by a
// Boost.Asio executor (hiredis 0.14 ships no Asio adapter). Connection is the
// adapter that RedisClient (request/reply, redis_client.h) and
// RedisSubscriber (pub/sub, redis_subscriber.h) build on: one socket, one
// strand, automatic reconnect. Reply is a copy of one hiredis reply tree.
#ifndef CHATSUITE_COMMON_REDIS_CONNECTION_H_
#define CHATSUITE_COMMON_REDIS_CONNECTION_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

// ConvertReply copies a hiredis reply; error replies become kInternal, a null
// reply (connection lost) kUnavailable.
absl::StatusOr<Reply> ConvertReply(const redisReply* reply);

// ConnectionStats counts what a connection did, for metrics. Lock-free.
struct ConnectionStats {
  std::atomic<uint64_t> commands{0};          // Commands written to Redis.
  std::atomic<uint64_t> connects{0};          // Successful (re)connects.
  std::atomic<uint64_t> disconnects{0};       // Established connections lost.
  std::atomic<uint64_t> connect_failures{0};  // Connection attempts that failed.
  std::atomic<uint64_t> not_connected{0};     // Commands failed at once: no connection.
  std::atomic<uint64_t> overloaded{0};        // Commands failed at once: max_in_flight.
  std::atomic<uint64_t> connection_lost{0};   // Commands whose connection dropped first.
  std::atomic<uint64_t> error_replies{0};     // Commands Redis answered with an error.
};

// AppendRedisMetrics appends chat_redis_connected, chat_redis_commands_total,
// chat_redis_errors_total{kind} and chat_redis_reconnects_total for each of
// a binary's connections, labelled connection="<name>".
class Connection;
void AppendRedisMetrics(const std::vector<std::pair<std::string, const Connection*>>& connections,
                        std::string* out);
void AppendRedisMetrics(
    const std::vector<std::pair<std::string, std::shared_ptr<const Connection>>>& connections,
    std::string* out);

// Connection is the Asio adapter shared by both modes. All hiredis calls happen
// on strand(). Not for direct use.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;
  // StateHandler is told true after each (re)connect and false after each
  // loss of an established connection; it runs on strand() and must not block.
  using StateHandler = std::function<void(bool connected)>;

  Connection(boost::asio::any_io_executor executor, Options options);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // SetStateHandler installs the state handler; call before Start.
  void SetStateHandler(StateHandler handler) { on_state_ = std::move(handler); }
  // Start connects (and keeps reconnecting until Stop). Thread-safe.
  void Start();
  // Reconnect drops the connection (however silent its peer) and connects
  // again. Thread-safe.
  void Reconnect();
  // Stop disconnects for good; pending callbacks get kUnavailable. Thread-safe.
  void Stop();
  // connected reports whether the connection is up (racy by nature; for
  // readiness probes and metrics).
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  Strand& strand() { return strand_; }
  const ConnectionStats& stats() const { return stats_; }

 protected:
  // OnConnected runs on strand() after each successful (re)connect;
  // OnDisconnected after each loss of an established connection.
  virtual void OnConnected() {}
  virtual void OnDisconnected() {}
  // HandleReadable runs on strand() when the socket has data. By default
  // hiredis reads it and runs each command's callback; a connection whose
  // replies are pushes (RedisSubscriber) reads them itself.
  virtual void HandleReadable();
  // FlushSoon has hiredis write its output buffer once the socket is
  // writable (for commands appended to the context directly).
  void FlushSoon() {
    want_write_ = true;
    ArmWrite();
  }
  redisAsyncContext* context() { return ac_; }
  const Options& options() const { return options_; }
  ConnectionStats& mutable_stats() { return stats_; }

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
  StateHandler on_state_;
  boost::asio::steady_timer reconnect_timer_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  redisAsyncContext* ac_ = nullptr;
  bool want_read_ = false, want_write_ = false;
  bool reading_ = false, writing_ = false;
  bool stopped_ = false;
  std::atomic<bool> connected_{false};
  ConnectionStats stats_;
};

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CONNECTION_H_
