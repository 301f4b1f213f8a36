// InviteCore: the invitation state machine's logic, free of gRPC and Redis.
// It validates, checks relationships, drives the store's atomic transitions,
// applies the effects of acceptance (friendship or membership) and publishes
// every transition to both parties.
#ifndef CHATSUITE_INVITE_SERVICE_INVITE_CORE_H_
#define CHATSUITE_INVITE_SERVICE_INVITE_CORE_H_

#include <functional>

#include "absl/time/clock.h"
#include "invite_service/invite_store.h"

namespace chat::invite_service {

struct InviteCoreOptions {
  absl::Duration ttl = absl::Hours(24 * 7);            // Pending invitations expire after this.
  absl::Duration throttle = absl::Milliseconds(1500);  // Per (actor, other) pair.
  int max_pending_sent = 100;   // Pending invitations one user may have sent (0: no limit).
  int invites_per_minute = 20;  // Invitations one user may create per minute (0: no limit).
  std::function<int64_t()> now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
};

class InviteCore {
 public:
  // store and membership must outlive the core.
  InviteCore(InviteStore* store, Membership* membership, InviteCoreOptions options)
      : store_(store), membership_(membership), options_(std::move(options)) {}

  // Invite creates a pending invitation. Errors carry the reasons listed in
  // proto/invite.proto.
  void Invite(const InviteRequest& req, Done<InvitationResponse> done);
  // Cancel cancels (inviter) or declines (invitee).
  void Cancel(const TransitionRequest& req, Done<InvitationResponse> done);
  // Accept accepts (invitee only) and applies the effect; an accept of an
  // accepted invitation re-applies the (idempotent) effect, so a retry after a
  // failure converges.
  void Accept(const TransitionRequest& req, Done<InvitationResponse> done);
  void ListPending(const ListRequest& req, Done<PendingInvitations> done);
  void ListFriends(const ListRequest& req, Done<Friends> done);
  // ExpireDue expires due invitations and publishes invitation_expired for
  // each; done gets how many.
  void ExpireDue(Done<int> done);

 private:
  void Finish(Invitation inv, bool changed, const char* event_type, Done<InvitationResponse> done);

  InviteStore* store_;
  Membership* membership_;
  InviteCoreOptions options_;
};

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_INVITE_CORE_H_
