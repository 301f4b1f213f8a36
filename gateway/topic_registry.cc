#include "gateway/topic_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "absl/time/clock.h"
#include "common/keys.h"
#include "common/logging.h"
#include "common/redis_cluster_subscriber.h"

namespace chat::gateway {

TopicRegistry::TopicRegistry(boost::asio::any_io_executor executor, redis::Options redis,
                             Metrics* metrics, LogReaders readers,
                             std::shared_ptr<redis::ClusterClient> cluster)
    : metrics_(metrics),
      readers_(std::move(readers)),
      redis_options_(redis),
      cluster_(std::move(cluster)) {
  redis::PubSubHandlers handlers;
  handlers.on_message = [this](const std::string& topic, std::string payload) {
    Dispatch(topic, payload);
  };
  handlers.on_resubscribed = [this] {
    spdlog::warn("event=pubsub_resubscribed");
    // Everything published while the subscription was down is in the logs.
    for (auto& [topic, sequencer] : sequencers_) sequencer->Resync();
    std::vector<std::string> based;
    for (const auto& [topic, base] : bases_) based.push_back(topic);
    for (const std::string& topic : based) FillFromBase(topic);
  };
  handlers.on_subscribed = [this](const std::string& topic) { OnSubscribed(topic); };
  handlers.on_disconnected = [this] {
    canary_ok_ = false;  // Until one comes back over the new connection.
    absl::MutexLock lock(&mu_);
    for (auto& [name, topic] : topics_) topic.live = false;
  };
  handlers.on_moved = [this](const std::string& topic) { OnMoved(topic); };
  handlers.on_unconfirmed = [this](const std::string& topic) {
    if (topic == canary_topic_) canary_ok_ = false;
    absl::MutexLock lock(&mu_);
    if (auto it = topics_.find(topic); it != topics_.end()) it->second.live = false;
  };
  if (cluster_ != nullptr) {
    redis_ = std::make_shared<redis::ClusterSubscriber>(executor, cluster_, std::move(redis),
                                                        std::move(handlers));
  } else {
    redis_ =
        std::make_shared<redis::RedisSubscriber>(executor, std::move(redis), std::move(handlers));
  }
}

void TopicRegistry::OnMoved(const std::string& topic) {
  // Its subscription moved to another shard: what was published meanwhile
  // is in the log.
  metrics_->pubsub_moves.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("event=pubsub_topic_moved topic={}", topic);
  auto it = sequencers_.find(topic);
  if (it != sequencers_.end()) return it->second->Resync();
  // No event yet, but sessions were told a head: fill from it.
  FillFromBase(topic);
}

void TopicRegistry::EnableCanary(std::string topic, absl::Duration interval) {
  if (cluster_ != nullptr) {
    publisher_ = cluster_;
  } else {
    publisher_conn_ =
        std::make_shared<redis::RedisClient>(redis_->strand().get_inner_executor(), redis_options_);
    publisher_ = publisher_conn_;
  }
  canary_topic_ = std::move(topic);
  canary_interval_ = interval;
  canary_timer_ = std::make_unique<boost::asio::steady_timer>(redis_->strand());
}

void TopicRegistry::Start() {
  redis_->Start();
  if (publisher_ == nullptr) return;
  if (publisher_conn_ != nullptr) publisher_conn_->Start();
  redis_->Subscribe(canary_topic_);
  boost::asio::post(redis_->strand(), [this] {
    canary_since_ = absl::Now();
    CanaryTick();
  });
}

void TopicRegistry::Stop() {
  if (publisher_ != nullptr) {
    boost::asio::post(redis_->strand(), [this] { canary_timer_->cancel(); });
    if (publisher_conn_ != nullptr) publisher_conn_->Stop();
  }
  redis_->Stop();
}

void TopicRegistry::CanaryTick() {
  const absl::Time now = absl::Now();
  publisher_->Command({"SPUBLISH", canary_topic_, "0 "}, [](absl::StatusOr<redis::Reply>) {});
  const absl::Time last = std::max(canary_seen_, canary_since_);
  if (now - last > 3 * canary_interval_) {
    // The path is dead, however healthy the connection looks: start over.
    canary_ok_ = false;
    metrics_->canary_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("event=canary_lost topic={} silent_ms={}", canary_topic_,
                  absl::ToInt64Milliseconds(now - last));
    canary_since_ = now;
    redis_->Reconnect();
    if (publisher_conn_ != nullptr) publisher_conn_->Reconnect();
  }
  canary_timer_->expires_after(absl::ToChronoNanoseconds(canary_interval_));
  canary_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) CanaryTick();
  });
}

