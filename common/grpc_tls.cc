#include "common/grpc_tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "common/tls.h"

namespace chat {

namespace tls = grpc::experimental;

namespace {

absl::Status CheckFiles(const GrpcTls& t) {
  if (t.cert_file.empty() != t.key_file.empty()) {
    return absl::InvalidArgumentError("--grpc_tls_cert and --grpc_tls_key go together");
  }
  if (t.serves_tls()) {
    if (absl::Status s = LoadTlsServerContext(t.cert_file, t.key_file).status(); !s.ok()) return s;
  }
  if (t.dials_tls()) return CheckCaFile(t.ca_file);
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckGrpcServerTls(const GrpcTls& t) {
  if (t.dials_tls() && !t.serves_tls()) {
    return absl::InvalidArgumentError(
        "--grpc_tls_ca on a service requires client certificates, and needs --grpc_tls_cert and "
        "--grpc_tls_key to serve TLS");
  }
  return CheckFiles(t);
}

absl::Status CheckGrpcClientTls(const GrpcTls& t) {
  if (t.serves_tls() && !t.dials_tls()) {
    return absl::InvalidArgumentError(
        "--grpc_tls_cert without --grpc_tls_ca: calls to the services would not use TLS");
  }
  return CheckFiles(t);
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const GrpcTls& t) {
  if (!t.serves_tls()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<tls::FileWatcherCertificateProvider>(
      t.key_file, t.cert_file, t.ca_file, kGrpcTlsReloadSeconds);
  tls::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (t.dials_tls()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return tls::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> GrpcChannelCredentials(const GrpcTls& t) {
  if (!t.dials_tls()) return grpc::InsecureChannelCredentials();
  auto provider = t.serves_tls() ? std::make_shared<tls::FileWatcherCertificateProvider>(
                                       t.key_file, t.cert_file, t.ca_file, kGrpcTlsReloadSeconds)
                                 : std::make_shared<tls::FileWatcherCertificateProvider>(
                                       t.ca_file, kGrpcTlsReloadSeconds);
  tls::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (t.serves_tls()) options.watch_identity_key_cert_pairs();
  return tls::TlsCredentials(options);
}

}  // namespace chat
