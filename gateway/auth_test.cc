#include "gateway/auth.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <functional>
#include <string>

namespace chat::gateway {
namespace {

User Alice() {
  User u;
  u.set_id("alice");
  u.set_name("Alice");
  u.set_image("https://img/a.png");
  return u;
}

TEST(TokenVerifierTest, RoundTripsClaims) {
  TokenVerifier v("secret");
  auto token = v.Mint(Alice(), absl::Hours(1));
  ASSERT_TRUE(token.ok());
  auto id = v.Verify(*token);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->user.id(), "alice");
  EXPECT_EQ(id->user.name(), "Alice");
  EXPECT_EQ(id->user.image(), "https://img/a.png");
}

TEST(TokenVerifierTest, RejectsWrongSecretAndGarbage) {
  auto token = TokenVerifier("other").Mint(Alice(), absl::Hours(1));
  ASSERT_TRUE(token.ok());
  TokenVerifier v("secret");
  EXPECT_EQ(v.Verify(*token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v.Verify("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v.Verify("a.b.c").status().code(), absl::StatusCode::kUnauthenticated);
  // A tampered payload (same header and signature) fails.
  std::string t = *TokenVerifier("secret").Mint(Alice(), absl::Hours(1));
  size_t dot = t.find('.');
  t[dot + 5] = t[dot + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(v.Verify(t).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, RejectsAlgNone) {
  // {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":99999999999} . (no signature)
  const std::string token =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OTl9.";
  EXPECT_EQ(TokenVerifier("secret").Verify(token).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, ExpiredIsDistinct) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  TokenVerifier minting("secret", [&] { return now; });
  auto token = minting.Mint(Alice(), absl::Minutes(1));
  TokenVerifier later("secret", [&] { return now + absl::Minutes(2); });
  EXPECT_EQ(later.Verify(*token).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(TokenVerifierTest, RejectsInvalidSubject) {
  User u = Alice();
  u.set_id("a:b}");
  TokenVerifier v("secret");
  EXPECT_EQ(v.Verify(*v.Mint(u, absl::Hours(1))).status().code(),
            absl::StatusCode::kUnauthenticated);
}

constexpr long kNow = 1700000000;

// Token signs claims (set by fill on top of sub and exp) with alg and secret.
std::string Token(jwt_alg_t alg, const std::string& secret,
                  const std::function<void(jwt_t*)>& fill = nullptr, long exp = kNow + 3600) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  jwt_add_grant(jwt, "sub", "alice");
  if (exp != 0) jwt_add_grant_int(jwt, "exp", exp);
  if (fill) fill(jwt);
  EXPECT_EQ(jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(secret.data()),
                        static_cast<int>(secret.size())),
            0);
  char* encoded = jwt_encode_str(jwt);
  std::string out = encoded != nullptr ? encoded : "";
  free(encoded);
  jwt_free(jwt);
  return out;
}

TokenVerifier At(long now, std::string previous = "") {
  return TokenVerifier(TokenVerifierOptions{"secret", std::move(previous), absl::Seconds(30)},
                       [now] { return absl::FromUnixSeconds(now); });
}

absl::StatusCode CodeOf(const TokenVerifier& v, const std::string& token) {
  return v.Verify(token).status().code();
}

TEST(TokenVerifierTest, OnlyHs256IsAccepted) {
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS256, "secret")), absl::StatusCode::kOk);
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS384, "secret")), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS512, "secret")), absl::StatusCode::kUnauthenticated);
}

