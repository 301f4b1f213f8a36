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
  absl::Time expires;
};

class TokenVerifier {
 public:
  // secret: the shared HS256 key; must not be empty.
  explicit TokenVerifier(
      std::string secret, std::function<absl::Time()> now = [] { return absl::Now(); })
      : secret_(std::move(secret)), now_(std::move(now)) {}

  // Verify checks signature (HS256 only; "none" and other algorithms are
  // refused), exp and the claims. kDeadlineExceeded: the token has expired.
  // kUnauthenticated: anything else wrong (bad signature, malformed, missing
  // or invalid sub, missing exp). Thread-safe.
  absl::StatusOr<Identity> Verify(const std::string& token) const;

  // Mint issues a token for user valid for ttl (for the development login and
  // tests; production tokens come from the main app). Thread-safe.
  absl::StatusOr<std::string> Mint(const User& user, absl::Duration ttl) const;

 private:
  std::string secret_;
  std::function<absl::Time()> now_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_AUTH_H_
