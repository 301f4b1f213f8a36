#include "gateway/metrics.h"

#include "absl/strings/str_cat.h"

namespace chat::gateway {

void LatencyHistogram::Observe(double ms) {
  size_t i = 0;
  while (i < kBucketsMs.size() && ms > kBucketsMs[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(ms < 0 ? 0 : ms * 1000), std::memory_order_relaxed);
}

void LatencyHistogram::Render(const std::string& name, const std::string& help,
                              std::string* out) const {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBucketsMs.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(out, name, "_bucket{le=\"", kBucketsMs[i] / 1000.0, "\"} ", cumulative, "\n");
  }
  cumulative += buckets_[kBucketsMs.size()].load(std::memory_order_relaxed);
  absl::StrAppend(out, name, "_bucket{le=\"+Inf\"} ", cumulative, "\n");
  absl::StrAppend(out, name, "_sum ", sum_us_.load(std::memory_order_relaxed) / 1e6, "\n");
  absl::StrAppend(out, name, "_count ", count_.load(std::memory_order_relaxed), "\n");
}

void LabeledCounter::Inc(const std::string& label, uint64_t n) {
  absl::MutexLock lock(&mu_);
  values_[label] += n;
}

void LabeledCounter::Render(const std::string& name, const std::string& label_name,
                            const std::string& help, std::string* out) const {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n");
  absl::MutexLock lock(&mu_);
  for (const auto& [label, value] : values_) {
    absl::StrAppend(out, name, "{", label_name, "=\"", label, "\"} ", value, "\n");
  }
}

namespace {

void Scalar(std::string* out, const char* name, const char* type, const char* help, int64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                  value, "\n");
}

}  // namespace

std::string Metrics::Render() const {
  std::string out;
  Scalar(&out, "chat_gateway_connections", "gauge", "Open WebSocket connections.",
         connections.load());
  Scalar(&out, "chat_gateway_connections_total", "counter", "WebSocket connections accepted.",
         connections_total.load());
  Scalar(&out, "chat_gateway_frames_in_total", "counter", "Frames received from clients.",
         frames_in.load());
  Scalar(&out, "chat_gateway_frames_out_total", "counter", "Frames queued to clients.",
         frames_out.load());
  Scalar(&out, "chat_gateway_deliveries_total", "counter", "Events delivered to sockets.",
         deliveries.load());
  Scalar(&out, "chat_gateway_dropped_events_total", "counter",
         "Droppable events shed because a client's queue was under pressure.",
         dropped_events.load());
  Scalar(&out, "chat_gateway_slow_consumer_closes_total", "counter",
         "Connections closed because their outbound queue overflowed.",
         slow_consumer_closes.load());
  Scalar(&out, "chat_gateway_rate_limited_total", "counter", "Frames rejected by rate limits.",
         rate_limited.load());
  Scalar(&out, "chat_gateway_upstream_errors_total", "counter",
         "Failed calls to upstream services.", upstream_errors.load());
  Scalar(&out, "chat_gateway_pubsub_messages_total", "counter",
         "Messages received from Redis pub/sub.", pubsub_messages.load());
  Scalar(&out, "chat_gateway_accept_errors_total", "counter", "Failed accept() calls.",
         accept_errors.load());
  Scalar(&out, "chat_gateway_gap_fills_total", "counter",
         "Channel log reads that filled a gap in the pub/sub stream.", gap_fills.load());
  Scalar(&out, "chat_gateway_duplicate_events_total", "counter",
         "Sequenced events dropped because their seq was already passed on.",
         duplicate_events.load());
  Scalar(&out, "chat_gateway_trimmed_gaps_total", "counter",
         "Gaps in a stream that its log no longer held (trimmed by retention).",
         trimmed_gaps.load());
  Scalar(&out, "chat_gateway_log_rollbacks_total", "counter",
         "Logs Redis rolled back: acknowledged events lost (announced, or found behind a cursor).",
         log_rollbacks.load());
  Scalar(&out, "chat_gateway_resumes_total", "counter", "Identifies that resumed from cursors.",
         resumes.load());
  Scalar(&out, "chat_gateway_resync_required_total", "counter",
         "resync_required frames sent: a cursor older than what the logs retain, or a rollback.",
         resync_required.load());
  Scalar(&out, "chat_gateway_token_refreshes_total", "counter",
         "Sessions that refreshed their token.", token_refreshes.load());
  Scalar(&out, "chat_gateway_canary_failures_total", "counter",
         "Times the pub/sub canary did not come back and the delivery path was restarted.",
         canary_failures.load());
  Scalar(&out, "chat_gateway_origin_rejections_total", "counter",
         "WebSocket upgrades refused by the Origin allow-list.", origin_rejections.load());
  Scalar(&out, "chat_gateway_topics", "gauge", "Redis topics subscribed by this gateway.",
         topics.load());
  Scalar(&out, "chat_gateway_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed or timed out.", tls_handshake_failures.load());
  Scalar(&out, "chat_gateway_tls_plaintext_refused_total", "counter",
         "Plain HTTP requests sent to the TLS port (answered 400).", tls_plaintext_refused.load());
  Scalar(&out, "chat_gateway_tls_certificate_expiry_timestamp_seconds", "gauge",
         "When the served certificate expires (Unix time); 0 with TLS off.", tls_not_after.load());
  tls_reloads.Render("chat_gateway_tls_reloads_total", "result",
                     "Certificate reloads (SIGHUP), by result.", &out);
  errors.Render("chat_gateway_error_frames_total", "code", "Error frames sent, by code.", &out);
  closes.Render("chat_gateway_closes_total", "code", "Server-initiated closes, by close code.",
                &out);
  fanout_ms.Render("chat_gateway_fanout_latency_seconds",
                   "From message acceptance (chat service clock) to its arrival at this gateway.",
                   &out);
  return out;
}

}  // namespace chat::gateway
