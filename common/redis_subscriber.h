// RedisSubscriber: a Redis connection in pub/sub mode (redis_connection.h)
// that keeps a set of topics subscribed across reconnects and hands every
// message to a handler on its strand.
#ifndef CHATSUITE_COMMON_REDIS_SUBSCRIBER_H_
#define CHATSUITE_COMMON_REDIS_SUBSCRIBER_H_

#include <functional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "common/redis_connection.h"

namespace chat::redis {

// RedisSubscriber keeps a set of topics subscribed. After a reconnect it
// re-subscribes everything and calls the resubscribed hook, since messages
// published meanwhile were lost.
class RedisSubscriber : public Connection {
 public:
  using MessageHandler = std::function<void(const std::string& topic, std::string payload)>;
  using TopicHandler = std::function<void(const std::string& topic)>;

  // Every handler runs on strand() and must not block. on_message gets each
  // message; on_subscribed runs each time Redis confirms a subscription
  // (again after a reconnect): from then on, messages published to the topic
  // arrive. on_disconnected runs when the connection drops: nothing arrives
  // until the topics are confirmed again.
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
  // Renew sends SUBSCRIBE again for a topic in the set: it restores a
  // subscription Redis no longer holds, and is a no-op for one it does.
  // Thread-safe.
  void Renew(const std::string& topic);

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

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_SUBSCRIBER_H_
