// Token verification: clients present an HS256 JWT issued by the main app
// (claims sub = user id, name, img, exp). Every identity field the gateway
// puts on the wire comes from a verified token.
#ifndef CHATSUITE_GATEWAY_AUTH_H_
#define CHATSUITE_GATEWAY_AUTH_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/common.pb.h"

namespace chat::gateway {

// Identity is what a verified token says.
struct Identity {
  User user;
  absl::Time expires;   // The token's exp.
  absl::Time deadline;  // exp plus the allowed clock skew: when the session must end.
};

struct TokenVerifierOptions {
  std::string secret;  // The HS256 key tokens are signed and minted with; not empty.
  // During a rotation, tokens signed with the previous key are still
  // accepted until they expire (empty: none).
  std::string previous_secret;
  // How far the issuer's clock may be off: exp and nbf are checked with
  // this much leeway, and an open session is closed this long after exp.
  absl::Duration clock_skew = absl::Seconds(30);
};

class TokenVerifier {
 public:
  // secret: the shared HS256 key; must not be empty.
  explicit TokenVerifier(
      std::string secret, std::function<absl::Time()> now = [] { return absl::Now(); })
      : TokenVerifier(TokenVerifierOptions{std::move(secret), "", absl::Seconds(30)},
                      std::move(now)) {}
  explicit TokenVerifier(
      TokenVerifierOptions options, std::function<absl::Time()> now = [] { return absl::Now(); })
      : options_(std::move(options)), now_(std::move(now)) {}

  // Verify checks the signature (HS256 only, with the secret or the previous
  // one; "none" and other algorithms are refused), exp and nbf (with the
  // clock skew) and the claims. kDeadlineExceeded: the token has expired.
  // kUnauthenticated: anything else wrong (bad signature, malformed, not yet
  // valid, missing or invalid sub, missing exp). Thread-safe.
  absl::StatusOr<Identity> Verify(const std::string& token) const;

  // Mint issues a token for user valid for ttl (for the development login and
  // tests; production tokens come from the main app). Thread-safe.
  absl::StatusOr<std::string> Mint(const User& user, absl::Duration ttl) const;

 private:
  TokenVerifierOptions options_;
  std::function<absl::Time()> now_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_AUTH_H_
