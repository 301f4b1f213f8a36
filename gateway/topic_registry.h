// TopicRegistry: which local sessions listen to which Redis topic. The gateway
// subscribes in Redis once per topic that any of its sessions needs
// (reference-counted), decodes each published event once (EncodedEvent), puts
// each channel's messages in seq order without gaps (ChannelSequencer), and
// hands the same event to every local subscriber.
#ifndef CHATSUITE_GATEWAY_TOPIC_REGISTRY_H_
#define CHATSUITE_GATEWAY_TOPIC_REGISTRY_H_

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/redis_client.h"
#include "common/redis_cluster_client.h"
#include "common/redis_subscriber.h"
#include "gateway/channel_sequencer.h"
#include "gateway/encoded_event.h"
#include "gateway/metrics.h"
#include "gateway/rate_limiter.h"

namespace chat::gateway {

// Subscriber receives events; implemented by WebSocket sessions.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // Deliver is called on the registry's strand for every event on a topic the
  // subscriber was added to; it must only enqueue, never block.
  virtual void Deliver(const std::shared_ptr<const EncodedEvent>& event) = 0;
};

// LogReaders read the logs behind sequenced topics (the chat service's Tail
// and PersonalTail); done may run on any thread.
struct LogReaders {
  std::function<void(const std::string& server, const std::string& channel, int64_t after,
                     Done<TailPage> done)>
      channel;
  std::function<void(const std::string& user, int64_t after, Done<TailPage> done)> personal;

  // One stream's log as a sequencer reads it; bound to the readers only, so
  // it may outlive whoever asked. Empty when that reader is not set.
  ChannelSequencer::FetchTail ChannelStream(const std::string& server,
                                            const std::string& channel) const {
    if (!this->channel) return nullptr;
    return [read = this->channel, server, channel](int64_t after, Done<TailPage> done) {
      read(server, channel, after, std::move(done));
    };
  }
  ChannelSequencer::FetchTail PersonalStream(const std::string& user) const {
    if (!personal) return nullptr;
    return [read = personal, user](int64_t after, Done<TailPage> done) {
      read(user, after, std::move(done));
    };
  }
};

class TopicRegistry {
 public:
  // With readers, sequenced events are put in order per topic: a channel
  // topic's chat messages and a user topic's personal events. Repeats are
  // dropped, and a gap (a lost pub/sub message, or everything published
  // while the subscription was down) is filled from the log before later
  // events are passed on, so sessions see each stream in seq order.
  // redis is the instance (in cluster mode, each node connection's
  // options); with cluster, topics are subscribed on the masters of their
  // slots (redis_cluster_subscriber.h), and the cluster client (started and
  // stopped by the caller) also carries the canary.
  TopicRegistry(boost::asio::any_io_executor executor, redis::Options redis, Metrics* metrics,
                LogReaders readers = LogReaders(),
                std::shared_ptr<redis::ClusterClient> cluster = nullptr);

  void Start();
  void Stop();

