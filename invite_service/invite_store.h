// InviteStore is the invite service's persistence interface; RedisInviteStore
// implements it. Methods are asynchronous: each calls done exactly once, on a
// thread of the store's choosing.
#ifndef CHATSUITE_INVITE_SERVICE_INVITE_STORE_H_
#define CHATSUITE_INVITE_SERVICE_INVITE_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/async.h"
#include "proto/common.pb.h"
#include "proto/invite.pb.h"

namespace chat::invite_service {

// TransitionResult: the invitation after a transition and whether the call
// changed it (false: it already was in the requested state).
struct TransitionResult {
  Invitation invitation;
  bool changed = false;
  bool effect_applied = false;  // Accepted and its effect recorded as done.
};

enum class Transition { kCancel, kAccept };

class InviteStore {
 public:
  virtual ~InviteStore() = default;

  // GetUser: the profile; kNotFound if unknown.
  virtual void GetUser(const std::string& id, Done<User> done) = 0;
  // GetServerName: kNotFound if the server does not exist.
  virtual void GetServerName(const std::string& id, Done<std::string> done) = 0;
  virtual void IsFriend(const std::string& a, const std::string& b, Done<bool> done) = 0;
  virtual void IsMember(const std::string& server, const std::string& user, Done<bool> done) = 0;

  // CreateLimits bound what one inviter can create.
  struct CreateLimits {
    absl::Duration throttle;  // Per (inviter, invitee) pair, after each change.
    int max_pending = 0;      // Pending invitations one user has sent (0: no limit).
    int per_minute = 0;       // Invitations one user may create per minute (0: no limit).
  };

  // Create makes inv the pair's live invitation in its scope and starts the
  // inviter's throttle. kResourceExhausted with reason rate_limited (and the
  // retry delay) while the pair is throttled or the inviter has created
  // per_minute this minute, too_many_pending when the inviter already has
  // max_pending pending; kAlreadyExists (already_pending) if one is pending.
  // Nothing changes when it fails.
  virtual void Create(const Invitation& inv, const CreateLimits& limits, Done<Invitation> done) = 0;

  // Apply moves the pair's invitation out of pending: kAccept by the invitee;
  // kCancel by the inviter (-> cancelled) or the invitee (-> declined), which
  // is throttled like Create. Already in the target state: changed = false.
  // kNotFound (not_found), kPermissionDenied (not_invitee),
  // kFailedPrecondition (already_<state>), kResourceExhausted (rate_limited).
  virtual void Apply(Transition t, const std::string& actor, const std::string& inviting,
                     const std::string& invited, const std::string& server, int64_t now_ms,
                     absl::Duration throttle, Done<TransitionResult> done) = 0;

  // MarkEffectApplied records that an accepted invitation's effect is done,
  // so a retried accept knows whether the acceptance was ever announced.
  virtual void MarkEffectApplied(const Invitation& inv, Done<bool> done) = 0;
  // AddFriends records a friendship in both directions (idempotent).
  virtual void AddFriends(const std::string& a, const std::string& b, Done<bool> done) = 0;
  // Publish appends the invitation event to both parties' personal logs, which
  // publishes it on their user topics.
  virtual void Publish(const Invitation& event, Done<bool> done) = 0;
  // ListPending: the user's pending invitations, sent and received.
  virtual void ListPending(const std::string& user, int64_t now_ms,
                           Done<std::vector<Invitation>> done) = 0;
  virtual void ListFriends(const std::string& user, Done<std::vector<User>> done) = 0;
  // ExpireDue moves pending invitations whose time has come to expired and
  // returns them (at most a bounded batch per call).
  virtual void ExpireDue(int64_t now_ms, Done<std::vector<Invitation>> done) = 0;
};

// Membership adds users to servers: the chat service owns memberships.
class Membership {
 public:
  virtual ~Membership() = default;
  virtual void AddMember(const std::string& server, const std::string& user, Done<bool> done) = 0;
};

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_INVITE_STORE_H_
