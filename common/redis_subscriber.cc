#include "common/redis_subscriber.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <string>

#include "absl/strings/match.h"
#include "common/logging.h"

namespace chat::redis {

namespace asio = boost::asio;

void RedisSubscriber::Subscribe(const std::string& topic) {
  asio::post(strand(),
             [self = std::static_pointer_cast<RedisSubscriber>(shared_from_this()), topic] {
               if (self->topics_.insert(topic).second) self->SendSubscription("SSUBSCRIBE", topic);
             });
}

void RedisSubscriber::Unsubscribe(const std::string& topic) {
  asio::post(strand(),
             [self = std::static_pointer_cast<RedisSubscriber>(shared_from_this()), topic] {
               self->regained_.erase(topic);
               if (self->topics_.erase(topic) > 0) self->SendSubscription("SUNSUBSCRIBE", topic);
             });
}

void RedisSubscriber::Renew(const std::string& topic) {
  asio::post(strand(),
             [self = std::static_pointer_cast<RedisSubscriber>(shared_from_this()), topic] {
               if (self->topics_.contains(topic)) self->SendSubscription("SSUBSCRIBE", topic);
             });
}

void RedisSubscriber::SendSubscription(const char* verb, const std::string& topic) {
  redisAsyncContext* ac = context();
  if (ac == nullptr || !Connection::connected()) return;  // OnConnected sends the whole set.
  const char* argv[2] = {verb, topic.data()};
  size_t argvlen[2] = {std::char_traits<char>::length(verb), topic.size()};
  // Written through the context's output buffer, not as an async command:
  // hiredis 0.14 knows nothing of shard channels, and would take their
  // pushes for replies to commands. HandleReadable reads them instead.
  if (redisAppendCommandArgv(&ac->c, 2, argv, argvlen) != REDIS_OK) return;
  pending_.emplace_back(verb[1] == 'S', topic);  // SSUBSCRIBE vs SUNSUBSCRIBE.
  mutable_stats().commands.fetch_add(1, std::memory_order_relaxed);
  FlushSoon();
}

void RedisSubscriber::OnConnected() {
  pending_.clear();
  for (const std::string& topic : topics_) SendSubscription("SSUBSCRIBE", topic);
  if (ever_connected_ && handlers_.on_resubscribed) handlers_.on_resubscribed();
  ever_connected_ = true;
}

void RedisSubscriber::OnDisconnected() {
  pending_.clear();
  if (handlers_.on_disconnected) handlers_.on_disconnected();
}

void RedisSubscriber::HandleReadable() {
  redisAsyncContext* ac = context();
  if (redisBufferRead(&ac->c) != REDIS_OK) {
    // The error is recorded on the context: the disconnect reports it, and
    // the usual reconnect follows.
    redisAsyncDisconnect(ac);
    return;
  }
  for (;;) {
    void* reply = nullptr;
    if (redisGetReply(&ac->c, &reply) != REDIS_OK) {
      redisAsyncDisconnect(ac);
      return;
    }
    if (reply == nullptr) return;
    OnPush(static_cast<const redisReply*>(reply));
    freeReplyObject(reply);
  }
}

void RedisSubscriber::OnPush(const redisReply* r) {
  if (r->type == REDIS_REPLY_ERROR) {
    // A refused subscription command: the oldest one waiting.
    mutable_stats().error_replies.fetch_add(1, std::memory_order_relaxed);
    if (pending_.empty()) return;
    auto [subscribe, topic] = std::move(pending_.front());
    pending_.pop_front();
    static LogLimiter limiter(10);
    uint64_t suppressed = 0;
    if (limiter.Allow(&suppressed)) {
      spdlog::warn("event=redis_subscribe_refused topic={} error=\"{}\" suppressed={}", topic,
                   std::string(r->str, r->len), suppressed);
    }
    if (!subscribe || !topics_.contains(topic)) return;
    // In a cluster the topic goes where the map says (MOVED, CLUSTERDOWN
    // while a failover runs); on one instance it is asked for again.
    if (on_dropped_) return Dropped(topic);
    RetryLater(topic);
    return;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
  const redisReply* kind = r->element[0];
  const redisReply* topic_r = r->element[1];
  if (kind->type != REDIS_REPLY_STRING || topic_r->type != REDIS_REPLY_STRING) return;
  absl::string_view k(kind->str, kind->len);
  std::string topic(topic_r->str, topic_r->len);
  if (k == "smessage") {
    const redisReply* payload = r->element[2];
    handlers_.on_message(topic, std::string(payload->str, payload->len));
    return;
  }
  const bool subscribe = k == "ssubscribe";
  if (!subscribe && k != "sunsubscribe") return;
  const bool answered =
      !pending_.empty() && pending_.front().first == subscribe && pending_.front().second == topic;
  if (answered) pending_.pop_front();
  if (subscribe) {
    if (!topics_.contains(topic)) return;  // Unsubscribed meanwhile; its SUNSUBSCRIBE follows.
    if (handlers_.on_subscribed) handlers_.on_subscribed(topic);
    if (regained_.erase(topic) > 0 && handlers_.on_moved) handlers_.on_moved(topic);
    return;
  }
  // An sunsubscribe nobody asked for: Redis dropped the topic (a cluster
  // node does when the topic's slot moves to another shard).
  if (!answered && topics_.contains(topic)) Dropped(topic);
}

void RedisSubscriber::RetryLater(const std::string& topic) {
  refused_.insert(topic);
  if (retry_armed_) return;
  retry_armed_ = true;
  retry_.expires_after(std::chrono::seconds(1));
  retry_.async_wait([self = std::static_pointer_cast<RedisSubscriber>(shared_from_this())](
                        boost::system::error_code ec) {
    self->retry_armed_ = false;
    if (ec) return;
    absl::flat_hash_set<std::string> refused;
    refused.swap(self->refused_);
    for (const std::string& t : refused) {
      if (self->topics_.contains(t)) self->SendSubscription("SSUBSCRIBE", t);
    }
  });
}

void RedisSubscriber::Dropped(const std::string& topic) {
  if (on_dropped_) {
    topics_.erase(topic);
    regained_.erase(topic);
    on_dropped_(topic);
    return;
  }
  regained_.insert(topic);
  SendSubscription("SSUBSCRIBE", topic);
}

}  // namespace chat::redis