  // Add makes s receive the topic's events; the first local subscriber of a
  // topic subscribes it in Redis. on_live (may be null) runs once Redis has
  // confirmed the subscription, at once if it already had; it runs on the
  // registry's strand (or the caller's thread) and must not block.
  // Idempotent. Thread-safe.
  void Add(const std::string& topic, const std::shared_ptr<Subscriber>& s,
           absl::AnyInvocable<void()> on_live = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Remove undoes Add; the last one unsubscribes in Redis. Thread-safe.
  void Remove(const std::string& topic, Subscriber* s) ABSL_LOCKS_EXCLUDED(mu_);

  // EnableCanary proves the delivery path end to end (call before Start):
  // every interval it publishes on topic through a connection of its own
  // (in cluster mode, the cluster client), and the subscription must bring
  // it back. When none has come back for three intervals, delivering()
  // turns false, the connections are dropped and re-established, and every
  // sequencer refills from its log what the dead subscription missed. In a
  // cluster the canary proves the path through its own topic's shard only.
  void EnableCanary(std::string topic, absl::Duration interval);

  // connected: whether the pub/sub connection is up.
  bool connected() const { return redis_->connected(); }
  // delivering: connected and, with a canary, the canary came back lately
  // (for /readyz).
  bool delivering() const {
    return redis_->connected() && (publisher_ == nullptr || canary_ok_.load());
  }
  size_t topic_count() const ABSL_LOCKS_EXCLUDED(mu_);
  // AppendRedisMetrics appends the chat_redis_* families of the pub/sub
  // connections (connection="pubsub", or "pubsub:<node>" per cluster node)
  // and the canary's ("canary", or the cluster client's "canary:<node>").
  void AppendRedisMetrics(std::string* out) const;
  // SeenSeq: the highest seq passed on for topic while subscribed (0 if none
  // or not subscribed). Sends pass it to the chat service as a floor, so a
  // log Redis rolled back does not hand out a seq this gateway delivered.
  int64_t SeenSeq(const std::string& topic) const ABSL_LOCKS_EXCLUDED(mu_);

  // Heads for the delivery watch (delivery_watch.h). KnownHead: the newest
  // seq this gateway knows the topic has: passed on, acknowledged to a local
  // sender, or read from the log by a probe (0 if not subscribed).
  int64_t KnownHead(const std::string& topic) const ABSL_LOCKS_EXCLUDED(mu_);
  // NoteBases: a session was told, after its subscriptions went live, each
  // stream's head (its ready). Until a topic is sequenced, the lowest head
  // told is kept, and the topic's sequencer starts from it: at the first
  // event (what lies between is read from the log first; an event at or
  // below it is still passed on), or when the subscription moves or is
  // re-established before any event arrived (without it, what was published
  // meanwhile would be missed). A note's server and channel name a channel
  // stream; both empty, its topic is a user's personal stream.
  struct BaseNote {
    std::string topic;
    int64_t seq = 0;
    std::string server, channel;
  };
  void NoteBases(std::vector<BaseNote> notes) ABSL_LOCKS_EXCLUDED(mu_);
  // NoteHead raises topic's known head (an ack's seq, a probe's log head).
  void NoteHead(const std::string& topic, int64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // TakeProbe: whether a probe of topic's log head may start now: at most
  // one per topic per probe_interval, and probe_rate a second in all.
  bool TakeProbe(const std::string& topic, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void SetProbeLimits(absl::Duration interval, double rate) ABSL_LOCKS_EXCLUDED(mu_);
  // Repair: this gateway has not passed on events of topic that its log
  // holds (its subscription brings nothing, or lost them). Re-reads the log
  // for every local subscriber, from the last event passed on (or from
  // `after`, when none was), through fetch, and sends SSUBSCRIBE again (which
  // restores a subscription Redis dropped). At most once a second per topic.
  void Repair(const std::string& topic, ChannelSequencer::FetchTail fetch, LogRollback named,
              int64_t after);

  // Dispatch fans one payload out; public for tests. Runs on the subscriber's strand.
  void Dispatch(const std::string& topic, const std::string& payload) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Topic {
    absl::flat_hash_map<Subscriber*, std::weak_ptr<Subscriber>> members;
    // Rebuilt lazily on the next event after membership changed, so joins and
    // leaves cost O(1) and each event walks a stable list outside the lock.
    std::shared_ptr<const std::vector<std::weak_ptr<Subscriber>>> snapshot;
    bool dirty = true;
    bool live = false;       // Redis confirmed the subscription.
    int64_t high_seq = 0;    // The highest seq fanned out.
    int64_t noted_head = 0;  // The highest seq acknowledged or probed (NoteHead).
    absl::Time probed_at = absl::InfinitePast();
    absl::Time repaired_at = absl::InfinitePast();
    std::vector<absl::AnyInvocable<void()>> live_waiters;
  };

  void OnSubscribed(const std::string& topic) ABSL_LOCKS_EXCLUDED(mu_);
  void Fanout(const std::shared_ptr<const EncodedEvent>& event) ABSL_LOCKS_EXCLUDED(mu_);
  void Sequence(std::shared_ptr<const EncodedEvent> event);
  // NewSequencer makes topic's sequencer (on the strand); named says which
  // stream a rollback announcement is about.
  // SequencerFromBase makes topic's sequencer from its noted base (or from
  // below, when lower: the seq just before the event that asks), or returns
  // null when it has none (on the strand).
  ChannelSequencer* SequencerFromBase(const std::string& topic,
                                      int64_t below = std::numeric_limits<int64_t>::max());
  // FillFromBase: topic's sequencer from its base, reading the log after it
  // (a subscription that moved or came back before any event).
  void FillFromBase(const std::string& topic);
  // StreamOf: the log reader of topic's stream and its name in named: the
  // channel's when server is set, else the user's (null for other topics).
  ChannelSequencer::FetchTail StreamOf(const std::string& topic, const std::string& server,
                                       const std::string& channel, LogRollback* named) const;
  ChannelSequencer& NewSequencer(const std::string& topic, ChannelSequencer::FetchTail fetch,
                                 LogRollback named, int64_t last_seq);
  void CanaryTick();

  Metrics* metrics_;
  LogReaders readers_;
  void OnMoved(const std::string& topic);

  redis::Options redis_options_;
  std::shared_ptr<redis::ClusterClient> cluster_;
  std::shared_ptr<redis::PubSub> redis_;
  // One per channel topic with traffic; on the subscriber's strand only.
  absl::flat_hash_map<std::string, std::unique_ptr<ChannelSequencer>> sequencers_;
  // The lowest head sessions were told for topics not sequenced yet
  // (NoteBase); on the subscriber's strand only.
  struct Base {
    int64_t seq = 0;
    std::string server, channel;  // Empty: a personal stream.
  };
  absl::flat_hash_map<std::string, Base> bases_;
  // The canary; on the subscriber's strand apart from the atomic. publisher_
  // is publisher_conn_ (one instance) or cluster_.
  std::shared_ptr<redis::Commands> publisher_;
  std::shared_ptr<redis::RedisClient> publisher_conn_;
  std::string canary_topic_;
  absl::Duration canary_interval_;
  std::unique_ptr<boost::asio::steady_timer> canary_timer_;
  absl::Time canary_seen_ = absl::InfinitePast();
  absl::Time canary_since_ = absl::InfinitePast();  // The check starts counting here.
  std::atomic<bool> canary_ok_{false};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Topic> topics_ ABSL_GUARDED_BY(mu_);
  absl::Duration probe_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(10);
  TokenBucket probe_budget_ ABSL_GUARDED_BY(mu_){50, 50};
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_TOPIC_REGISTRY_H_
