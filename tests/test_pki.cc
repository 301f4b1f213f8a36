#include "tests/test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace chat::testing {

namespace {

absl::Status Run(const std::string& command) {
  const std::string quiet = absl::StrCat(command, " >/dev/null 2>&1");
  if (std::system(quiet.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", command));
  }
  return absl::OkStatus();
}

constexpr char kNewKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

}  // namespace

absl::StatusOr<TestPki> TestPki::Create(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  TestPki pki;
  pki.dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/pki-", name);
  std::filesystem::create_directories(pki.dir_);
  pki.ca_cert_ = pki.dir_ + "/ca.crt";
  pki.ca_key_ = pki.dir_ + "/ca.key";
  if (absl::Status s = Run(absl::StrCat("openssl req -x509 ", kNewKey, " -keyout ", pki.ca_key_,
                                        " -out ", pki.ca_cert_, " -days 2 -subj /CN=", name));
      !s.ok()) {
    return s;
  }
  return pki;
}

absl::StatusOr<TestPki::Leaf> TestPki::Issue(const std::string& common_name,
                                             const std::string& san) const {
  const std::string base = absl::StrCat(dir_, "/", common_name);
  Leaf leaf{base + ".crt", base + ".key"};
  {
    std::ofstream ext(base + ".ext");
    ext << "subjectAltName=" << san << "\nbasicConstraints=CA:FALSE\n";
  }
  if (absl::Status s = Run(absl::StrCat("openssl req ", kNewKey, " -keyout ", leaf.key, " -out ",
                                        base, ".csr -subj /CN=", common_name));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Run(absl::StrCat("openssl x509 -req -in ", base, ".csr -CA ", ca_cert_,
                                        " -CAkey ", ca_key_, " -CAcreateserial -days 1 -out ",
                                        leaf.cert, " -extfile ", base, ".ext"));
      !s.ok()) {
    return s;
  }
  return leaf;
}

absl::StatusOr<TestPki::Leaf> TestPki::IssueValid(const std::string& common_name,
                                                  absl::Duration not_before,
                                                  absl::Duration not_after) const {
  const std::string base = absl::StrCat(dir_, "/", common_name);
  Leaf leaf{base + ".crt", base + ".key"};
  FILE* f = std::fopen(ca_cert_.c_str(), "r");
  X509* ca = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  f = std::fopen(ca_key_.c_str(), "r");
  EVP_PKEY* ca_key = f ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  bool ok = ca != nullptr && ca_key != nullptr && key != nullptr && cert != nullptr;
  if (ok) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert),
                     static_cast<long>(absl::ToUnixMicros(absl::Now())));
    X509_gmtime_adj(X509_getm_notBefore(cert), absl::ToInt64Seconds(not_before));
    X509_gmtime_adj(X509_getm_notAfter(cert), absl::ToInt64Seconds(not_after));
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert, X509_get_subject_name(ca));
    X509_set_pubkey(cert, key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1 &&
         X509_sign(cert, ca_key, EVP_sha256()) > 0;
    X509_EXTENSION_free(ext);
  }
  if (ok) {
    FILE* out = std::fopen(leaf.cert.c_str(), "w");
    ok = out != nullptr && PEM_write_X509(out, cert) == 1;
    if (out) std::fclose(out);
    out = std::fopen(leaf.key.c_str(), "w");
    ok = ok && out != nullptr &&
         PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (out) std::fclose(out);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  X509_free(ca);
  if (!ok) return absl::InternalError("cannot issue " + common_name);
  return leaf;
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  const std::string staged = to + ".new";
  std::filesystem::copy_file(from, staged, std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec) std::filesystem::rename(staged, to, ec);
  if (ec) return absl::InternalError(ec.message());
  return absl::OkStatus();
}

}  // namespace chat::testing
