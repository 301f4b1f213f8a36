#include "gateway/presence_reporter.h"

#include <memory>
#include <vector>

namespace chat::gateway {

PresenceReporter::PresenceReporter(Upstream* upstream, Metrics* metrics, std::string gateway_id,
                                   absl::Duration heartbeat_interval, boost::asio::io_context& ioc)
    : upstream_(upstream),
      metrics_(metrics),
      gateway_id_(std::move(gateway_id)),
      interval_(heartbeat_interval),
      timer_(ioc) {}

void PresenceReporter::Start() { Heartbeat(); }

void PresenceReporter::Online(const void* key, const SessionRef& ref) {
  {
    absl::MutexLock lock(&mu_);
    sessions_[key] = ref;
  }
  ConnectRequest req;
  *req.mutable_session() = ref;
  upstream_->PresenceConnect(std::move(req), [this](absl::StatusOr<PresenceResponse> r) {
    if (!r.ok()) metrics_->upstream_errors.fetch_add(1, std::memory_order_relaxed);
  });
}

void PresenceReporter::Status(const void* key, const SessionRef& ref) {
  {
    absl::MutexLock lock(&mu_);
    sessions_[key] = ref;
  }
  SetStatusRequest req;
  *req.mutable_session() = ref;
  upstream_->PresenceSetStatus(std::move(req), [this, ref](absl::StatusOr<PresenceResponse> r) {
    if (r.ok()) return;
    // The service forgot the session (it expired): register it again.
    if (r.status().code() == absl::StatusCode::kNotFound) {
      ConnectRequest again;
      *again.mutable_session() = ref;
      return upstream_->PresenceConnect(std::move(again), [](auto) {});
    }
    metrics_->upstream_errors.fetch_add(1, std::memory_order_relaxed);
  });
}

void PresenceReporter::Offline(const void* key) {
  SessionRef ref;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return;
    ref = std::move(it->second);
    sessions_.erase(it);
  }
  DisconnectRequest req;
  *req.mutable_session() = std::move(ref);
  upstream_->PresenceDisconnect(std::move(req), [](auto) {});
}

void PresenceReporter::Heartbeat() {
  // One call per chunk of sessions per interval, not one per session.
  constexpr size_t kChunk = 5000;
  std::vector<HeartbeatRequest> chunks;
  auto known = std::make_shared<absl::flat_hash_map<std::string, SessionRef>>();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, ref] : sessions_) {
      if (chunks.empty() || chunks.back().sessions_size() >= static_cast<int>(kChunk)) {
        chunks.emplace_back();
        chunks.back().set_gateway_id(gateway_id_);
      }
      *chunks.back().add_sessions() = ref;
      (*known)[ref.session_id()] = ref;
    }
  }
  for (HeartbeatRequest& chunk : chunks) {
    upstream_->PresenceHeartbeat(
        std::move(chunk), [this, known](absl::StatusOr<HeartbeatResponse> r) {
          if (!r.ok()) {
            metrics_->upstream_errors.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          for (const std::string& id : r->unknown_session_ids()) {
            auto it = known->find(id);
            if (it == known->end()) continue;
            ConnectRequest again;
            *again.mutable_session() = it->second;
            upstream_->PresenceConnect(std::move(again), [](auto) {});
          }
        });
  }
  timer_.expires_after(absl::ToChronoNanoseconds(interval_));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) Heartbeat();
  });
}

}  // namespace chat::gateway
