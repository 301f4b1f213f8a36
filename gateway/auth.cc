#include "gateway/auth.h"

#include <jwt.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "common/keys.h"

namespace chat::gateway {

namespace {

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

}  // namespace

absl::StatusOr<Identity> TokenVerifier::Verify(const std::string& token) const {
  if (token.empty() || token.size() > 8192) {
    return absl::UnauthenticatedError("missing or oversized token");
  }
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
                 static_cast<int>(secret_.size())) != 0 ||
      raw == nullptr) {
    return absl::UnauthenticatedError("invalid token");
  }
  JwtPtr jwt(raw);
  // A token whose header says "none" decodes without a signature check.
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) {
    return absl::UnauthenticatedError("token must be signed with HS256");
  }
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (sub == nullptr || !keys::IsValidId(sub)) {
    return absl::UnauthenticatedError("token has no valid sub claim");
  }
  errno = 0;
  long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (errno != 0 || exp <= 0) return absl::UnauthenticatedError("token has no exp claim");
  Identity id;
  id.expires = absl::FromUnixSeconds(exp);
  if (id.expires <= now_()) return absl::DeadlineExceededError("token expired");
  id.user.set_id(sub);
  const char* name = jwt_get_grant(jwt.get(), "name");
  id.user.set_name(name != nullptr && *name != '\0' ? name : sub);
  const char* img = jwt_get_grant(jwt.get(), "img");
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
  if (jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret_.data()),
                  static_cast<int>(secret_.size())) != 0) {
    return absl::InternalError("jwt_set_alg failed");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) return absl::InternalError("jwt_encode_str failed");
  std::string out(encoded);
  free(encoded);
  return out;
}

}  // namespace chat::gateway