void TopicRegistry::Add(const std::string& topic, const std::shared_ptr<Subscriber>& s,
                        absl::AnyInvocable<void()> on_live) {
  bool first = false;
  absl::AnyInvocable<void()> run_now;  // on_live, when the topic is live already.
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = topics_.try_emplace(topic);
    first = inserted;
    if (it->second.members.emplace(s.get(), s).second) it->second.dirty = true;
    if (on_live != nullptr) {
      if (it->second.live) {
        run_now = std::move(on_live);
      } else {
        it->second.live_waiters.push_back(std::move(on_live));
      }
    }
  }
  if (run_now != nullptr) run_now();
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
    boost::asio::post(redis_->strand(), [this, topic] {
      sequencers_.erase(topic);
      bases_.erase(topic);
    });
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

int64_t TopicRegistry::SeenSeq(const std::string& topic) const {
  absl::MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second.high_seq;
}

size_t TopicRegistry::topic_count() const {
  absl::MutexLock lock(&mu_);
  return topics_.size();
}

void TopicRegistry::Dispatch(const std::string& topic, const std::string& payload) {
  if (publisher_ != nullptr && topic == canary_topic_) {
    canary_seen_ = absl::Now();
    canary_ok_ = true;
    return;
  }
  metrics_->pubsub_messages.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<std::shared_ptr<const EncodedEvent>> event = DecodeTopicPayload(topic, payload);
  if (!event.ok()) {
    spdlog::error("event=bad_topic_payload topic={} error=\"{}\"", topic,
                  std::string(event.status().message()));
    return;
  }
  const Event& e = (*event)->event();
  if (e.has_chat_message()) {
    metrics_->fanout_ms.Observe(static_cast<double>(absl::ToUnixMicros(absl::Now())) / 1000.0 -
                                static_cast<double>(e.chat_message().sent_at()));
  }
  if ((*event)->seq() > 0) return Sequence(*std::move(event));
  if (e.has_log_rollback()) {
    metrics_->log_rollbacks.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=log_rolled_back topic={} lost_from={} lost_to={}", topic,
                 e.log_rollback().from_seq(), e.log_rollback().to_seq());
  }
  Fanout(*event);
}

void TopicRegistry::NoteBases(std::vector<BaseNote> notes) {
  boost::asio::post(redis_->strand(), [this, notes = std::move(notes)]() mutable {
    absl::MutexLock lock(&mu_);  // For topics_; bases_ is the strand's.
    for (BaseNote& note : notes) {
      // Already sequenced, or its last subscriber left meanwhile.
      if (sequencers_.contains(note.topic) || !topics_.contains(note.topic)) continue;
      // The lowest head told: a later session may have read a higher one
      // before an earlier session's events arrived.
      auto [it, fresh] = bases_.try_emplace(
          std::move(note.topic), Base{note.seq, std::move(note.server), std::move(note.channel)});
      if (!fresh) it->second.seq = std::min(it->second.seq, note.seq);
    }
  });
}

ChannelSequencer* TopicRegistry::SequencerFromBase(const std::string& topic, int64_t below) {
  auto it = bases_.find(topic);
  if (it == bases_.end()) return nullptr;
  Base base = std::move(it->second);
  bases_.erase(it);
  // The base is where to fill from, never a reason to drop: an event at or
  // below it may still be on its way (published only once replicas
  // confirmed it) to subscribers no ready covered (seed sockets, later
  // joiners).
  base.seq = std::min(base.seq, below);
  if (sequencers_.contains(topic)) return nullptr;  // A repair made one meanwhile.
  LogRollback named;
  ChannelSequencer::FetchTail fetch = StreamOf(topic, base.server, base.channel, &named);
  if (!fetch) return nullptr;
  return &NewSequencer(topic, std::move(fetch), std::move(named), base.seq);
}

void TopicRegistry::FillFromBase(const std::string& topic) {
  if (ChannelSequencer* s = SequencerFromBase(topic)) s->CatchUpFrom(s->last_seq());
}

ChannelSequencer::FetchTail TopicRegistry::StreamOf(const std::string& topic,
                                                    const std::string& server,
                                                    const std::string& channel,
                                                    LogRollback* named) const {
  if (!server.empty()) {
    named->set_server(server);
    named->set_channel(channel);
    return readers_.ChannelStream(server, channel);
  }
  std::string user = keys::ParseUserTopic(topic);
  if (user.empty()) return nullptr;
  named->set_user_id(user);
  return readers_.PersonalStream(user);
}

