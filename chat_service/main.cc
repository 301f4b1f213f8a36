// chat_service: messages, history and read state over gRPC. Flags may also be
// set through the environment variables named in each flag's help.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "chat_service/chat_server.h"
#include "common/config.h"
#include "common/grpc_tls_flags.h"
#include "common/log_flags.h"
#include "common/redis_flags.h"
#include "common/signals.h"

ABSL_FLAG(std::string, listen, chat::EnvOr("CHAT_LISTEN", "0.0.0.0:50051"),
          "gRPC listen address (env CHAT_LISTEN)");
ABSL_FLAG(
    std::string, metrics_listen, chat::EnvOr("CHAT_METRICS_LISTEN", "0.0.0.0:9151"),
    "host:port of the Prometheus /metrics endpoint; empty turns it off (env CHAT_METRICS_LISTEN)");
ABSL_FLAG(int64_t, retention, chat::EnvOrInt("CHAT_RETENTION", 100000),
          "messages kept per channel (env CHAT_RETENTION)");
ABSL_FLAG(int32_t, max_message_chars, chat::EnvOrInt("CHAT_MAX_MESSAGE_CHARS", 2000),
          "longest accepted message, in characters (env CHAT_MAX_MESSAGE_CHARS)");
ABSL_FLAG(int64_t, nonce_ttl_s, chat::EnvOrInt("CHAT_NONCE_TTL_S", 600),
          "seconds a message nonce is remembered for de-duplication, >= 300 "
          "(env CHAT_NONCE_TTL_S)");
ABSL_FLAG(int32_t, redis_min_replicas, chat::EnvOrInt("CHAT_REDIS_MIN_REPLICAS", 0),
          "acknowledge a message only once this many Redis replicas have it (WAIT); 0 "
          "acknowledges what the master stored (env CHAT_REDIS_MIN_REPLICAS)");
ABSL_FLAG(int32_t, redis_replica_timeout_ms, chat::EnvOrInt("CHAT_REDIS_REPLICA_TIMEOUT_MS", 1000),
          "how long a send waits for --redis_min_replicas before it fails with unavailable "
          "(env CHAT_REDIS_REPLICA_TIMEOUT_MS)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  chat::IgnoreSigpipe();  // hiredis writes with write(2); SIGHUP is ours.
  if (absl::Status s = chat::SetupLoggingFromFlags("chat_service"); !s.ok()) {
    std::fprintf(stderr, "chat_service: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::StatusOr<chat::RedisTarget> redis = chat::RedisTargetFromFlags();
  if (!redis.ok()) {
    spdlog::critical("event=bad_flag error=\"{}\"", std::string(redis.status().message()));
    return 2;
  }
  const int min_replicas = absl::GetFlag(FLAGS_redis_min_replicas);
  const int replica_timeout_ms = absl::GetFlag(FLAGS_redis_replica_timeout_ms);
  if (min_replicas < 0 || replica_timeout_ms < 1) {
    spdlog::critical(
        "event=bad_flag flag=redis_min_replicas error=\"redis_min_replicas must be >= 0 and "
        "redis_replica_timeout_ms >= 1\"");
    return 2;
  }
  chat::chat_service::ChatServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.redis = *redis;
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.tls = chat::GrpcTlsFromFlags();
  options.store.retention = absl::GetFlag(FLAGS_retention);
  options.store.nonce_ttl = absl::Seconds(std::max<int64_t>(300, absl::GetFlag(FLAGS_nonce_ttl_s)));
  options.store.min_replicas = min_replicas;
  options.store.replica_timeout = absl::Milliseconds(replica_timeout_ms);
  options.core.max_message_chars = absl::GetFlag(FLAGS_max_message_chars);
  chat::chat_service::ChatServer server(options);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("event=start_failed error=\"{}\"", std::string(s.message()));
    return 1;
  }
  chat::WaitForSignal();
  spdlog::info("event=shutting_down");
  server.Shutdown(absl::Seconds(5));
  return 0;
}
