// PresenceReporter: the gateway's side of presence. Identified sessions are
// registered with the presence service (Connect / SetStatus / Disconnect) and
// kept alive by one Heartbeat call per interval for all of them (in chunks),
// so a gateway that dies lets its sessions expire by TTL.
#ifndef CHATSUITE_GATEWAY_PRESENCE_REPORTER_H_
#define CHATSUITE_GATEWAY_PRESENCE_REPORTER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/metrics.h"
#include "gateway/upstream.h"

namespace chat::gateway {

class PresenceReporter {
 public:
  // upstream and metrics must outlive the reporter; heartbeats run on ioc.
  PresenceReporter(Upstream* upstream, Metrics* metrics, std::string gateway_id,
                   absl::Duration heartbeat_interval, boost::asio::io_context& ioc);

  // Start begins the heartbeats; Stop ends them (they also end with ioc).
  void Start();
  void Stop() { stopped_ = true; }

  // Online registers a session (key: any stable pointer for its life),
  // Status changes its status, Offline forgets it. Thread-safe; never block.
  void Online(const void* key, const SessionRef& ref) ABSL_LOCKS_EXCLUDED(mu_);
  void Status(const void* key, const SessionRef& ref) ABSL_LOCKS_EXCLUDED(mu_);
  void Offline(const void* key) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& gateway_id() const { return gateway_id_; }

 private:
  void Heartbeat() ABSL_LOCKS_EXCLUDED(mu_);

  Upstream* upstream_;
  Metrics* metrics_;
  const std::string gateway_id_;
  const absl::Duration interval_;
  boost::asio::steady_timer timer_;
  std::atomic<bool> stopped_{false};
  absl::Mutex mu_;
  absl::flat_hash_map<const void*, SessionRef> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_PRESENCE_REPORTER_H_