// An asymmetric algorithm: a token really signed with RS256 (a fresh RSA key)
// is refused, as is one that names RS256 but carries an HMAC of the secret
// (the algorithm-confusion attack on verifiers that trust the header).
TEST(TokenVerifierTest, Rs256IsRefusedHoweverItIsSigned) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  ASSERT_NE(key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* pem = nullptr;
  const long pem_len = BIO_get_mem_data(bio, &pem);
  const std::string private_pem(pem, static_cast<size_t>(pem_len));
  BIO_free(bio);
  EVP_PKEY_free(key);
  const std::string rs256 = Token(JWT_ALG_RS256, private_pem);
  ASSERT_FALSE(rs256.empty());
  ASSERT_EQ(rs256.substr(0, rs256.find('.')), "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
  EXPECT_EQ(CodeOf(At(kNow), rs256), absl::StatusCode::kUnauthenticated);
  // The HS256 signing input and signature under a header that says RS256.
  const std::string hs256 = Token(JWT_ALG_HS256, "secret");
  const std::string confused =
      "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9" + hs256.substr(hs256.find('.'));
  EXPECT_EQ(CodeOf(At(kNow), confused), absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, ExpiryAndNotBeforeAllowTheClockSkewAndNoMore) {
  const std::string expired_10s_ago = Token(JWT_ALG_HS256, "secret", nullptr, kNow - 10);
  EXPECT_EQ(CodeOf(At(kNow), expired_10s_ago), absl::StatusCode::kOk);  // Within 30 s.
  EXPECT_EQ(CodeOf(At(kNow + 25), expired_10s_ago), absl::StatusCode::kDeadlineExceeded);
  // The session ends at exp plus the skew; ready still reports exp.
  absl::StatusOr<Identity> id = At(kNow).Verify(expired_10s_ago);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->expires, absl::FromUnixSeconds(kNow - 10));
  EXPECT_EQ(id->deadline, absl::FromUnixSeconds(kNow + 20));

  auto nbf = [](long at) { return [at](jwt_t* j) { jwt_add_grant_int(j, "nbf", at); }; };
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS256, "secret", nbf(kNow + 20))),
            absl::StatusCode::kOk);
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS256, "secret", nbf(kNow + 60))),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS256, "secret",
                                   [](jwt_t* j) { jwt_add_grant(j, "nbf", "soon"); })),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, MissingOrMistypedClaimsAreRefused) {
  EXPECT_EQ(CodeOf(At(kNow), Token(JWT_ALG_HS256, "secret", nullptr, 0)),
            absl::StatusCode::kUnauthenticated);  // No exp.
  EXPECT_EQ(CodeOf(At(kNow), Token(
                                 JWT_ALG_HS256, "secret",
                                 [](jwt_t* j) { jwt_add_grant(j, "exp", "tomorrow"); }, 0)),
            absl::StatusCode::kUnauthenticated);
  for (const char* sub : {"", "a b", "../etc", "x}y", "{u:bob}"}) {
    const std::string token = Token(JWT_ALG_HS256, "secret", [sub](jwt_t* j) {
      jwt_del_grants(j, "sub");
      jwt_add_grant(j, "sub", sub);
    });
    EXPECT_EQ(CodeOf(At(kNow), token), absl::StatusCode::kUnauthenticated) << sub;
  }
  const std::string numeric_sub = Token(JWT_ALG_HS256, "secret", [](jwt_t* j) {
    jwt_del_grants(j, "sub");
    jwt_add_grant_int(j, "sub", 42);
  });
  EXPECT_EQ(CodeOf(At(kNow), numeric_sub), absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, NameAndImageClaimsAreBounded) {
  auto with = [](const char* claim, const std::string& value) {
    return Token(JWT_ALG_HS256, "secret",
                 [claim, value](jwt_t* j) { jwt_add_grant(j, claim, value.c_str()); });
  };
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "\xc3\xa9";  // 100 code points, 200 bytes.
  EXPECT_EQ(CodeOf(At(kNow), with("name", hundred)), absl::StatusCode::kOk);
  EXPECT_EQ(CodeOf(At(kNow), with("name", hundred + "e")), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(At(kNow), with("img", std::string(2048, 'i'))), absl::StatusCode::kOk);
  EXPECT_EQ(CodeOf(At(kNow), with("img", std::string(2049, 'i'))),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, TruncatedAndOversizedTokensAreRefused) {
  const std::string good = Token(JWT_ALG_HS256, "secret");
  for (size_t cut : {good.size() - 1, good.size() / 2, good.rfind('.'), size_t{1}}) {
    EXPECT_EQ(CodeOf(At(kNow), good.substr(0, cut)), absl::StatusCode::kUnauthenticated) << cut;
  }
  const std::string big = Token(JWT_ALG_HS256, "secret", [](jwt_t* j) {
    jwt_add_grant(j, "pad", std::string(9000, 'p').c_str());
  });
  EXPECT_EQ(CodeOf(At(kNow), big), absl::StatusCode::kUnauthenticated);
}

TEST(TokenVerifierTest, ARotationAcceptsThePreviousSecretUntilItsTokensExpire) {
  const std::string old_token = Token(JWT_ALG_HS256, "old-secret");
  EXPECT_EQ(CodeOf(At(kNow), old_token), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(At(kNow, "old-secret"), old_token), absl::StatusCode::kOk);
  EXPECT_EQ(CodeOf(At(kNow, "old-secret"), Token(JWT_ALG_HS256, "secret")), absl::StatusCode::kOk);
  EXPECT_EQ(CodeOf(At(kNow, "old-secret"), Token(JWT_ALG_HS256, "third")),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(At(kNow + 7200, "old-secret"), old_token), absl::StatusCode::kDeadlineExceeded);
  // New tokens are minted with the current secret only.
  const std::string minted = *At(kNow, "old-secret").Mint(Alice(), absl::Hours(1));
  EXPECT_EQ(CodeOf(At(kNow), minted), absl::StatusCode::kOk);
}

}  // namespace
}  // namespace chat::gateway
