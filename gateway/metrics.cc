#include "gateway/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace chat::gateway {

uint64_t FrameCounter::Total() const {
  uint64_t total = 0;
  for (const auto& c : counts_) total += c.load(std::memory_order_relaxed);
  return total;
}

void FrameCounter::Render(absl::string_view name, absl::string_view help, std::string* out) const {
  metrics::AppendHeader(out, name, "counter", help);
  for (size_t i = 0; i < counts_.size(); ++i) {
    const uint64_t n = counts_[i].load(std::memory_order_relaxed);
    const google::protobuf::FieldDescriptor* field =
        i == 0 ? nullptr : oneof_->containing_type()->FindFieldByNumber(static_cast<int>(i));
    if (i != 0 && field == nullptr) continue;
    if (i != 0 && field->containing_oneof() != oneof_) continue;
    absl::StrAppend(out, name, "{type=\"", field == nullptr ? "invalid" : field->name(), "\"} ", n,
                    "\n");
  }
}

int ServerFrameCaseOf(const Event& event) {
  // Event and ServerFrame name their common kinds alike; mapped once.
  static const std::array<int, 32> kCases = [] {
    std::array<int, 32> cases{};
    const auto* events = Event::descriptor()->FindOneofByName("event");
    for (int i = 0; i < events->field_count(); ++i) {
      const auto* f = events->field(i);
      const auto* frame = ServerFrame::descriptor()->FindFieldByName(f->name());
      if (f->number() < 32 && frame != nullptr) cases[f->number()] = frame->number();
    }
    return cases;
  }();
  const int c = event.event_case();
  return c > 0 && c < 32 ? kCases[c] : 0;
}

namespace {

void Scalar(std::string* out, const char* name, const char* type, const char* help, int64_t value) {
  metrics::AppendScalar(out, name, type, help, value);
}

}  // namespace

std::string Metrics::Render() const {
  std::string out;
  Scalar(&out, "chat_gateway_connections", "gauge", "Open WebSocket connections.",
         connections.load());
  Scalar(&out, "chat_gateway_connections_total", "counter", "WebSocket connections accepted.",
         connections_total.load());
  frames_in.Render("chat_gateway_frames_in_total",
                   "Frames received from clients, by type (invalid: could not be parsed).", &out);
  frames_out.Render("chat_gateway_frames_out_total",
                    "Frames queued to clients, by type (replies and events).", &out);
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
  Scalar(&out, "chat_gateway_pubsub_moves_total", "counter",
         "Topics subscribed again on another Redis Cluster shard (their slot moved, or its "
         "master failed over); each re-reads its log.",
         pubsub_moves.load());
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
  delivery.Render(&out, absl::Now());
  head_probes.Render("chat_gateway_head_probes_total", "result",
                     "Reads of a stream's log head by the delivery watch, by result.", &out);
  upstream_rpcs.Render(&out);
  return out;
}

}  // namespace chat::gateway
