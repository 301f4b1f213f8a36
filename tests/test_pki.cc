#include "tests/test_pki.h"

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

absl::StatusOr<TestPki::Leaf> TestPki::Issue(const std::string& common_name) const {
  const std::string base = absl::StrCat(dir_, "/", common_name);
  Leaf leaf{base + ".crt", base + ".key"};
  {
    std::ofstream ext(base + ".ext");
    ext << "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n";
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

absl::Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  const std::string staged = to + ".new";
  std::filesystem::copy_file(from, staged, std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec) std::filesystem::rename(staged, to, ec);
  if (ec) return absl::InternalError(ec.message());
  return absl::OkStatus();
}

}  // namespace chat::testing
