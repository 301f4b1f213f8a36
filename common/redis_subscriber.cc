#include "common/redis_subscriber.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <string>

namespace chat::redis {

namespace asio = boost::asio;

void RedisSubscriber::Subscribe(const std::string& topic) {
  asio::post(strand(),
             [self = std::static_pointer_cast<RedisSubscriber>(shared_from_this()), topic] {
               if (self->topics_.insert(topic).second) self->SendSubscription("SUBSCRIBE", topic);
             });
}

void RedisSubscriber::Unsubscribe(const std::string& topic) {
  asio::post(strand(),
             [self = std::static_pointer_cast<RedisSubscriber>(shared_from_this()), topic] {
               if (self->topics_.erase(topic) > 0) self->SendSubscription("UNSUBSCRIBE", topic);
             });
}

void RedisSubscriber::Renew(const std::string& topic) {
  asio::post(strand(),
             [self = std::static_pointer_cast<RedisSubscriber>(shared_from_this()), topic] {
               if (self->topics_.contains(topic)) self->SendSubscription("SUBSCRIBE", topic);
             });
}

void RedisSubscriber::SendSubscription(const char* verb, const std::string& topic) {
  if (context() == nullptr || !connected()) return;  // OnConnected sends the whole set.
  const char* argv[2] = {verb, topic.data()};
  size_t argvlen[2] = {std::char_traits<char>::length(verb), topic.size()};
  if (redisAsyncCommandArgv(context(), &RedisSubscriber::MessageTrampoline, this, 2, argv,
                            argvlen) == REDIS_OK) {
    mutable_stats().commands.fetch_add(1, std::memory_order_relaxed);
  }
}

void RedisSubscriber::OnConnected() {
  for (const std::string& topic : topics_) SendSubscription("SUBSCRIBE", topic);
  if (ever_connected_ && on_resubscribed_) on_resubscribed_();
  ever_connected_ = true;
}

void RedisSubscriber::MessageTrampoline(redisAsyncContext*, void* reply, void* privdata) noexcept {
  auto* r = static_cast<redisReply*>(reply);
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
  const redisReply* kind = r->element[0];
  const redisReply* topic = r->element[1];
  if (kind->type != REDIS_REPLY_STRING || topic->type != REDIS_REPLY_STRING) return;
  auto* self = static_cast<RedisSubscriber*>(privdata);
  absl::string_view k(kind->str, kind->len);
  if (k == "subscribe") {
    if (self->on_subscribed_) self->on_subscribed_(std::string(topic->str, topic->len));
    return;
  }
  if (k != "message") return;
  const redisReply* payload = r->element[2];
  self->on_message_(std::string(topic->str, topic->len), std::string(payload->str, payload->len));
}

}  // namespace chat::redis
