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

namespace {

std::vector<std::string> EvalShaCommand(const std::string& sha1, std::vector<std::string> keys,
                                        std::vector<std::string> args) {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(sha1);
  cmd.push_back(std::to_string(keys.size()));
  for (auto& k : keys) cmd.push_back(std::move(k));
  for (auto& a : args) cmd.push_back(std::move(a));
  return cmd;
}

bool NoScript(const absl::StatusOr<Reply>& reply) {
  return !reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT");
}

}  // namespace

void RedisScript::Run(Commands& commands, std::vector<std::string> keys,
                      std::vector<std::string> args, Callback cb) const {
  // The arguments come back with the reply, so the EVAL fallback (the source
  // in place of the sha) reuses them instead of copying every call up front.
  commands.CommandKeepingArgs(
      EvalShaCommand(sha1_, std::move(keys), std::move(args)),
      [this, &commands, cb = std::move(cb)](absl::StatusOr<Reply> reply,
                                            std::vector<std::string> cmd) mutable {
        if (NoScript(reply)) {
          cmd[0] = "EVAL";
          cmd[1] = source_;
          return commands.Command(std::move(cmd), std::move(cb));
        }
        cb(std::move(reply));
      });
}

void RedisScript::RunVia(Commands& commands, std::vector<std::string> keys,
                         std::vector<std::string> args, ViaCallback cb) const {
  commands.CommandVia(EvalShaCommand(sha1_, std::move(keys), std::move(args)),
                      [this, &commands, cb = std::move(cb)](
                          absl::StatusOr<Reply> reply, std::vector<std::string> cmd,
                          std::shared_ptr<RedisClient> via) mutable {
                        if (NoScript(reply)) {
                          cmd[0] = "EVAL";
                          cmd[1] = source_;
                          return commands.CommandVia(std::move(cmd), std::move(cb));
                        }
                        cb(std::move(reply), std::move(cmd), std::move(via));
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
