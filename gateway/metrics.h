// Gateway metrics, rendered as Prometheus text at /metrics (with the
// upstream and Redis connection families the Gateway adds). Counters are
// lock-free atomics; the primitives are common/metrics.h's.
#ifndef CHATSUITE_GATEWAY_METRICS_H_
#define CHATSUITE_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "gateway/delivery_watch.h"
#include "proto/client.pb.h"
#include "proto/events.pb.h"

namespace chat::gateway {

using metrics::LabeledCounter;
using metrics::LatencyHistogram;

// FrameCounter counts frames by the case of a frame oneof (ClientFrame's or
// ServerFrame's), labelled type="<field name>" (the wire "type"); case 0
// counts frames that could not be parsed (type="invalid"). Lock-free.
class FrameCounter {
 public:
  explicit FrameCounter(const google::protobuf::OneofDescriptor* oneof) : oneof_(oneof) {}
  void Inc(int frame_case) {
    const size_t i = frame_case > 0 && static_cast<size_t>(frame_case) < counts_.size()
                         ? static_cast<size_t>(frame_case)
                         : 0;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t Total() const;
  void Render(absl::string_view name, absl::string_view help, std::string* out) const;

 private:
  const google::protobuf::OneofDescriptor* oneof_;
  std::array<std::atomic<uint64_t>, 32> counts_{};
};

// ServerFrameCaseOf is the ServerFrame case an event is sent as (0 for
// kinds clients never see).
int ServerFrameCaseOf(const Event& event);

struct Metrics {
  std::atomic<int64_t> connections{0};  // Open WebSockets (gauge).
  std::atomic<uint64_t> connections_total{0};
  FrameCounter frames_in{ClientFrame::descriptor()->FindOneofByName("frame")};
  FrameCounter frames_out{ServerFrame::descriptor()->FindOneofByName("frame")};
  std::atomic<uint64_t> deliveries{0};      // Events handed to sockets.
  std::atomic<uint64_t> dropped_events{0};  // Droppable events shed under pressure.
  std::atomic<uint64_t> slow_consumer_closes{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> upstream_errors{0};
  std::atomic<uint64_t> pubsub_messages{0};
  std::atomic<uint64_t> pubsub_moves{0};  // Topics re-subscribed on another cluster shard.
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> gap_fills{0};         // Reads of a channel log to fill a gap.
  std::atomic<uint64_t> duplicate_events{0};  // Sequenced events dropped as already passed on.
  std::atomic<uint64_t> trimmed_gaps{0};      // Gaps the logs no longer held.
  std::atomic<uint64_t> log_rollbacks{0};     // Logs found behind seqs already passed on.
  std::atomic<uint64_t> resumes{0};           // Identifies with resume cursors.
  std::atomic<uint64_t> resync_required{0};   // resync_required frames sent.
  std::atomic<uint64_t> token_refreshes{0};
  std::atomic<uint64_t> canary_failures{0};    // Delivery path found dead and restarted.
  std::atomic<uint64_t> origin_rejections{0};  // Upgrades refused by the Origin check.
  std::atomic<int64_t> topics{0};              // Subscribed Redis topics (gauge).
  std::atomic<uint64_t> tls_handshake_failures{0};
  std::atomic<uint64_t> tls_plaintext_refused{0};  // Plain HTTP sent to the TLS port.
  std::atomic<int64_t> tls_not_after{0};           // Unix seconds; 0 with TLS off.
  LabeledCounter tls_reloads;                      // By result: ok, error.
  LabeledCounter errors;                           // Error frames by code.
  LabeledCounter closes;                           // Server-initiated closes by code.
  // From a message's sent_at (chat service clock) to its arrival at this
  // gateway's pub/sub subscriber, before it is queued to any socket.
  LatencyHistogram fanout_ms;
  // Watermarks clients report in heartbeats, and what came of them.
  DeliveryStats delivery;
  LabeledCounter head_probes;  // Log-head probes of the delivery watch, by result.
  // The gateway's calls to the services, by method and code.
  metrics::RpcMetrics upstream_rpcs{"client"};

  std::string Render() const;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_METRICS_H_
