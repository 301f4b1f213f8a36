// presence_service: who is online, aggregated per user over every session on
// every gateway, over gRPC. Flags may also be set through the environment
// variables named in each flag's help.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/config.h"
#include "common/grpc_tls_flags.h"
#include "common/log_flags.h"
#include "common/redis_flags.h"
#include "common/signals.h"
#include "presence_service/presence_server.h"

ABSL_FLAG(std::string, listen, chat::EnvOr("PRESENCE_LISTEN", "0.0.0.0:50052"),
          "gRPC listen address (env PRESENCE_LISTEN)");
ABSL_FLAG(std::string, metrics_listen, chat::EnvOr("PRESENCE_METRICS_LISTEN", "0.0.0.0:9152"),
          "host:port of the Prometheus /metrics endpoint; empty turns it off (env "
          "PRESENCE_METRICS_LISTEN)");
ABSL_FLAG(int64_t, session_ttl_s, chat::EnvOrInt("PRESENCE_SESSION_TTL_S", 30),
          "seconds a session lives without a heartbeat; gateways should heartbeat about "
          "every third of it (env PRESENCE_SESSION_TTL_S)");
ABSL_FLAG(int64_t, offline_grace_ms, chat::EnvOrInt("PRESENCE_OFFLINE_GRACE_MS", 2000),
          "how long a user whose last session closed still appears as before, so reloads "
          "do not flap (env PRESENCE_OFFLINE_GRACE_MS)");
ABSL_FLAG(int64_t, sweep_interval_ms, chat::EnvOrInt("PRESENCE_SWEEP_INTERVAL_MS", 500),
          "how often expired sessions are looked for (env PRESENCE_SWEEP_INTERVAL_MS)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  chat::IgnoreSigpipe();  // hiredis writes with write(2); SIGHUP is ours.
  if (absl::Status s = chat::SetupLoggingFromFlags("presence_service"); !s.ok()) {
    std::fprintf(stderr, "presence_service: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::StatusOr<chat::RedisTarget> redis = chat::RedisTargetFromFlags();
  if (!redis.ok()) {
    spdlog::critical("event=bad_flag error=\"{}\"", std::string(redis.status().message()));
    return 2;
  }
  const int64_t ttl_s = absl::GetFlag(FLAGS_session_ttl_s);
  const int64_t grace_ms = absl::GetFlag(FLAGS_offline_grace_ms);
  const int64_t sweep_ms = absl::GetFlag(FLAGS_sweep_interval_ms);
  if (ttl_s < 1 || grace_ms < 0 || sweep_ms < 10) {
    spdlog::critical(
        "event=bad_flag error=\"need session_ttl_s >= 1, offline_grace_ms >= 0, "
        "sweep_interval_ms >= 10\"");
    return 2;
  }
  chat::presence_service::PresenceServerOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.redis = *redis;
  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.tls = chat::GrpcTlsFromFlags();
  o.core.session_ttl = absl::Seconds(ttl_s);
  o.core.offline_grace = absl::Milliseconds(grace_ms);
  o.sweep_interval = absl::Milliseconds(sweep_ms);
  chat::presence_service::PresenceServer server(o);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("event=start_failed error=\"{}\"", std::string(s.message()));
    return 1;
  }
  chat::WaitForSignal();
  spdlog::info("event=shutting_down");
  server.Shutdown(absl::Seconds(5));
  return 0;
}
