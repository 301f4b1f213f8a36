// Metrics every binary shares, rendered as Prometheus text (the exposition
// format, version 0.0.4). No registry: each binary's metrics are plain members
// that its Render appends in order. Counters are lock-free atomics; labelled
// families keyed by a label value take a mutex, so they suit rare events
// (errors, closes) and fixed sets looked up once (RpcMetrics' methods).
#ifndef CHATSUITE_COMMON_METRICS_H_
#define CHATSUITE_COMMON_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chat::metrics {

// AppendScalar appends one unlabelled sample with its HELP and TYPE lines;
// type is "counter" or "gauge".
void AppendScalar(std::string* out, absl::string_view name, absl::string_view type,
                  absl::string_view help, int64_t value);
// AppendHeader appends a family's HELP and TYPE lines; its samples follow.
void AppendHeader(std::string* out, absl::string_view name, absl::string_view type,
                  absl::string_view help);
// EscapeLabel escapes a label value (backslash, quote, newline).
std::string EscapeLabel(absl::string_view value);

// LatencyHistogram counts observations in fixed millisecond buckets, rendered
// in seconds. Thread-safe, lock-free.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBucketsMs = {0.5, 1,   2,   5,    10,   25,
                                                        50,  100, 250, 1000, 2500, 10000};
  void Observe(double ms);
  void Observe(absl::Duration d) { Observe(absl::ToDoubleMilliseconds(d)); }
  // Render appends the family (HELP, TYPE, samples).
  void Render(absl::string_view name, absl::string_view help, std::string* out) const;
  // RenderSamples appends only the samples, with labels ("k=\"v\"", may be
  // empty) inside each sample's braces: one member of a labelled family.
  void RenderSamples(absl::string_view name, absl::string_view labels, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBucketsMs.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

// LabeledCounter is a family of counters keyed by one label's value.
class LabeledCounter {
 public:
  void Inc(absl::string_view label, uint64_t n = 1) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t Get(absl::string_view label) const ABSL_LOCKS_EXCLUDED(mu_);
  void Render(absl::string_view name, absl::string_view label_name, absl::string_view help,
              std::string* out) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::node_hash_map<std::string, uint64_t> values_ ABSL_GUARDED_BY(mu_);
};

// RpcMetrics counts the gRPC calls of one side (a server's handled calls,
// or a client's calls out) by method and status code, with a latency
// histogram per method. Methods are "/package.Service/Method" as gRPC names
// them. Thread-safe.
class RpcMetrics {
 public:
  // Method is one method's counters.
  class Method {
   public:
    // Record counts one finished call. code: a grpc::StatusCode (0..16).
    // Thread-safe.
    void Record(int code, absl::Duration latency);

   private:
    friend class RpcMetrics;
    std::array<std::atomic<uint64_t>, 17> codes_{};
    LatencyHistogram latency_;
  };

  // side: "server" or "client", the families' infix (chat_grpc_server_...).
  explicit RpcMetrics(std::string side) : side_(std::move(side)) {}
  // For returns name's counters, creating them on first use. Shared: a call
  // that finishes after its RpcMetrics is gone (a client call completing
  // after its owner shut down) still counts into live memory.
  std::shared_ptr<Method> For(absl::string_view method) ABSL_LOCKS_EXCLUDED(mu_);
  // Render appends chat_grpc_<side>_handled_total{method,code} and
  // chat_grpc_<side>_latency_seconds{method}.
  void Render(std::string* out) const ABSL_LOCKS_EXCLUDED(mu_);
  // Handled is the count of method's calls that ended with code.
  uint64_t Handled(absl::string_view method, int code) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::string side_;
  mutable absl::Mutex mu_;
  absl::node_hash_map<std::string, std::shared_ptr<Method>> methods_ ABSL_GUARDED_BY(mu_);
};

// StatusCodeName is gRPC's name of a status code ("OK", "UNAVAILABLE", ...).
absl::string_view StatusCodeName(int code);

}  // namespace chat::metrics

#endif  // CHATSUITE_COMMON_METRICS_H_
