#include "gateway/delivery_watch.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace chat::gateway {

absl::string_view OutcomeName(WatermarkVerdict::Outcome outcome) {
  switch (outcome) {
    case WatermarkVerdict::Outcome::kCurrent:
      return "current";
    case WatermarkVerdict::Outcome::kBehind:
      return "behind";
    case WatermarkVerdict::Outcome::kStalled:
      return "stalled";
  }
  return "current";
}

DeliveryWatch::DeliveryWatch(absl::Duration grace, size_t max_streams)
    : grace_(grace), max_streams_(max_streams) {}

DeliveryWatch::Mark* DeliveryWatch::Find(absl::string_view stream) {
  auto it = marks_.find(stream);
  if (it != marks_.end()) return &it->second;
  if (max_streams_ > 0 && marks_.size() >= max_streams_) return nullptr;
  return &marks_.emplace(stream, Mark{}).first->second;
}

WatermarkVerdict DeliveryWatch::Report(absl::string_view stream, int64_t watermark, int64_t head,
                                       absl::Time now) {
  Mark* mark = Find(stream);
  if (mark != nullptr) {
    watermark = std::max(watermark, mark->floor);
    mark->floor = watermark;  // Watermarks never move backwards.
  }
  WatermarkVerdict v;
  v.lag = std::max<int64_t>(0, head - watermark);
  v.outcome = v.lag == 0 ? WatermarkVerdict::Outcome::kCurrent : WatermarkVerdict::Outcome::kBehind;
  if (mark == nullptr) return v;
  if (mark->at == absl::InfinitePast()) {
    mark->head = head;
    mark->at = now;
    return v;
  }
  if (now - mark->at < grace_) return v;
  if (watermark < mark->head) {
    v.outcome = WatermarkVerdict::Outcome::kStalled;
    v.missing_from = watermark + 1;
    v.missing_to = mark->head;
  }
  mark->head = head;
  mark->at = now;
  return v;
}

void DeliveryWatch::Restart(absl::string_view stream, int64_t head, absl::Time now) {
  if (Mark* mark = Find(stream)) {
    mark->head = head;
    mark->at = now;
  }
}

void DeliveryWatch::SetFloor(absl::string_view stream, int64_t seq) {
  if (Mark* mark = Find(stream)) mark->floor = std::max(mark->floor, seq);
}

DeliveryStats::DeliveryStats(size_t max_channels, absl::Duration idle_after,
                             absl::Duration lag_window)
    : max_channels_(max_channels), idle_after_(idle_after), lag_window_(lag_window) {}

void DeliveryStats::Count(std::array<std::atomic<uint64_t>, 3>& by_outcome,
                          const WatermarkVerdict& v) {
  by_outcome[static_cast<size_t>(v.outcome)].fetch_add(1, std::memory_order_relaxed);
  size_t i = 0;
  while (i < kLagBuckets.size() && v.lag > kLagBuckets[i]) ++i;
  lag_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  lag_count_.fetch_add(1, std::memory_order_relaxed);
  lag_sum_.fetch_add(static_cast<uint64_t>(v.lag), std::memory_order_relaxed);
  if (v.outcome == WatermarkVerdict::Outcome::kStalled) {
    lost_events_.fetch_add(static_cast<uint64_t>(v.missing_to - v.missing_from + 1),
                           std::memory_order_relaxed);
  }
}

void DeliveryStats::RecordPersonal(const WatermarkVerdict& v) { Count(personal_, v); }

void DeliveryStats::RecordChannel(absl::string_view channel, const WatermarkVerdict& v,
                                  absl::Time now) {
  Count(channel_, v);
  const uint64_t lost = v.outcome == WatermarkVerdict::Outcome::kStalled
                            ? static_cast<uint64_t>(v.missing_to - v.missing_from + 1)
                            : 0;
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) {
    if (channels_.size() >= max_channels_) {
      // Make room from channels nobody reported lately (and that lost
      // nothing: their loss counters must not go backwards).
      absl::erase_if(channels_, [&](const auto& entry) {
        return entry.second.lost == 0 && now - entry.second.last_report >= idle_after_;
      });
    }
    if (channels_.size() >= max_channels_) {
      other_lost_ += lost;
      return;
    }
    it = channels_.emplace(channel, Channel{0, now, now, 0}).first;
  }
  Channel& c = it->second;
  if (now - c.window_start >= lag_window_) {
    c.window_start = now;
    c.lag_max = v.lag;
  } else {
    c.lag_max = std::max(c.lag_max, v.lag);
  }
  c.last_report = now;
  c.lost += lost;
}

