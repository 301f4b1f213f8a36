// TLS material from files, checked once where it is loaded: the gateway's
// listener context and the gRPC links' certificates (grpc_tls.h) both go
// through LoadTlsServerContext, so a missing file, a key that does not match
// its certificate or an unparsable CA bundle is refused at start (and on a
// reload) with the file named, never at the first handshake.
#ifndef CHATSUITE_COMMON_TLS_H_
#define CHATSUITE_COMMON_TLS_H_

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace chat {

struct TlsServerContext {
  std::shared_ptr<boost::asio::ssl::context> context;
  absl::Time not_after;  // When the leaf certificate expires.
};

// LoadTlsServerContext builds a server context from a PEM certificate chain
// and its PEM private key: TLS 1.2 and 1.3 only, no compression, OpenSSL's
// default cipher suites. With ca_file, clients must present a certificate
// signed by one of its CAs. kInvalidArgument names the file that failed,
// and refuses a leaf certificate that has expired or is not valid yet.
absl::StatusOr<TlsServerContext> LoadTlsServerContext(const std::string& cert_file,
                                                      const std::string& key_file,
                                                      const std::string& ca_file = "");

// CheckCaFile reports whether ca_file is a readable PEM bundle of at least
// one certificate.
absl::Status CheckCaFile(const std::string& ca_file);

}  // namespace chat

#endif  // CHATSUITE_COMMON_TLS_H_
