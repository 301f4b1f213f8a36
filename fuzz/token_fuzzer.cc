// Fuzzes the JWT check the gateway runs on identify, refresh and the seed
// endpoints' ?token=. The first input byte picks what the rest is:
//   even: a whole token as a client sends it (header, claims, signature);
//   odd:  the claims JSON of a token then signed with the gateway's key, so
//         that the claim checks behind the signature are explored too.
// Besides not crashing, it checks what every accepted token must give: a
// valid user id, bounded name and image, and a deadline not yet passed.
#include <jwt.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/keys.h"
#include "fuzz/check.h"
#include "gateway/auth.h"

namespace {

constexpr char kSecret[] = "fuzz-current-secret-0123456789";
constexpr char kPrevious[] = "fuzz-previous-secret-0123456789";
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

using chat::fuzz::Check;

// Signed returns claims signed with HS256 and kSecret, or "" when libjwt
// refuses the JSON.
std::string Signed(const std::string& claims) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) return "";
  std::string token;
  if (jwt_add_grants_json(jwt, claims.c_str()) == 0 &&
      jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(kSecret),
                  sizeof(kSecret) - 1) == 0) {
    if (char* encoded = jwt_encode_str(jwt)) {
      token = encoded;
      free(encoded);  // libjwt 1.10 allocates it with malloc.
    }
  }
  jwt_free(jwt);
  return token;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 16384) return 0;
  static const chat::gateway::TokenVerifier verifier(
      chat::gateway::TokenVerifierOptions{kSecret, kPrevious, absl::Seconds(30)},
      [] { return kNow; });
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string token = data[0] % 2 == 0 ? rest : Signed(rest);
  auto identity = verifier.Verify(token);
  if (!identity.ok()) return 0;
  Check(chat::keys::IsValidId(identity->user.id()));
  Check(identity->user.name().size() <= 4 * 100 && identity->user.image().size() <= 2048);
  Check(identity->deadline > kNow && identity->deadline == identity->expires + absl::Seconds(30));
  return 0;
}
