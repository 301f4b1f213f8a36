#include "common/tls.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace chat {

namespace ssl = boost::asio::ssl;

namespace {

absl::Status FileError(const std::string& what, const std::string& file,
                       const boost::system::error_code& ec) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot use ", what, " ", file, ": ", ec.message()));
}

absl::Time TimeOf(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

}  // namespace

absl::StatusOr<TlsServerContext> LoadTlsServerContext(const std::string& cert_file,
                                                      const std::string& key_file,
                                                      const std::string& ca_file) {
  if (cert_file.empty() || key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use | ssl::context::no_compression);
  // Whatever OpenSSL's configured security level allows.
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) return FileError("certificate", cert_file, ec);
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return FileError("private key", key_file, ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key ", key_file, " does not match certificate ", cert_file));
  }
  if (!ca_file.empty()) {
    if (absl::Status s = CheckCaFile(ca_file); !s.ok()) return s;
    ctx->load_verify_file(ca_file, ec);
    if (ec) return FileError("CA bundle", ca_file, ec);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  X509* leaf = SSL_CTX_get0_certificate(ctx->native_handle());
  const absl::Time not_before = TimeOf(leaf ? X509_get0_notBefore(leaf) : nullptr);
  const absl::Time not_after = TimeOf(leaf ? X509_get0_notAfter(leaf) : nullptr);
  const absl::Time now = absl::Now();
  if (now >= not_after) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", cert_file, " expired at ",
                     absl::FormatTime(not_after, absl::UTCTimeZone())));
  }
  if (now < not_before) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", cert_file, " is not valid until ",
                     absl::FormatTime(not_before, absl::UTCTimeZone())));
  }
  TlsServerContext out;
  out.not_after = not_after;
  out.context = std::move(ctx);
  return out;
}

absl::Status CheckCaFile(const std::string& ca_file) {
  FILE* f = std::fopen(ca_file.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read CA bundle ", ca_file));
  }
  X509* first = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (first == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA bundle ", ca_file, " holds no PEM certificate"));
  }
  X509_free(first);
  return absl::OkStatus();
}

}  // namespace chat
