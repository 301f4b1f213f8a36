// gateway: the WebSocket gateway. Flags may also be set through the
// environment variables named in each flag's help.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/grpc_tls_flags.h"
#include "common/log_flags.h"
#include "common/redis_flags.h"
#include "common/signals.h"
#include "gateway/gateway.h"

ABSL_FLAG(std::string, listen, chat::EnvOr("GATEWAY_LISTEN", "0.0.0.0:8080"),
          "HTTP/WebSocket listen address (env GATEWAY_LISTEN)");
ABSL_FLAG(std::string, chat, chat::EnvOr("CHAT_SERVICE", "127.0.0.1:50051"),
          "chat service host:port (env CHAT_SERVICE)");
ABSL_FLAG(std::string, invite, chat::EnvOr("INVITE_SERVICE", ""),
          "invite service host:port; empty turns invitations off (env INVITE_SERVICE)");
ABSL_FLAG(std::string, presence, chat::EnvOr("PRESENCE_SERVICE", ""),
          "presence service host:port; empty turns presence off (env PRESENCE_SERVICE)");
ABSL_FLAG(std::string, gateway_id, chat::EnvOr("GATEWAY_ID", chat::EnvOr("POD_NAME", "")),
          "this replica's name for the presence service (env GATEWAY_ID or POD_NAME); "
          "empty: random");
ABSL_FLAG(int32_t, presence_heartbeat_ms, chat::EnvOrInt("GATEWAY_PRESENCE_HEARTBEAT_MS", 10000),
          "how often sessions are refreshed in the presence service; keep it under a third "
          "of its session TTL");
ABSL_FLAG(std::string, jwt_secret, chat::EnvOr("CHAT_JWT_SECRET", ""),
          "HS256 secret shared with the token issuer (env CHAT_JWT_SECRET)");
ABSL_FLAG(std::string, jwt_previous_secret, chat::EnvOr("CHAT_JWT_PREVIOUS_SECRET", ""),
          "during a key rotation, the old HS256 secret: its tokens stay valid until they expire "
          "(env CHAT_JWT_PREVIOUS_SECRET)");
ABSL_FLAG(int32_t, jwt_clock_skew_s, chat::EnvOrInt("CHAT_JWT_CLOCK_SKEW_S", 30),
          "seconds of leeway on a token's exp and nbf (env CHAT_JWT_CLOCK_SKEW_S)");
ABSL_FLAG(int32_t, max_connections_per_address,
          chat::EnvOrInt("GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", 0),
          "WebSocket connections one client address may hold; more get HTTP 429 (0: no limit; "
          "leave 0 behind a proxy, whose address every client shares)");
ABSL_FLAG(int32_t, max_sessions_per_user, chat::EnvOrInt("GATEWAY_MAX_SESSIONS_PER_USER", 32),
          "identified sessions one user may hold on this gateway; more are closed with 4011 (0: "
          "no limit)");
ABSL_FLAG(int32_t, max_topics_per_session, chat::EnvOrInt("GATEWAY_MAX_TOPICS_PER_SESSION", 5000),
          "topics (channels, the user's own, server presence) one session may follow; more "
          "close it with 4012");
ABSL_FLAG(bool, dev_login, chat::EnvOr("GATEWAY_DEV_LOGIN", "") == "1",
          "enable POST /api/dev/login (env GATEWAY_DEV_LOGIN=1); never in production");
ABSL_FLAG(std::string, dev_join_servers, chat::EnvOr("GATEWAY_DEV_JOIN_SERVERS", "demo"),
          "comma-separated servers every dev-login user joins");
ABSL_FLAG(std::string, allowed_origins, chat::EnvOr("GATEWAY_ALLOWED_ORIGINS", ""),
          "comma-separated Origins allowed to open WebSockets; empty = same origin; * = any");
ABSL_FLAG(std::string, web_root, chat::EnvOr("GATEWAY_WEB_ROOT", "web"),
          "directory of the web client served at / (empty: none)");
