// Delivery measured at the client: every "heartbeat" frame names, per stream
// (a channel, the personal stream), the highest seq the client holds with
// every earlier one since it joined (its watermark). DeliveryWatch, one per
// session, compares each watermark with the head the gateway knows for that
// stream: a client still short of a head the gateway knew a grace period
// earlier has lost events (a dropped frame, a dead subscription that still
// looks healthy) and is refilled. DeliveryStats, one per gateway, turns the
// verdicts into the delivery SLO's metrics: reports by outcome, lag in
// events, and lag and loss per channel (bounded). Both are pure logic; the
// session does the refilling (docs/operations.md, "Delivery SLO").
#ifndef CHATSUITE_GATEWAY_DELIVERY_WATCH_H_
#define CHATSUITE_GATEWAY_DELIVERY_WATCH_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chat::gateway {

struct WatermarkVerdict {
  enum class Outcome {
    kCurrent,  // The client holds the head the gateway knows (or more).
    kBehind,   // Short of the head, but only of what is recent: in flight.
    kStalled,  // Short of a head known at least a grace period ago: lost.
  };
  Outcome outcome = Outcome::kCurrent;
  int64_t lag = 0;  // Events between the watermark and the known head.
  // kStalled: the events the client lacks that it should hold by now.
  int64_t missing_from = 0, missing_to = 0;
};

// OutcomeName is the metric label of an outcome: current, behind, stalled.
absl::string_view OutcomeName(WatermarkVerdict::Outcome outcome);

// DeliveryWatch judges one session's watermark reports. Not thread-safe (the
// session's strand owns it).
class DeliveryWatch {
 public:
  // grace: how long an event the gateway knew of may take to reach the
  // client. max_streams bounds the streams remembered (new ones beyond are
  // judged on lag alone; 0: no bound).
  DeliveryWatch(absl::Duration grace, size_t max_streams);

  // Report judges watermark for stream at now, head being the newest seq the
  // gateway knows the stream has. Each stream keeps a mark (the head known
  // at some report); a report at least grace after its mark is stalled when
  // the watermark is below the mark's head, and moves the mark to now. A
  // stalled stream is judged stalled again only a grace period later, so a
  // refill has time to arrive.
  WatermarkVerdict Report(absl::string_view stream, int64_t watermark, int64_t head,
                          absl::Time now);
  // Restart forgets stream's mark: its events are being re-read (a resume or
  // a refill), so what it lacks is not yet lost.
  void Restart(absl::string_view stream, int64_t head, absl::Time now);
  // SetFloor: the client holds everything up to seq by definition (ready's
  // head or its resume cursor, a new channel's head). A watermark below the
  // floor, or below the stream's last one, is taken as that: a client cannot
  // make the gateway re-send what came before it joined, or send again
  // what it already reported holding.
  void SetFloor(absl::string_view stream, int64_t seq);

  size_t streams() const { return marks_.size(); }

 private:
  struct Mark {
    int64_t head = 0;
    absl::Time at = absl::InfinitePast();  // InfinitePast: no mark yet.
    int64_t floor = 0;                     // Held by definition, or reported.
  };
  // Find returns stream's entry, made if there is room; null beyond the bound.
  Mark* Find(absl::string_view stream);
  absl::Duration grace_;
  size_t max_streams_;
  absl::flat_hash_map<std::string, Mark> marks_;
};

// DeliveryStats aggregates the verdicts of every session of a gateway.
// Thread-safe: counts are atomics; the per-channel table takes a mutex once
// per channel report (heartbeats are rare: one per session per interval).
class DeliveryStats {
 public:
  // Lag buckets, in events.
  static constexpr std::array<int64_t, 10> kLagBuckets = {0, 1, 2, 5, 10, 20, 50, 100, 500, 1000};
  // max_channels bounds the channels with labels of their own; later ones
  // are counted under channel="_other". A channel not reported for
  // idle_after leaves the table.
  explicit DeliveryStats(size_t max_channels = 200, absl::Duration idle_after = absl::Minutes(5),
                         absl::Duration lag_window = absl::Minutes(1));

  // RecordChannel counts one verdict on channel ("server/channel").
  void RecordChannel(absl::string_view channel, const WatermarkVerdict& v, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // RecordPersonal counts one verdict on a personal stream (no per-user labels).
  void RecordPersonal(const WatermarkVerdict& v);
  // CountUnknown: a report on a stream the session does not follow.
  void CountUnknown() { unknown_.fetch_add(1, std::memory_order_relaxed); }
  // CountRefill: scope "session" (this client re-read from the log) or
  // "gateway" (the gateway itself had not passed the events on: every local
  // subscriber is refilled, and the subscription renewed).
  void CountRefill(bool gateway_scope) {
    (gateway_scope ? gateway_refills_ : session_refills_).fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t reports(bool personal, WatermarkVerdict::Outcome o) const {
    return (personal ? personal_ : channel_)[static_cast<size_t>(o)].load(
        std::memory_order_relaxed);
  }
  uint64_t lost_events() const { return lost_events_.load(std::memory_order_relaxed); }
  uint64_t refills(bool gateway_scope) const {
    return (gateway_scope ? gateway_refills_ : session_refills_).load(std::memory_order_relaxed);
  }

  // Render appends the chat_gateway_watermark_* and chat_gateway_channel_*
  // families (docs/protocol.md, Metrics).
  void Render(std::string* out, absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Channel {
    int64_t lag_max = 0;  // Largest lag reported in the current window.
    absl::Time window_start;
    absl::Time last_report;
    uint64_t lost = 0;
  };
  void Count(std::array<std::atomic<uint64_t>, 3>& by_outcome, const WatermarkVerdict& v);

  size_t max_channels_;
  absl::Duration idle_after_, lag_window_;
  std::array<std::atomic<uint64_t>, 3> channel_{}, personal_{};
  std::atomic<uint64_t> unknown_{0};
  std::array<std::atomic<uint64_t>, kLagBuckets.size() + 1> lag_buckets_{};
  std::atomic<uint64_t> lag_count_{0}, lag_sum_{0};
  std::atomic<uint64_t> lost_events_{0};
  std::atomic<uint64_t> session_refills_{0}, gateway_refills_{0};
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, Channel> channels_ ABSL_GUARDED_BY(mu_);
  uint64_t other_lost_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_DELIVERY_WATCH_H_
