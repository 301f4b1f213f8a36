// GrpcTls: TLS on the suite's internal gRPC links. Every binary takes the same
// three files, its own certificate and key and the CA bundle it trusts:
//  - a service serves TLS when cert_file and key_file are set; with ca_file
//    as well it requires every client to present a certificate signed by it
//    (mutual TLS: the internal APIs' client authentication);
//  - a client (the gateway; the invite service calling chat) speaks TLS when
//    ca_file is set, checks the server's certificate against it and the
//    target's host name, and presents cert_file and key_file when set.
// gRPC re-reads the files every kGrpcTlsReload, so a rotated certificate is
// picked up without a restart (files replaced as a whole, as Kubernetes
// Secret volumes are).
#ifndef CHATSUITE_COMMON_GRPC_TLS_H_
#define CHATSUITE_COMMON_GRPC_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace chat {

inline constexpr unsigned kGrpcTlsReloadSeconds = 60;

struct GrpcTls {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;

  bool serves_tls() const { return !cert_file.empty(); }
  bool dials_tls() const { return !ca_file.empty(); }
};

// CheckGrpcServerTls and CheckGrpcClientTls load every file set, as a
// service and as a client would: kInvalidArgument names the first that cannot
// be used (a certificate without its key, a key that does not match, a CA
// file with no certificate), and refuses a set that would quietly fall back
// to plaintext: a service given a CA but no certificate (it could not require
// client certificates), a client given a certificate but no CA (it would not
// dial TLS). A binary that is both (the invite service) checks both.
absl::Status CheckGrpcServerTls(const GrpcTls& tls);
absl::Status CheckGrpcClientTls(const GrpcTls& tls);

// GrpcServerCredentials: TLS (mutual with ca_file) when cert_file is set,
// otherwise insecure. Call CheckGrpcTls first.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const GrpcTls& tls);

// GrpcChannelCredentials: TLS when ca_file is set, otherwise insecure.
std::shared_ptr<grpc::ChannelCredentials> GrpcChannelCredentials(const GrpcTls& tls);

}  // namespace chat

#endif  // CHATSUITE_COMMON_GRPC_TLS_H_