ABSL_FLAG(int32_t, threads, chat::EnvOrInt("GATEWAY_THREADS", 0), "I/O threads (0: one per core)");
ABSL_FLAG(int32_t, max_frame_bytes, chat::EnvOrInt("GATEWAY_MAX_FRAME_BYTES", 16384),
          "largest accepted WebSocket message");
ABSL_FLAG(int32_t, max_message_chars, chat::EnvOrInt("CHAT_MAX_MESSAGE_CHARS", 2000),
          "longest chat message in characters (must match the chat service)");
ABSL_FLAG(int32_t, heartbeat_s, chat::EnvOrInt("GATEWAY_HEARTBEAT_S", 15),
          "seconds between server pings; a peer silent for twice this is closed");
ABSL_FLAG(int32_t, identify_timeout_s, chat::EnvOrInt("GATEWAY_IDENTIFY_TIMEOUT_S", 10),
          "seconds a socket may stay unidentified");
ABSL_FLAG(int32_t, http_request_timeout_s, chat::EnvOrInt("GATEWAY_HTTP_REQUEST_TIMEOUT_S", 10),
          "seconds one HTTP request (the upgrade included) may take to arrive; slower ones and "
          "idle keep-alive connections are closed");
ABSL_FLAG(int64_t, max_outbound_bytes, chat::EnvOrInt("GATEWAY_MAX_OUTBOUND_BYTES", 4 << 20),
          "bytes queued per connection before it is closed as a slow consumer");
ABSL_FLAG(double, chat_rate, chat::EnvOrInt("GATEWAY_CHAT_RATE", 5),
          "chat messages per second per user, sustained (env GATEWAY_CHAT_RATE)");
ABSL_FLAG(double, chat_burst, chat::EnvOrInt("GATEWAY_CHAT_BURST", 10),
          "chat message burst per user (env GATEWAY_CHAT_BURST)");
ABSL_FLAG(double, frame_rate, chat::EnvOrInt("GATEWAY_FRAME_RATE", 20),
          "frames of any kind per second per connection (env GATEWAY_FRAME_RATE)");
ABSL_FLAG(double, frame_burst, chat::EnvOrInt("GATEWAY_FRAME_BURST", 50),
          "frame burst per connection (env GATEWAY_FRAME_BURST)");
ABSL_FLAG(int32_t, canary_interval_ms, chat::EnvOrInt("GATEWAY_CANARY_INTERVAL_MS", 1000),
          "how often a canary proves the pub/sub delivery path; /readyz fails and the path "
          "restarts after three silent intervals; 0 turns it off");
ABSL_FLAG(int32_t, watermark_grace_ms, chat::EnvOrInt("GATEWAY_WATERMARK_GRACE_MS", 5000),
          "how long an event this gateway knows of may take to reach a client; a heartbeat "
          "watermark still short of it after this is counted lost and refilled (env "
          "GATEWAY_WATERMARK_GRACE_MS)");
ABSL_FLAG(int32_t, head_probe_interval_s, chat::EnvOrInt("GATEWAY_HEAD_PROBE_INTERVAL_S", 10),
          "the delivery watch reads a stream's log head at most this often (env "
          "GATEWAY_HEAD_PROBE_INTERVAL_S)");
ABSL_FLAG(double, head_probe_rate, chat::EnvOrInt("GATEWAY_HEAD_PROBE_RATE", 50),
          "log-head probes per second at most, over all streams (env GATEWAY_HEAD_PROBE_RATE)");
ABSL_FLAG(std::string, tls_cert, chat::EnvOr("GATEWAY_TLS_CERT", ""),
          "PEM certificate chain: with --tls_key the port speaks only TLS (https, wss); both "
          "files are re-read on SIGHUP (env GATEWAY_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, chat::EnvOr("GATEWAY_TLS_KEY", ""),
          "PEM private key of --tls_cert (env GATEWAY_TLS_KEY)");

