#include "gateway/auth.h"

#include <jwt.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "common/keys.h"

namespace chat::gateway {

namespace {

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

}  // namespace

namespace {

// Decode returns the token's claims if it is signed with secret, else null.
JwtPtr Decode(const std::string& token, const std::string& secret) {
  jwt_t* raw = nullptr;
  if (secret.empty() ||
      jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 0) {
    if (raw != nullptr) jwt_free(raw);
    return nullptr;
  }
  return JwtPtr(raw);
}

constexpr size_t kMaxNameChars = 100;    // As the chat service allows for names.
constexpr size_t kMaxImageBytes = 2048;  // As the chat service allows for image URLs.

// CodePoints counts the UTF-8 code points of s (claims are valid UTF-8 JSON).
size_t CodePoints(const char* s) {
  size_t n = 0;
  for (; *s != '\0'; ++s) n += (static_cast<unsigned char>(*s) & 0xC0) != 0x80;
  return n;
}

// IntClaim reads a numeric claim; nullopt when absent or not a number.
std::optional<long> IntClaim(jwt_t* jwt, const char* name) {
  errno = 0;
  long value = jwt_get_grant_int(jwt, name);
  if (errno != 0) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<Identity> TokenVerifier::Verify(const std::string& token) const {
  if (token.empty() || token.size() > 8192) {
    return absl::UnauthenticatedError("missing or oversized token");
  }
  JwtPtr jwt = Decode(token, options_.secret);
  if (jwt == nullptr) jwt = Decode(token, options_.previous_secret);
  if (jwt == nullptr) return absl::UnauthenticatedError("invalid token");
  // A token whose header says "none" decodes without a signature check.
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) {
    return absl::UnauthenticatedError("token must be signed with HS256");
  }
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (sub == nullptr || !keys::IsValidId(sub)) {
    return absl::UnauthenticatedError("token has no valid sub claim");
  }
  std::optional<long> exp = IntClaim(jwt.get(), "exp");
  if (!exp || *exp <= 0) return absl::UnauthenticatedError("token has no exp claim");
  const absl::Time now = now_();
  if (jwt_get_grant(jwt.get(), "nbf") != nullptr) {
    return absl::UnauthenticatedError("token nbf must be a number");
  }
  if (std::optional<long> nbf = IntClaim(jwt.get(), "nbf");
      nbf && absl::FromUnixSeconds(*nbf) > now + options_.clock_skew) {
    return absl::UnauthenticatedError("token not valid yet (nbf)");
  }
  Identity id;
  id.expires = absl::FromUnixSeconds(*exp);
  id.deadline = id.expires + options_.clock_skew;
  if (id.deadline <= now) return absl::DeadlineExceededError("token expired");
  id.user.set_id(sub);
  // name and img travel with every message and invitation: bounded here.
  const char* name = jwt_get_grant(jwt.get(), "name");
  if (name != nullptr && CodePoints(name) > kMaxNameChars) {
    return absl::UnauthenticatedError("token name claim is longer than 100 characters");
  }
  id.user.set_name(name != nullptr && *name != '\0' ? name : sub);
  const char* img = jwt_get_grant(jwt.get(), "img");
  if (img != nullptr && std::strlen(img) > kMaxImageBytes) {
    return absl::UnauthenticatedError("token img claim is longer than 2048 bytes");
  }
  if (img != nullptr) id.user.set_image(img);
  return id;
}

absl::StatusOr<std::string> TokenVerifier::Mint(const User& user, absl::Duration ttl) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("jwt_new failed");
  JwtPtr jwt(raw);
  jwt_add_grant(jwt.get(), "sub", user.id().c_str());
  jwt_add_grant(jwt.get(), "name", user.name().c_str());
  jwt_add_grant(jwt.get(), "img", user.image().c_str());
  jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(absl::ToUnixSeconds(now_() + ttl)));
  const std::string& secret = options_.secret;
  if (jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                  static_cast<int>(secret.size())) != 0) {
    return absl::InternalError("jwt_set_alg failed");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) return absl::InternalError("jwt_encode_str failed");
  std::string out(encoded);
  free(encoded);
  return out;
}

}  // namespace chat::gateway
