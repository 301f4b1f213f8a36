// Gateway metrics, rendered as Prometheus text at /metrics. Counters are
// lock-free atomics; labelled families use fixed label sets so rendering
// needs no registry.
#ifndef CHATSUITE_GATEWAY_METRICS_H_
#define CHATSUITE_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace chat::gateway {

// Histogram with fixed millisecond buckets.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 10> kBucketsMs = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000};
  void Observe(double ms);
  void Render(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBucketsMs.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

// Labeled counts a family of counters keyed by one label value.
class LabeledCounter {
 public:
  void Inc(const std::string& label, uint64_t n = 1) ABSL_LOCKS_EXCLUDED(mu_);
  void Render(const std::string& name, const std::string& label_name, const std::string& help,
              std::string* out) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> values_ ABSL_GUARDED_BY(mu_);
};

struct Metrics {
  std::atomic<int64_t> connections{0};  // Open WebSockets (gauge).
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> deliveries{0};      // Events handed to sockets.
  std::atomic<uint64_t> dropped_events{0};  // Droppable events shed under pressure.
  std::atomic<uint64_t> slow_consumer_closes{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> upstream_errors{0};
  std::atomic<uint64_t> pubsub_messages{0};
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

  std::string Render() const;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_METRICS_H_
