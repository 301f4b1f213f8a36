// RedisInviteStore: invitations in Redis. The live invitation of a pair of
// users in one scope is a hash under the pair's hash tag, next to the pair's
// throttle keys, so one Lua script decides each transition atomically. Per-user
// index sets and a global expiry index are maintained beside it (idempotent,
// filtered on read). Profiles, servers and memberships are read from the keys
// the chat service owns (common/keys.h).
#ifndef CHATSUITE_INVITE_SERVICE_REDIS_INVITE_STORE_H_
#define CHATSUITE_INVITE_SERVICE_REDIS_INVITE_STORE_H_

#include <memory>

#include "common/personal_log.h"
#include "common/redis_client.h"
#include "invite_service/invite_store.h"

namespace chat::invite_service {

class RedisInviteStore : public InviteStore {
 public:
  explicit RedisInviteStore(std::shared_ptr<redis::Commands> client,
                            PersonalLogOptions personal = PersonalLogOptions())
      : client_(std::move(client)), personal_(client_, personal) {}

  void GetUser(const std::string& id, Done<User> done) override;
  void GetServerName(const std::string& id, Done<std::string> done) override;
  void IsFriend(const std::string& a, const std::string& b, Done<bool> done) override;
  void IsMember(const std::string& server, const std::string& user, Done<bool> done) override;
  void Create(const Invitation& inv, const CreateLimits& limits, Done<Invitation> done) override;
  void Apply(Transition t, const std::string& actor, const std::string& inviting,
             const std::string& invited, const std::string& server, int64_t now_ms,
             absl::Duration throttle, Done<TransitionResult> done) override;
  void MarkEffectApplied(const Invitation& inv, Done<bool> done) override;
  void AddFriends(const std::string& a, const std::string& b, Done<bool> done) override;
  void Publish(const Invitation& event, Done<bool> done) override;
  void ListPending(const std::string& user, int64_t now_ms,
                   Done<std::vector<Invitation>> done) override;
  void ListFriends(const std::string& user, Done<std::vector<User>> done) override;
  void ExpireDue(int64_t now_ms, Done<std::vector<Invitation>> done) override;

 private:
  // CreateCounted runs the pair's create script once the inviter's quota
  // has room; counted_now: the quota counted this pair just now.
  void CreateCounted(const std::string& key, const Invitation& inv, absl::Duration throttle,
                     bool counted_now, Done<Invitation> done);
  // Uncount drops a pair's invitation from its inviter's quota.
  void Uncount(const std::string& inviter, const std::string& key);

  std::shared_ptr<redis::Commands> client_;
  PersonalLog personal_;  // Invitation events go to both parties' logs.
};

// InvitationFromHash reads an invitation's hash (HGETALL's field, value
// list); unknown fields and numbers that do not parse are skipped.
Invitation InvitationFromHash(const redis::Reply& hash);

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_REDIS_INVITE_STORE_H_