void TopicRegistry::Sequence(std::shared_ptr<const EncodedEvent> event) {
  auto it = sequencers_.find(event->topic());
  if (it != sequencers_.end()) return it->second->Offer(std::move(event));
  // From the heads sessions were told: what lies between is read first.
  if (ChannelSequencer* based = SequencerFromBase(event->topic(), event->seq() - 1)) {
    return based->Offer(std::move(event));
  }
  const std::string topic = event->topic();
  LogRollback named;
  const Event& e = event->event();
  std::string server, channel;
  if (e.has_chat_message()) {
    server = e.chat_message().server();
    channel = e.chat_message().channel();
  } else if (e.has_message_update()) {
    server = e.message_update().server();
    channel = e.message_update().channel();
  } else if (e.has_message_delete()) {
    server = e.message_delete().server();
    channel = e.message_delete().channel();
  }
  ChannelSequencer::FetchTail fetch = StreamOf(topic, server, channel, &named);
  if (!fetch) return Fanout(event);  // Nothing to fill gaps from: pass events through.
  NewSequencer(topic, std::move(fetch), std::move(named), -1).Offer(std::move(event));
}

ChannelSequencer& TopicRegistry::NewSequencer(const std::string& topic,
                                              ChannelSequencer::FetchTail fetch, LogRollback named,
                                              int64_t last_seq) {
  auto sequencer = std::make_unique<ChannelSequencer>(
      redis_->strand(), topic, std::move(fetch),
      [this](const std::shared_ptr<const EncodedEvent>& e) { Fanout(e); }, metrics_, last_seq);
  // Events Redis lost after they were passed on: every local subscriber
  // is told (resync_required), as by the service's own announcement.
  sequencer->SetLost([this, topic, named](const ChannelSequencer::LostRange& lost) {
    if (!lost.rolled_back) return;
    Event e;
    *e.mutable_log_rollback() = named;
    e.mutable_log_rollback()->set_from_seq(lost.from);
    e.mutable_log_rollback()->set_to_seq(lost.to);
    Fanout(std::make_shared<const EncodedEvent>(topic, std::move(e), 0));
  });
  ChannelSequencer& ref = *sequencer;
  sequencers_[topic] = std::move(sequencer);
  return ref;
}

void TopicRegistry::Repair(const std::string& topic, ChannelSequencer::FetchTail fetch,
                           LogRollback named, int64_t after) {
  {
    // Every stalled client of the topic asks: one repair a second is enough.
    absl::MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    const absl::Time now = absl::Now();
    if (it == topics_.end() || now - it->second.repaired_at < absl::Seconds(1)) return;
    it->second.repaired_at = now;
  }
  static LogLimiter limiter(20);
  uint64_t suppressed = 0;
  if (limiter.Allow(&suppressed)) {
    spdlog::warn("event=subscription_repair topic={} after={} suppressed={}", topic, after,
                 suppressed);
  }
  redis_->Renew(topic);
  boost::asio::post(redis_->strand(), [this, topic, fetch = std::move(fetch),
                                       named = std::move(named), after]() mutable {
    {
      absl::MutexLock lock(&mu_);
      if (!topics_.contains(topic)) return;  // Nobody here follows it any more.
    }
    auto it = sequencers_.find(topic);
    if (it != sequencers_.end() && it->second->last_seq() >= 0) return it->second->Resync();
    if (it != sequencers_.end()) return it->second->CatchUpFrom(after);
    NewSequencer(topic, std::move(fetch), std::move(named), after).CatchUpFrom(after);
  });
}

int64_t TopicRegistry::KnownHead(const std::string& topic) const {
  absl::MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : std::max(it->second.high_seq, it->second.noted_head);
}

void TopicRegistry::NoteHead(const std::string& topic, int64_t seq) {
  absl::MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  if (it != topics_.end()) it->second.noted_head = std::max(it->second.noted_head, seq);
}

bool TopicRegistry::TakeProbe(const std::string& topic, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end() || now - it->second.probed_at < probe_interval_) return false;
  if (!probe_budget_.Take(now, nullptr)) return false;
  it->second.probed_at = now;
  return true;
}

void TopicRegistry::SetProbeLimits(absl::Duration interval, double rate) {
  absl::MutexLock lock(&mu_);
  probe_interval_ = interval;
  probe_budget_ = TokenBucket(rate, std::max(rate, 1.0));
}

void TopicRegistry::Fanout(const std::shared_ptr<const EncodedEvent>& encoded) {
  const std::string& topic = encoded->topic();
  std::shared_ptr<const std::vector<std::weak_ptr<Subscriber>>> snapshot;
  {
    absl::MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    Topic& t = it->second;
    t.high_seq = std::max(t.high_seq, encoded->seq());
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

void TopicRegistry::AppendRedisMetrics(std::string* out) const {
  std::vector<std::pair<std::string, std::shared_ptr<const redis::Connection>>> connections =
      redis_->Connections("pubsub");
  if (publisher_conn_ != nullptr) connections.emplace_back("canary", publisher_conn_);
  if (cluster_ != nullptr) {
    for (auto& c : redis::ClusterConnections(*cluster_, "commands")) connections.push_back(c);
  }
  redis::AppendRedisMetrics(connections, out);
  if (cluster_ != nullptr) redis::AppendClusterMetrics(*cluster_, "commands", out);
}

}  // namespace chat::gateway
