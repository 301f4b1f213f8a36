#include "common/redis_script.h"

#include <openssl/sha.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace chat::redis {

RedisScript::RedisScript(std::string source) : source_(std::move(source)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    sha1_.push_back(kHex[b >> 4]);
    sha1_.push_back(kHex[b & 15]);
  }
}

void RedisScript::Run(RedisClient& client, std::vector<std::string> keys,
                      std::vector<std::string> args, Callback cb) const {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(sha1_);
  cmd.push_back(std::to_string(keys.size()));
  for (auto& k : keys) cmd.push_back(std::move(k));
  for (auto& a : args) cmd.push_back(std::move(a));
  // The arguments come back with the reply, so the EVAL fallback (the source
  // in place of the sha) reuses them instead of copying every call up front.
  client.CommandKeepingArgs(
      std::move(cmd), [this, &client, cb = std::move(cb)](absl::StatusOr<Reply> reply,
                                                          std::vector<std::string> cmd) mutable {
        if (!reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT")) {
          cmd[0] = "EVAL";
          cmd[1] = source_;
          client.Command(std::move(cmd), std::move(cb));
          return;
        }
        cb(std::move(reply));
      });
}

std::string HashField(const Reply& hash, absl::string_view field) {
  for (size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    if (hash.elements[i].str == field) return hash.elements[i + 1].str;
  }
  return "";
}

int64_t StreamSeq(absl::string_view id) {
  int64_t seq = 0;
  (void)absl::SimpleAtoi(id.substr(0, id.find('-')), &seq);
  return seq;
}

absl::StatusOr<int64_t> ReplyInt(const Reply& reply) {
  if (reply.type == Reply::Type::kInteger) return reply.integer;
  if (reply.type == Reply::Type::kNil) return 0;
  int64_t v;
  if (reply.type == Reply::Type::kString && absl::SimpleAtoi(reply.str, &v)) return v;
  return absl::InternalError(absl::StrCat("redis: expected an integer, got '", reply.str, "'"));
}

}  // namespace chat::redis
