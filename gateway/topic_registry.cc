#include "gateway/topic_registry.h"

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gateway/frame_codec.h"

namespace chat::gateway {

EncodedEvent::EncodedEvent(std::string topic, Event event)
    : topic_(std::move(topic)), event_(std::move(event)) {}

const std::string& EncodedEvent::Json() const {
  absl::call_once(json_once_, [this] {
    switch (event_.event_case()) {
      case Event::kChatMessage:
        json_ = ChatEventJson(event_.chat_message());
        break;
      case Event::kServerJoined: {
        ServerJoined joined;
        joined.set_type("server_joined");
        *joined.mutable_server() = event_.server_joined();
        json_ = ToJson(joined);
        break;
      }
      case Event::kInvitation:
        json_ = ToJson(event_.invitation());
        break;
      case Event::kPresence:
        json_ = ToJson(event_.presence());
        break;
      case Event::kTyping:
        json_ = ToJson(event_.typing());
        break;
      default:
        break;
    }
  });
  return json_;
}

const std::string& EncodedEvent::Binary() const {
  absl::call_once(binary_once_, [this] {
    switch (event_.event_case()) {
      case Event::kChatMessage:
        binary_ = ChatEventBinary(event_.chat_message());
        break;
      case Event::kServerJoined: {
        ServerFrame frame;
        frame.mutable_server_joined()->set_type("server_joined");
        *frame.mutable_server_joined()->mutable_server() = event_.server_joined();
        binary_ = frame.SerializeAsString();
        break;
      }
      case Event::kInvitation: {
        ServerFrame frame;
        *frame.mutable_invitation() = event_.invitation();
        binary_ = frame.SerializeAsString();
        break;
      }
      case Event::kPresence: {
        ServerFrame frame;
        *frame.mutable_presence() = event_.presence();
        binary_ = frame.SerializeAsString();
        break;
      }
      case Event::kTyping: {
        ServerFrame frame;
        *frame.mutable_typing() = event_.typing();
        binary_ = frame.SerializeAsString();
        break;
      }
      default:
        break;
    }
  });
  return binary_;
}

const std::string& EncodedEvent::SeedJson() const {
  absl::call_once(seed_once_, [this] {
    if (event_.has_chat_message()) seed_ = SeedChatJson(event_.chat_message());
    if (event_.has_invitation()) seed_ = SeedInvitationJson(event_.invitation());
  });
  return seed_;
}

absl::StatusOr<Event> ParseTopicPayload(const std::string& payload) {
  size_t space = payload.find(' ');
  int64_t seq = 0;
  if (space == std::string::npos || !absl::SimpleAtoi(payload.substr(0, space), &seq)) {
    return absl::InvalidArgumentError("topic payload has no seq prefix");
  }
  Event event;
  if (!event.ParseFromArray(payload.data() + space + 1,
                            static_cast<int>(payload.size() - space - 1))) {
    return absl::InvalidArgumentError("undecodable event");
  }
  if (event.has_chat_message()) {
    event.mutable_chat_message()->set_seq(seq);
    event.mutable_chat_message()->set_type("chat_message");
  }
  return event;
}

TopicRegistry::TopicRegistry(boost::asio::any_io_executor executor, redis::Options redis,
                             Metrics* metrics)
    : metrics_(metrics) {
  redis_ = std::make_shared<redis::RedisSubscriber>(
      executor, std::move(redis),
      [this](const std::string& topic, std::string payload) { Dispatch(topic, payload); },
      [] {
        // Events published while the subscription was down are gone; clients
        // recover them from history (see docs/protocol.md).
        spdlog::warn("event=pubsub_resubscribed");
      },
      [this](const std::string& topic) { OnSubscribed(topic); },
      [this] {
        absl::MutexLock lock(&mu_);
        for (auto& [name, topic] : topics_) topic.live = false;
      });
}

void TopicRegistry::Start() { redis_->Start(); }
void TopicRegistry::Stop() { redis_->Stop(); }

void TopicRegistry::Add(const std::string& topic, const std::shared_ptr<Subscriber>& s,
                        absl::AnyInvocable<void()> on_live) {
  bool first = false;
  bool live = false;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = topics_.try_emplace(topic);
    first = inserted;
    live = it->second.live;
    if (it->second.members.emplace(s.get(), s).second) it->second.dirty = true;
    if (on_live != nullptr && !live) it->second.live_waiters.push_back(std::move(on_live));
  }
  if (on_live != nullptr && live) on_live();
  if (first) {
    metrics_->topics.fetch_add(1, std::memory_order_relaxed);
    redis_->Subscribe(topic);
  }
}

void TopicRegistry::Remove(const std::string& topic, Subscriber* s) {
  bool last = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.members.erase(s) == 0) return;
    it->second.dirty = true;
    if (it->second.members.empty()) {
      topics_.erase(it);
      last = true;
    }
  }
  if (last) {
    metrics_->topics.fetch_sub(1, std::memory_order_relaxed);
    redis_->Unsubscribe(topic);
  }
}

void TopicRegistry::OnSubscribed(const std::string& topic) {
  std::vector<absl::AnyInvocable<void()>> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    it->second.live = true;
    waiters.swap(it->second.live_waiters);
  }
  for (auto& w : waiters) w();
}

size_t TopicRegistry::topic_count() const {
  absl::MutexLock lock(&mu_);
  return topics_.size();
}

void TopicRegistry::Dispatch(const std::string& topic, const std::string& payload) {
  metrics_->pubsub_messages.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<Event> event = ParseTopicPayload(payload);
  if (!event.ok()) {
    spdlog::error("event=bad_topic_payload topic={} error=\"{}\"", topic,
                  std::string(event.status().message()));
    return;
  }
  if (event->has_chat_message()) {
    metrics_->fanout_ms.Observe(static_cast<double>(absl::ToUnixMicros(absl::Now())) / 1000.0 -
                                static_cast<double>(event->chat_message().sent_at()));
  }
  std::shared_ptr<const std::vector<std::weak_ptr<Subscriber>>> snapshot;
  {
    absl::MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    Topic& t = it->second;
    if (t.dirty) {
      auto list = std::make_shared<std::vector<std::weak_ptr<Subscriber>>>();
      list->reserve(t.members.size());
      for (const auto& [ptr, weak] : t.members) list->push_back(weak);
      t.snapshot = std::move(list);
      t.dirty = false;
    }
    snapshot = t.snapshot;
  }
  auto encoded = std::make_shared<const EncodedEvent>(topic, *std::move(event));
  for (const std::weak_ptr<Subscriber>& weak : *snapshot) {
    if (std::shared_ptr<Subscriber> s = weak.lock()) s->Deliver(encoded);
  }
}

}  // namespace chat::gateway
