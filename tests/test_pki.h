// TestPki: a throwaway certificate authority, made with the openssl command
// in a directory of the test's: its CA certificate, and leaf certificates it
// signs for localhost and 127.0.0.1 (usable by servers and clients alike).
#ifndef CHATSUITE_TESTS_TEST_PKI_H_
#define CHATSUITE_TESTS_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace chat::testing {

class TestPki {
 public:
  struct Leaf {
    std::string cert;  // PEM file paths.
    std::string key;
  };

  // Create makes the CA (CN=name) in a new directory under TEST_TMPDIR.
  static absl::StatusOr<TestPki> Create(const std::string& name);

  // Issue signs a leaf certificate with CN=common_name, valid for a day,
  // for san (an openssl subjectAltName value).
  absl::StatusOr<Leaf> Issue(const std::string& common_name,
                             const std::string& san = "DNS:localhost,IP:127.0.0.1") const;
  // IssueValid signs one valid from now + not_before to now + not_after
  // (either may lie in the past), which the openssl command cannot do.
  absl::StatusOr<Leaf> IssueValid(const std::string& common_name, absl::Duration not_before,
                                  absl::Duration not_after) const;
  const std::string& ca() const { return ca_cert_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string ca_cert_;
  std::string ca_key_;
};

// CopyFile replaces to with a copy of from, as a whole (rename), the way a
// Kubernetes Secret volume changes.
absl::Status CopyFile(const std::string& from, const std::string& to);

}  // namespace chat::testing

#endif  // CHATSUITE_TESTS_TEST_PKI_H_
