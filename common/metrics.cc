#include "common/metrics.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"

namespace chat::metrics {

void AppendHeader(std::string* out, absl::string_view name, absl::string_view type,
                  absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void AppendScalar(std::string* out, absl::string_view name, absl::string_view type,
                  absl::string_view help, int64_t value) {
  AppendHeader(out, name, type, help);
  absl::StrAppend(out, name, " ", value, "\n");
}

std::string EscapeLabel(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void LatencyHistogram::Observe(double ms) {
  size_t i = 0;
  while (i < kBucketsMs.size() && ms > kBucketsMs[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(ms < 0 ? 0 : ms * 1000), std::memory_order_relaxed);
}

void LatencyHistogram::Render(absl::string_view name, absl::string_view help,
                              std::string* out) const {
  AppendHeader(out, name, "histogram", help);
  RenderSamples(name, "", out);
}

void LatencyHistogram::RenderSamples(absl::string_view name, absl::string_view labels,
                                     std::string* out) const {
  const std::string sep = labels.empty() ? "" : ",";
  const std::string braces = labels.empty() ? "" : absl::StrCat("{", labels, "}");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBucketsMs.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(out, name, "_bucket{", labels, sep, "le=\"", kBucketsMs[i] / 1000.0, "\"} ",
                    cumulative, "\n");
  }
  cumulative += buckets_[kBucketsMs.size()].load(std::memory_order_relaxed);
  absl::StrAppend(out, name, "_bucket{", labels, sep, "le=\"+Inf\"} ", cumulative, "\n");
  absl::StrAppend(out, name, "_sum", braces, " ", sum_us_.load(std::memory_order_relaxed) / 1e6,
                  "\n");
  absl::StrAppend(out, name, "_count", braces, " ", count_.load(std::memory_order_relaxed), "\n");
}

void LabeledCounter::Inc(absl::string_view label, uint64_t n) {
  absl::MutexLock lock(&mu_);
  values_[label] += n;
}

uint64_t LabeledCounter::Get(absl::string_view label) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(label);
  return it == values_.end() ? 0 : it->second;
}

void LabeledCounter::Render(absl::string_view name, absl::string_view label_name,
                            absl::string_view help, std::string* out) const {
  AppendHeader(out, name, "counter", help);
  // Sorted, so that scrapes (and tests) see a stable order.
  std::map<std::string, uint64_t> sorted;
  {
    absl::MutexLock lock(&mu_);
    sorted.insert(values_.begin(), values_.end());
  }
  for (const auto& [label, value] : sorted) {
    absl::StrAppend(out, name, "{", label_name, "=\"", EscapeLabel(label), "\"} ", value, "\n");
  }
}

absl::string_view StatusCodeName(int code) {
  static constexpr std::array<absl::string_view, 17> kNames = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  return code >= 0 && code < static_cast<int>(kNames.size()) ? kNames[code] : "UNKNOWN";
}

void RpcMetrics::Method::Record(int code, absl::Duration latency) {
  if (code < 0 || code >= static_cast<int>(codes_.size())) code = 2;  // UNKNOWN
  codes_[code].fetch_add(1, std::memory_order_relaxed);
  latency_.Observe(latency);
}

std::shared_ptr<RpcMetrics::Method> RpcMetrics::For(absl::string_view method) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = methods_.find(method);
    if (it != methods_.end()) return it->second;
  }
  absl::MutexLock lock(&mu_);
  auto& slot = methods_[method];
  if (slot == nullptr) slot = std::make_shared<Method>();
  return slot;
}

uint64_t RpcMetrics::Handled(absl::string_view method, int code) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = methods_.find(method);
  if (it == methods_.end() || code < 0 || code >= 17) return 0;
  return it->second->codes_[code].load(std::memory_order_relaxed);
}

void RpcMetrics::Render(std::string* out) const {
  std::vector<std::pair<std::string, const Method*>> sorted;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, m] : methods_) sorted.emplace_back(name, m.get());
  }
  std::sort(sorted.begin(), sorted.end());
  const std::string handled = absl::StrCat("chat_grpc_", side_, "_handled_total");
  const std::string latency = absl::StrCat("chat_grpc_", side_, "_latency_seconds");
  AppendHeader(out, handled, "counter",
               absl::StrCat("gRPC calls ", side_ == "server" ? "handled" : "made",
                            ", by method and status code."));
  for (const auto& [name, m] : sorted) {
    for (size_t code = 0; code < m->codes_.size(); ++code) {
      const uint64_t n = m->codes_[code].load(std::memory_order_relaxed);
      if (n == 0 && code != 0) continue;  // OK always, other codes once seen.
      absl::StrAppend(out, handled, "{method=\"", EscapeLabel(name), "\",code=\"",
                      StatusCodeName(static_cast<int>(code)), "\"} ", n, "\n");
    }
  }
  AppendHeader(out, latency, "histogram",
               "gRPC call latency, from the call's start to its status, by method.");
  for (const auto& [name, m] : sorted) {
    m->latency_.RenderSamples(latency, absl::StrCat("method=\"", EscapeLabel(name), "\""), out);
  }
}

}  // namespace chat::metrics
