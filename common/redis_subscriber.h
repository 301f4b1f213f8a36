// Pub/sub over Redis's sharded channels (SSUBSCRIBE, SPUBLISH): every topic
// is a shard channel, so in a Redis Cluster its messages stay on the shard
// that owns its slot, and one instance serves them the same way. PubSub is
// what the gateway's TopicRegistry subscribes through: RedisSubscriber (one
// instance, one connection) or ClusterSubscriber (redis_cluster_subscriber.h,
// one per master).
#ifndef CHATSUITE_COMMON_REDIS_SUBSCRIBER_H_
#define CHATSUITE_COMMON_REDIS_SUBSCRIBER_H_

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "common/redis_connection.h"

struct redisReply;

namespace chat::redis {

// PubSubHandlers: every handler runs on the subscriber's strand() and must
// not block. on_message gets each message; on_subscribed runs each time
// Redis confirms a topic's subscription (again after a reconnect or a
// move): from then on, messages published to it arrive. on_resubscribed
// runs after a reconnect re-subscribed a connection's topics, and on_moved
// once a topic whose subscription Redis dropped (its slot moved to another
// shard) is confirmed again: messages published in between were lost.
// on_disconnected runs when a connection drops: nothing arrives on its
// topics until they are confirmed again. ClusterSubscriber, whose one
// connection per master can drop alone, calls on_unconfirmed instead, once
// for each topic that connection carried (and for a topic Redis dropped).
// Any may be null but on_message.
struct PubSubHandlers {
  std::function<void(const std::string& topic, std::string payload)> on_message;
  std::function<void()> on_resubscribed;
  std::function<void(const std::string& topic)> on_subscribed;
  std::function<void()> on_disconnected;
  std::function<void(const std::string& topic)> on_moved;
  std::function<void(const std::string& topic)> on_unconfirmed;
};

class PubSub {
 public:
  virtual ~PubSub() = default;
  // Start connects and keeps reconnecting until Stop; Reconnect drops every
  // connection (however silent) and connects again. Thread-safe. Stop takes
  // effect on strand(): handlers already queued there may still run, none
  // after it.
  virtual void Start() = 0;
  virtual void Stop() = 0;
  virtual void Reconnect() = 0;
  // Subscribe and Unsubscribe change the topic set. Thread-safe; idempotent.
  virtual void Subscribe(const std::string& topic) = 0;
  virtual void Unsubscribe(const std::string& topic) = 0;
  // Renew subscribes a topic of the set again: it restores a subscription
  // Redis no longer holds, and is a no-op for one it does. Thread-safe.
  virtual void Renew(const std::string& topic) = 0;
  // connected: every connection the topic set needs is up (racy by nature).
  virtual bool connected() const = 0;
  // strand: where every handler runs; work posted here is serialized with them.
  virtual Connection::Strand& strand() = 0;
  // Connections lists its connections for AppendRedisMetrics, labelled
  // "<name>" (or "<name>:<host>:<port>", one per node). Thread-safe.
  virtual std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> Connections(
      const std::string& name) const = 0;
};

// RedisSubscriber keeps a set of topics subscribed on one connection. After a
// reconnect it subscribes everything again and calls on_resubscribed.
class RedisSubscriber : public Connection, public PubSub {
 public:
  using MessageHandler = std::function<void(const std::string& topic, std::string payload)>;
  using TopicHandler = std::function<void(const std::string& topic)>;

  RedisSubscriber(boost::asio::any_io_executor executor, Options options, PubSubHandlers handlers)
      : Connection(std::move(executor), std::move(options)),
        handlers_(std::move(handlers)),
        retry_(strand()) {}
  RedisSubscriber(boost::asio::any_io_executor executor, Options options, MessageHandler on_message,
                  std::function<void()> on_resubscribed, TopicHandler on_subscribed = nullptr,
                  std::function<void()> on_disconnected = nullptr)
      : RedisSubscriber(std::move(executor), std::move(options),
                        PubSubHandlers{std::move(on_message), std::move(on_resubscribed),
                                       std::move(on_subscribed), std::move(on_disconnected),
                                       nullptr, nullptr}) {}

  // SetDropHandler (before Start) replaces what happens when Redis drops a
  // topic of the set by itself (a cluster node whose slot moved away) or
  // refuses to subscribe it (MOVED): the topic leaves this subscriber's set
  // and on_dropped decides where it goes (ClusterSubscriber). Without one,
  // the subscriber subscribes it again and calls on_moved once confirmed.
  void SetDropHandler(TopicHandler on_dropped) { on_dropped_ = std::move(on_dropped); }

  void Start() override { Connection::Start(); }
  void Stop() override { Connection::Stop(); }
  void Reconnect() override { Connection::Reconnect(); }
  void Subscribe(const std::string& topic) override;
  void Unsubscribe(const std::string& topic) override;
  void Renew(const std::string& topic) override;
  bool connected() const override { return Connection::connected(); }
  Strand& strand() override { return Connection::strand(); }
  std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> Connections(
      const std::string& name) const override {
    return {{name, shared_from_this()}};
  }

 private:
  void OnConnected() override;
  void OnDisconnected() override;
  void HandleReadable() override;
  void OnPush(const redisReply* reply);
  void Dropped(const std::string& topic);
  // RetryLater subscribes a refused topic again in a second.
  void RetryLater(const std::string& topic);
  void SendSubscription(const char* verb, const std::string& topic);

  PubSubHandlers handlers_;
  TopicHandler on_dropped_;
  absl::flat_hash_set<std::string> topics_;  // On strand.
  // Subscription commands awaiting their reply, in order: Redis answers each
  // (a confirmation or an error) between the messages it pushes.
  std::deque<std::pair<bool, std::string>> pending_;  // (subscribe?, topic); on strand.
  absl::flat_hash_set<std::string> regained_;         // Dropped, subscribed again; on strand.
  absl::flat_hash_set<std::string> refused_;          // To subscribe again; on strand.
  boost::asio::steady_timer retry_;
  bool retry_armed_ = false;
  bool ever_connected_ = false;
};

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_SUBSCRIBER_H_
