// TopicRegistry: which local sessions listen to which Redis topic. The gateway
// subscribes in Redis once per topic that any of its sessions needs
// (reference-counted), decodes each published event once, encodes each wire
// form at most once, and hands the same bytes to every local subscriber.
#ifndef CHATSUITE_GATEWAY_TOPIC_REGISTRY_H_
#define CHATSUITE_GATEWAY_TOPIC_REGISTRY_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/redis_client.h"
#include "gateway/metrics.h"
#include "proto/chat.pb.h"
#include "proto/events.pb.h"

namespace chat::gateway {

// EncodedEvent is one published event with its wire forms, each encoded on
// first use and then shared. Immutable apart from that cache; thread-safe.
class EncodedEvent {
 public:
  EncodedEvent(std::string topic, Event event);
  const std::string& topic() const { return topic_; }
  const Event& event() const { return event_; }
  // Wire forms. Json and Binary exist for every event; SeedJson only for chat
  // messages and the seed's invitation events (empty otherwise).
  const std::string& Json() const;
  const std::string& Binary() const;
  const std::string& SeedJson() const;

 private:
  std::string topic_;
  Event event_;
  mutable absl::once_flag json_once_, binary_once_, seed_once_;
  mutable std::string json_, binary_, seed_;
};

// Subscriber receives events; implemented by WebSocket sessions.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // Deliver is called on the registry's thread for every event on a topic the
  // subscriber was added to; it must only enqueue, never block.
  virtual void Deliver(const std::shared_ptr<const EncodedEvent>& event) = 0;
};

// ParseTopicPayload decodes "<seq> <Event bytes>"; the seq goes into the chat
// message. kInvalidArgument when malformed.
absl::StatusOr<Event> ParseTopicPayload(const std::string& payload);

class TopicRegistry {
 public:
  // TailFetcher reads a channel's log after a seq (the chat service's Tail);
  // done may run on any thread.
  using TailFetcher =
      std::function<void(const std::string& server, const std::string& channel, int64_t after,
                         absl::AnyInvocable<void(absl::StatusOr<HistoryResponse>)>)>;

  // With fetch_tail, chat messages are sequenced per channel topic: repeats
  // are dropped, and a gap (a lost pub/sub message, or everything published
  // while the subscription was down) is filled from the channel's log before
  // later events are passed on, so sessions see each channel in seq order.
  TopicRegistry(boost::asio::any_io_executor executor, redis::Options redis, Metrics* metrics,
                TailFetcher fetch_tail = nullptr);

  void Start();
  void Stop();

  // Add makes s receive the topic's events; the first local subscriber of a
  // topic subscribes it in Redis. on_live (may be null) runs once Redis has
  // confirmed the subscription, at once if it already had; it runs on the
  // registry's thread and must not block. Idempotent. Thread-safe.
  void Add(const std::string& topic, const std::shared_ptr<Subscriber>& s,
           absl::AnyInvocable<void()> on_live = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Remove undoes Add; the last one unsubscribes in Redis. Thread-safe.
  void Remove(const std::string& topic, Subscriber* s) ABSL_LOCKS_EXCLUDED(mu_);

  // connected: whether the pub/sub connection is up (for /readyz).
  bool connected() const { return redis_->connected(); }
  size_t topic_count() const ABSL_LOCKS_EXCLUDED(mu_);

  // Dispatch fans one payload out; public for tests. Runs on the subscriber's strand.
  void Dispatch(const std::string& topic, const std::string& payload) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Topic {
    absl::flat_hash_map<Subscriber*, std::weak_ptr<Subscriber>> members;
    // Rebuilt lazily on the next event after membership changed, so joins and
    // leaves cost O(1) and each event walks a stable list outside the lock.
    std::shared_ptr<const std::vector<std::weak_ptr<Subscriber>>> snapshot;
    bool dirty = true;
    bool live = false;  // Redis confirmed the subscription.
    std::vector<absl::AnyInvocable<void()>> live_waiters;
  };

  // A channel topic's stream position. On the subscriber's strand only.
  struct ChannelStream {
    std::string server, channel;
    int64_t last_seq = -1;  // Last seq passed on; -1 before the first.
    bool filling = false;   // A Tail read is under way; live events wait in held.
    int attempts = 0;       // Failed Tail reads in a row.
    std::deque<std::shared_ptr<const EncodedEvent>> held;
  };
  static constexpr size_t kMaxHeld = 10000;
  static constexpr int kMaxAttempts = 20;

  void OnSubscribed(const std::string& topic) ABSL_LOCKS_EXCLUDED(mu_);
  void Fanout(const std::shared_ptr<const EncodedEvent>& event) ABSL_LOCKS_EXCLUDED(mu_);
  void Sequence(const std::shared_ptr<const EncodedEvent>& event);
  void FillGap(const std::string& topic);
  void OnTail(const std::string& topic, absl::StatusOr<HistoryResponse> tail);
  void Drain(const std::string& topic);
  void OnResubscribed();

  Metrics* metrics_;
  TailFetcher fetch_tail_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);    // Expires with the registry.
  absl::flat_hash_map<std::string, ChannelStream> streams_;  // Subscriber strand only.
  std::shared_ptr<redis::RedisSubscriber> redis_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Topic> topics_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_TOPIC_REGISTRY_H_
