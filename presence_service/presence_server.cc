#include "presence_service/presence_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

namespace chat::presence_service {

namespace {

PresenceServerOptions WithSafeLease(PresenceServerOptions o) {
  // The lease must outlast any deadline an operation can set, or a release
  // could not tell a fresh deadline from its own claim.
  o.store.sweep_lease =
      std::max(o.store.sweep_lease, 2 * (o.core.session_ttl + o.core.offline_grace));
  return o;
}

}  // namespace

PresenceServer::PresenceServer(PresenceServerOptions options)
    : options_(WithSafeLease(std::move(options))),
      host_(options_.listen, options_.redis, "chat.PresenceService", options_.tls,
            options_.metrics_listen),
      store_(host_.redis(), options_.store),
      core_(&store_, options_.core),
      service_(&core_),
      sweep_timer_(host_.io_context()) {}

PresenceServer::~PresenceServer() { Shutdown(absl::ZeroDuration()); }

absl::Status PresenceServer::Start() {
  if (absl::Status s = host_.Start({&service_}); !s.ok()) return s;
  boost::asio::post(host_.io_context(), [this] { Sweep(); });
  return absl::OkStatus();
}

void PresenceServer::Shutdown(absl::Duration grace) { host_.Shutdown(grace); }

void PresenceServer::Sweep() {
  core_.SweepDue([this](absl::StatusOr<int> n) {
    // Redis being down (kUnavailable, e.g. while connecting at startup) is
    // already reported by the health status; other failures are logged once.
    const bool failing = !n.ok() && !absl::IsUnavailable(n.status());
    if (failing && !sweep_failing_) {
      spdlog::warn("event=presence_sweep_failed error=\"{}\"", std::string(n.status().message()));
    } else if (n.ok() && sweep_failing_) {
      spdlog::info("event=presence_sweep_recovered");
    }
    if (n.ok() || failing) sweep_failing_ = failing;
    if (n.ok() && *n > 0) spdlog::debug("event=presence_swept users={}", *n);
    const bool backlog = n.ok() && *n >= options_.core.sweep_batch;
    sweep_timer_.expires_after(backlog ? std::chrono::nanoseconds(0)
                                       : absl::ToChronoNanoseconds(options_.sweep_interval));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Sweep();
    });
  });
}

}  // namespace chat::presence_service