namespace {

std::vector<std::string> SplitList(const std::string& s) {
  return absl::StrSplit(s, ',', absl::SkipWhitespace());
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  chat::IgnoreSigpipe();  // hiredis writes with write(2); SIGHUP is ours.
  if (absl::Status s = chat::SetupLoggingFromFlags("gateway"); !s.ok()) {
    std::fprintf(stderr, "gateway: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto listen = chat::ParseHostPort(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) {
    spdlog::critical("event=bad_flag error=\"--listen takes host:port\"");
    return 2;
  }
  absl::StatusOr<chat::RedisTarget> redis = chat::RedisTargetFromFlags();
  if (!redis.ok()) {
    spdlog::critical("event=bad_flag error=\"{}\"", std::string(redis.status().message()));
    return 2;
  }
  chat::gateway::GatewayOptions o;
  o.listen_host = listen->host;
  o.port = listen->port;
  o.redis.host = redis->instance.host;
  o.redis.port = redis->instance.port;
  o.redis_cluster = redis->cluster;
  o.chat_target = absl::GetFlag(FLAGS_chat);
  o.invite_target = absl::GetFlag(FLAGS_invite);
  o.presence_target = absl::GetFlag(FLAGS_presence);
  o.gateway_id = absl::GetFlag(FLAGS_gateway_id);
  o.presence_heartbeat = absl::Milliseconds(absl::GetFlag(FLAGS_presence_heartbeat_ms));
  o.max_connections_per_address = absl::GetFlag(FLAGS_max_connections_per_address);
  o.max_sessions_per_user = absl::GetFlag(FLAGS_max_sessions_per_user);
  o.jwt_secret = absl::GetFlag(FLAGS_jwt_secret);
  o.jwt_previous_secret = absl::GetFlag(FLAGS_jwt_previous_secret);
  o.jwt_clock_skew = absl::Seconds(std::max(0, absl::GetFlag(FLAGS_jwt_clock_skew_s)));
  o.dev_login = absl::GetFlag(FLAGS_dev_login);
  o.dev_join_servers = SplitList(absl::GetFlag(FLAGS_dev_join_servers));
  o.allowed_origins = SplitList(absl::GetFlag(FLAGS_allowed_origins));
  o.web_root = absl::GetFlag(FLAGS_web_root);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.max_frame_bytes = absl::GetFlag(FLAGS_max_frame_bytes);
  o.max_message_chars = absl::GetFlag(FLAGS_max_message_chars);
  o.heartbeat_interval = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_s));
  o.identify_timeout = absl::Seconds(absl::GetFlag(FLAGS_identify_timeout_s));
  o.max_topics_per_session = absl::GetFlag(FLAGS_max_topics_per_session);
  o.http_request_timeout = absl::Seconds(absl::GetFlag(FLAGS_http_request_timeout_s));
  o.max_outbound_bytes = absl::GetFlag(FLAGS_max_outbound_bytes);
  o.chat_rate = absl::GetFlag(FLAGS_chat_rate);
  o.chat_burst = absl::GetFlag(FLAGS_chat_burst);
  o.frame_rate = absl::GetFlag(FLAGS_frame_rate);
  o.frame_burst = absl::GetFlag(FLAGS_frame_burst);
  o.canary_interval = absl::Milliseconds(absl::GetFlag(FLAGS_canary_interval_ms));
  o.watermark_grace = absl::Milliseconds(absl::GetFlag(FLAGS_watermark_grace_ms));
  o.head_probe_interval = absl::Seconds(absl::GetFlag(FLAGS_head_probe_interval_s));
  o.head_probe_rate = absl::GetFlag(FLAGS_head_probe_rate);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.grpc_tls = chat::GrpcTlsFromFlags();
  chat::gateway::Gateway gateway(o);
  if (absl::Status s = gateway.Start(); !s.ok()) {
    spdlog::critical("event=start_failed error=\"{}\"", std::string(s.message()));
    return 1;
  }
  // SIGHUP reloads the TLS certificate (a failed reload keeps the old one).
  chat::WaitForSignal([&gateway] {
    if (gateway.tls_context() != nullptr) (void)gateway.ReloadTls();
  });
  gateway.Drain();
  // Sessions close over the drain window; a client that never completes the
  // close handshake is cut off 5 s later at the latest.
  if (!gateway.WaitDrained(o.drain_window + absl::Seconds(6))) {
    spdlog::warn("event=drain_incomplete");
  }
  gateway.Stop();
  return 0;
}
