// invite_service: friend and server invitations with server-side anti-spam.
// Flags may also be set through the environment variables in their help.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/config.h"
#include "common/grpc_tls_flags.h"
#include "common/log_flags.h"
#include "common/redis_flags.h"
#include "common/signals.h"
#include "invite_service/invite_server.h"

ABSL_FLAG(std::string, listen, chat::EnvOr("INVITE_LISTEN", "0.0.0.0:50053"),
          "gRPC listen address (env INVITE_LISTEN)");
ABSL_FLAG(std::string, metrics_listen, chat::EnvOr("INVITE_METRICS_LISTEN", "0.0.0.0:9153"),
          "host:port of the Prometheus /metrics endpoint; empty turns it off (env "
          "INVITE_METRICS_LISTEN)");
ABSL_FLAG(std::string, chat, chat::EnvOr("CHAT_SERVICE", "127.0.0.1:50051"),
          "chat service host:port, for memberships (env CHAT_SERVICE)");
ABSL_FLAG(int64_t, throttle_ms, chat::EnvOrInt("INVITE_THROTTLE_MS", 1500),
          "minimum interval between invitation/cancel actions of one user towards another");
ABSL_FLAG(int64_t, ttl_s, chat::EnvOrInt("INVITE_TTL_S", 7 * 24 * 3600),
          "seconds until a pending invitation expires (env INVITE_TTL_S)");
ABSL_FLAG(int32_t, max_pending_sent, chat::EnvOrInt("INVITE_MAX_PENDING_SENT", 100),
          "pending invitations one user may have sent; more get too_many_pending (0: no limit)");
ABSL_FLAG(int32_t, invites_per_minute, chat::EnvOrInt("INVITE_PER_MINUTE", 20),
          "invitations one user may create per minute; more get rate_limited (0: no limit)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  chat::IgnoreSigpipe();  // hiredis writes with write(2); SIGHUP is ours.
  if (absl::Status s = chat::SetupLoggingFromFlags("invite_service"); !s.ok()) {
    std::fprintf(stderr, "invite_service: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::StatusOr<chat::RedisTarget> redis = chat::RedisTargetFromFlags();
  if (!redis.ok()) {
    spdlog::critical("event=bad_flag error=\"{}\"", std::string(redis.status().message()));
    return 2;
  }
  chat::invite_service::InviteServerOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.redis = *redis;
  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.tls = chat::GrpcTlsFromFlags();
  o.chat_target = absl::GetFlag(FLAGS_chat);
  o.core.throttle = absl::Milliseconds(absl::GetFlag(FLAGS_throttle_ms));
  o.core.ttl = absl::Seconds(absl::GetFlag(FLAGS_ttl_s));
  o.core.max_pending_sent = absl::GetFlag(FLAGS_max_pending_sent);
  o.core.invites_per_minute = absl::GetFlag(FLAGS_invites_per_minute);
  chat::invite_service::InviteServer server(o);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("event=start_failed error=\"{}\"", std::string(s.message()));
    return 1;
  }
  chat::WaitForSignal();
  spdlog::info("event=shutting_down");
  server.Shutdown(absl::Seconds(5));
  return 0;
}
