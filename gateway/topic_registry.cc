#include "gateway/topic_registry.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

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
                             Metrics* metrics, TailFetcher fetch_tail)
    : metrics_(metrics), fetch_tail_(std::move(fetch_tail)) {
  redis_ = std::make_shared<redis::RedisSubscriber>(
      executor, std::move(redis),
      [this](const std::string& topic, std::string payload) { Dispatch(topic, payload); },
      [this] {
        spdlog::warn("event=pubsub_resubscribed");
        OnResubscribed();
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
    boost::asio::post(redis_->strand(), [this, topic] { streams_.erase(topic); });
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
  auto encoded = std::make_shared<const EncodedEvent>(topic, *std::move(event));
  if (encoded->event().has_chat_message() && fetch_tail_) return Sequence(encoded);
  Fanout(encoded);
}

void TopicRegistry::Sequence(const std::shared_ptr<const EncodedEvent>& event) {
  ChannelStream& st = streams_[event->topic()];
  const ChatMessage& m = event->event().chat_message();
  if (st.server.empty()) {
    st.server = m.server();
    st.channel = m.channel();
  }
  if (st.filling) {
    if (st.held.size() < kMaxHeld) {
      st.held.push_back(event);
    } else {
      metrics_->dropped_events.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (st.last_seq >= 0 && m.seq() <= st.last_seq) return;  // Already passed on.
  if (st.last_seq >= 0 && m.seq() > st.last_seq + 1) {
    st.filling = true;
    st.held.push_back(event);
    return FillGap(event->topic());
  }
  st.last_seq = m.seq();
  Fanout(event);
}

void TopicRegistry::FillGap(const std::string& topic) {
  auto it = streams_.find(topic);
  if (it == streams_.end()) return;
  metrics_->gap_fills.fetch_add(1, std::memory_order_relaxed);
  fetch_tail_(it->second.server, it->second.channel, it->second.last_seq,
              [this, topic, redis = redis_,
               alive = std::weak_ptr<int>(alive_)](absl::StatusOr<HistoryResponse> tail) mutable {
                if (alive.expired()) return;
                boost::asio::post(redis->strand(), [this, topic, tail = std::move(tail)]() mutable {
                  OnTail(topic, std::move(tail));
                });
              });
}

void TopicRegistry::OnTail(const std::string& topic, absl::StatusOr<HistoryResponse> tail) {
  auto it = streams_.find(topic);
  if (it == streams_.end()) return;  // Unsubscribed meanwhile.
  ChannelStream& st = it->second;
  if (!tail.ok()) {
    if (++st.attempts < kMaxAttempts) {
      auto timer = std::make_shared<boost::asio::steady_timer>(redis_->strand(),
                                                               std::chrono::milliseconds(200));
      timer->async_wait([this, timer, topic](boost::system::error_code ec) {
        if (!ec) FillGap(topic);
      });
      return;
    }
    spdlog::error("event=gap_fill_failed topic={} error=\"{}\"", topic,
                  std::string(tail.status().message()));
    st.attempts = 0;
    st.last_seq = -1;  // Start over from whatever arrives next.
  } else {
    st.attempts = 0;
    for (ChatMessage& m : *tail->mutable_messages()) {
      if (m.seq() <= st.last_seq) continue;
      st.last_seq = m.seq();
      m.set_type("chat_message");
      Event e;
      *e.mutable_chat_message() = std::move(m);
      Fanout(std::make_shared<const EncodedEvent>(topic, std::move(e)));
    }
    if (tail->messages_size() > 0 && st.last_seq < tail->head_seq()) return FillGap(topic);
  }
  Drain(topic);
}

void TopicRegistry::Drain(const std::string& topic) {
  ChannelStream& st = streams_[topic];
  while (!st.held.empty()) {
    std::shared_ptr<const EncodedEvent> e = st.held.front();
    const int64_t seq = e->event().chat_message().seq();
    if (st.last_seq >= 0 && seq > st.last_seq + 1) {
      // The log did not have what lies between (trimmed): pass the gap on;
      // clients see it in the seqs and page history themselves.
      spdlog::warn("event=gap_unfilled topic={} from={} to={}", topic, st.last_seq + 1, seq - 1);
    }
    st.held.pop_front();
    if (seq <= st.last_seq) continue;
    st.last_seq = seq;
    Fanout(e);
  }
  st.filling = false;
}

void TopicRegistry::OnResubscribed() {
  // Everything published while the subscription was down is in the logs.
  for (auto& [topic, st] : streams_) {
    if (st.last_seq < 0 || st.filling) continue;
    st.filling = true;
    FillGap(topic);
  }
}

void TopicRegistry::Fanout(const std::shared_ptr<const EncodedEvent>& encoded) {
  const std::string& topic = encoded->topic();
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
  for (const std::weak_ptr<Subscriber>& weak : *snapshot) {
    if (std::shared_ptr<Subscriber> s = weak.lock()) s->Deliver(encoded);
  }
}

}  // namespace chat::gateway