void DeliveryStats::Render(std::string* out, absl::Time now) const {
  using metrics::AppendHeader;
  using metrics::EscapeLabel;
  AppendHeader(out, "chat_gateway_watermark_reports_total", "counter",
               "Watermarks clients reported in heartbeats, by stream and verdict: current, behind "
               "(in flight), stalled (short of a head known a grace period earlier), unknown (a "
               "stream the session does not follow).");
  for (int personal = 0; personal < 2; ++personal) {
    const auto& counts = personal ? personal_ : channel_;
    for (size_t i = 0; i < counts.size(); ++i) {
      absl::StrAppend(out, "chat_gateway_watermark_reports_total{stream=\"",
                      personal ? "personal" : "channel", "\",outcome=\"",
                      OutcomeName(static_cast<WatermarkVerdict::Outcome>(i)), "\"} ",
                      counts[i].load(std::memory_order_relaxed), "\n");
    }
  }
  absl::StrAppend(out,
                  "chat_gateway_watermark_reports_total{stream=\"channel\",outcome=\"unknown\"} ",
                  unknown_.load(std::memory_order_relaxed), "\n");

  AppendHeader(out, "chat_gateway_delivery_lag_events", "histogram",
               "Events between a client's reported watermark and the head the gateway knew.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLagBuckets.size(); ++i) {
    cumulative += lag_buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(out, "chat_gateway_delivery_lag_events_bucket{le=\"", kLagBuckets[i], "\"} ",
                    cumulative, "\n");
  }
  cumulative += lag_buckets_[kLagBuckets.size()].load(std::memory_order_relaxed);
  absl::StrAppend(out, "chat_gateway_delivery_lag_events_bucket{le=\"+Inf\"} ", cumulative, "\n");
  absl::StrAppend(out, "chat_gateway_delivery_lag_events_sum ",
                  lag_sum_.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(out, "chat_gateway_delivery_lag_events_count ",
                  lag_count_.load(std::memory_order_relaxed), "\n");

  metrics::AppendScalar(out, "chat_gateway_delivery_lost_events_total", "counter",
                        "Events clients still lacked a grace period after the gateway knew of "
                        "them (each was then sent again).",
                        static_cast<int64_t>(lost_events()));
  AppendHeader(out, "chat_gateway_delivery_refills_total", "counter",
               "Refills after a stalled watermark: session (the client re-read from the log) or "
               "gateway (the gateway had not passed the events on: every local subscriber refilled "
               "and the subscription renewed).");
  absl::StrAppend(out, "chat_gateway_delivery_refills_total{scope=\"gateway\"} ", refills(true),
                  "\n");
  absl::StrAppend(out, "chat_gateway_delivery_refills_total{scope=\"session\"} ", refills(false),
                  "\n");

  std::map<std::string, Channel> sorted;  // A stable order for scrapes and tests.
  uint64_t other_lost = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, c] : channels_) {
      if (c.lost > 0 || now - c.last_report < idle_after_) sorted.emplace(name, c);
    }
    other_lost = other_lost_;
  }
  AppendHeader(out, "chat_gateway_channel_delivery_lag_events", "gauge",
               "Per channel (server/channel), the largest lag clients reported in the last "
               "window; channels reported lately only.");
  for (const auto& [name, c] : sorted) {
    const int64_t lag = now - c.window_start < 2 * lag_window_ ? c.lag_max : 0;
    absl::StrAppend(out, "chat_gateway_channel_delivery_lag_events{channel=\"", EscapeLabel(name),
                    "\"} ", lag, "\n");
  }
  AppendHeader(out, "chat_gateway_channel_lost_events_total", "counter",
               "Per channel (server/channel), events clients lacked past the grace period; "
               "channels beyond the table's bound are counted as _other.");
  for (const auto& [name, c] : sorted) {
    if (c.lost == 0) continue;
    absl::StrAppend(out, "chat_gateway_channel_lost_events_total{channel=\"", EscapeLabel(name),
                    "\"} ", c.lost, "\n");
  }
  if (other_lost > 0) {
    absl::StrAppend(out, "chat_gateway_channel_lost_events_total{channel=\"_other\"} ", other_lost,
                    "\n");
  }
}

}  // namespace chat::gateway
