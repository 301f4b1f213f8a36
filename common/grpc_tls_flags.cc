#include "common/grpc_tls_flags.h"

#include "absl/flags/flag.h"
#include "common/config.h"

ABSL_FLAG(std::string, grpc_tls_cert, chat::EnvOr("CHAT_GRPC_TLS_CERT", ""),
          "PEM certificate chain this binary serves gRPC with and presents to the services it "
          "calls; empty: plaintext (env CHAT_GRPC_TLS_CERT)");
ABSL_FLAG(std::string, grpc_tls_key, chat::EnvOr("CHAT_GRPC_TLS_KEY", ""),
          "PEM private key of --grpc_tls_cert (env CHAT_GRPC_TLS_KEY)");
ABSL_FLAG(std::string, grpc_tls_ca, chat::EnvOr("CHAT_GRPC_TLS_CA", ""),
          "PEM CA bundle: calls to services use TLS and check their certificates with it, and a "
          "service with --grpc_tls_cert requires clients to present a certificate it signed "
          "(env CHAT_GRPC_TLS_CA)");

namespace chat {

GrpcTls GrpcTlsFromFlags() {
  GrpcTls t;
  t.cert_file = absl::GetFlag(FLAGS_grpc_tls_cert);
  t.key_file = absl::GetFlag(FLAGS_grpc_tls_key);
  t.ca_file = absl::GetFlag(FLAGS_grpc_tls_ca);
  return t;
}

}  // namespace chat
