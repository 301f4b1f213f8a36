#include "invite_service/invite_core.h"

#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "common/keys.h"
#include "common/status.h"

namespace chat::invite_service {

namespace {

absl::Status Rejected(absl::StatusCode code, absl::string_view reason, absl::string_view message) {
  return WithReason(absl::Status(code, message), reason);
}

std::string NewInvitationId() {
  absl::BitGen gen;  // Seeded from a shared pool: cheap, and no thread_local state.
  return absl::StrFormat("inv_%016x", absl::Uniform<uint64_t>(gen));
}

absl::Status CheckPair(const std::string& a, const std::string& b, const std::string& server) {
  if (!keys::IsValidId(a) || !keys::IsValidId(b) || (!server.empty() && !keys::IsValidId(server))) {
    return absl::InvalidArgumentError("user and server ids must be 1-64 of A-Z a-z 0-9 _ -");
  }
  return absl::OkStatus();
}

}  // namespace

void InviteCore::Invite(const InviteRequest& req, Done<InvitationResponse> done) {
  const User& inviter = req.inviter();
  if (absl::Status s = CheckPair(inviter.id(), req.invited(), req.server()); !s.ok()) {
    return done(s);
  }
  if (inviter.id() == req.invited()) {
    return done(Rejected(absl::StatusCode::kInvalidArgument, "cannot_invite_self",
                         "you cannot invite yourself"));
  }
  auto inv = std::make_shared<Invitation>();
  const int64_t now = options_.now_ms();
  inv->set_type("invitation");
  inv->set_id(NewInvitationId());
  inv->set_server(req.server());
  inv->set_inviting(inviter.id());
  inv->set_inviting_name(inviter.name());
  inv->set_inviting_img(inviter.image());
  inv->set_invited(req.invited());
  inv->set_state("pending");
  inv->set_created_at(now);
  inv->set_updated_at(now);
  inv->set_expires_at(now + absl::ToInt64Milliseconds(options_.ttl));

  // Create runs once every relationship check has passed.
  auto create = [this, inv](Done<InvitationResponse> done) {
    store_->Create(*inv,
                   {options_.throttle, options_.max_pending_sent, options_.invites_per_minute},
                   [this, done = std::move(done)](absl::StatusOr<Invitation> r) mutable {
                     if (!r.ok()) return done(r.status());
                     Finish(*std::move(r), true, "invitation", std::move(done));
                   });
  };
  store_->GetUser(req.invited(), [this, inv, create,
                                  done = std::move(done)](absl::StatusOr<User> invited) mutable {
    if (!invited.ok()) {
      if (invited.status().code() == absl::StatusCode::kNotFound) {
        return done(Rejected(absl::StatusCode::kNotFound, "unknown_user", "no such user"));
      }
      return done(invited.status());
    }
    inv->set_invited_name(invited->name());
    inv->set_invited_img(invited->image());
    if (inv->server().empty()) {
      return store_->IsFriend(
          inv->inviting(), inv->invited(),
          [create, done = std::move(done)](absl::StatusOr<bool> friends) mutable {
            if (!friends.ok()) return done(friends.status());
            if (*friends) {
              return done(Rejected(absl::StatusCode::kAlreadyExists, "already_friends",
                                   "you are already friends"));
            }
            create(std::move(done));
          });
    }
    store_->GetServerName(inv->server(), [this, inv, create, done = std::move(done)](
                                             absl::StatusOr<std::string> name) mutable {
      if (!name.ok()) {
        // As for a server the inviter is not in: no one learns which servers exist.
        if (name.status().code() == absl::StatusCode::kNotFound) {
          return done(Rejected(absl::StatusCode::kPermissionDenied, "not_member",
                               "only members can invite into a server"));
        }
        return done(name.status());
      }
      inv->set_server_name(*name);
      store_->IsMember(
          inv->server(), inv->inviting(),
          [this, inv, create, done = std::move(done)](absl::StatusOr<bool> member) mutable {
            if (!member.ok()) return done(member.status());
            if (!*member) {
              return done(Rejected(absl::StatusCode::kPermissionDenied, "not_member",
                                   "only members can invite into a server"));
            }
            store_->IsMember(inv->server(), inv->invited(),
                             [create, done = std::move(done)](absl::StatusOr<bool> member) mutable {
                               if (!member.ok()) return done(member.status());
                               if (*member) {
                                 return done(Rejected(absl::StatusCode::kAlreadyExists,
                                                      "already_member", "already a member"));
                               }
                               create(std::move(done));
                             });
          });
    });
  });
}

void InviteCore::Cancel(const TransitionRequest& req, Done<InvitationResponse> done) {
  if (absl::Status s = CheckPair(req.inviting(), req.invited(), req.server()); !s.ok()) {
    return done(s);
  }
  if (req.actor().id() != req.inviting() && req.actor().id() != req.invited()) {
    return done(Rejected(absl::StatusCode::kNotFound, "not_found", "no such invitation"));
  }
  store_->Apply(Transition::kCancel, req.actor().id(), req.inviting(), req.invited(), req.server(),
                options_.now_ms(), options_.throttle,
                [this, done = std::move(done)](absl::StatusOr<TransitionResult> r) mutable {
                  if (!r.ok()) return done(r.status());
                  Finish(std::move(r->invitation), r->changed, "cancel_invitation",
                         std::move(done));
                });
}

void InviteCore::Accept(const TransitionRequest& req, Done<InvitationResponse> done) {
  if (absl::Status s = CheckPair(req.inviting(), req.invited(), req.server()); !s.ok()) {
    return done(s);
  }
  // The actor names a throttle key: checked like every id that reaches Redis.
  if (!keys::IsValidId(req.actor().id())) return done(absl::InvalidArgumentError("bad actor id"));
  store_->Apply(
      Transition::kAccept, req.actor().id(), req.inviting(), req.invited(), req.server(),
      options_.now_ms(), absl::ZeroDuration(),
      [this, done = std::move(done)](absl::StatusOr<TransitionResult> r) mutable {
        if (!r.ok()) return done(r.status());
        auto result = std::make_shared<TransitionResult>(*std::move(r));
        // The effect is applied after the decisive transition; it is idempotent,
        // so an accept retried after a failure here completes it.
        auto applied = [this, result, done = std::move(done)](absl::StatusOr<bool> ok) mutable {
          // A refusal by the chat service (the invited user is banned from
          // the server) is final and passed on as is; anything else may pass.
          if (absl::IsFailedPrecondition(ok.status())) return done(ok.status());
          if (!ok.ok()) {
            return done(absl::UnavailableError("accepted, but applying it failed; retry accept"));
          }
          if (result->effect_applied) {  // A plain repeat: nothing new to announce.
            return Finish(std::move(result->invitation), false, "accept_invitation",
                          std::move(done));
          }
          // First completion of the effect (possibly on a retry): record it,
          // then announce the acceptance exactly once.
          store_->MarkEffectApplied(result->invitation, [this, result, done = std::move(done)](
                                                            absl::StatusOr<bool> marked) mutable {
            if (!marked.ok()) return done(marked.status());
            Finish(std::move(result->invitation), true, "accept_invitation", std::move(done));
          });
        };
        const Invitation& inv = result->invitation;
        if (inv.server().empty()) {
          store_->AddFriends(inv.inviting(), inv.invited(), std::move(applied));
        } else {
          membership_->AddMember(inv.server(), inv.invited(), std::move(applied));
        }
      });
}

void InviteCore::Finish(Invitation inv, bool changed, const char* event_type,
                        Done<InvitationResponse> done) {
  inv.set_type(event_type);
  InvitationResponse resp;
  *resp.mutable_invitation() = inv;
  resp.set_changed(changed);
  if (!changed) return done(std::move(resp));
  store_->Publish(inv, [resp = std::move(resp), done = std::move(done)](
                           absl::StatusOr<bool>) mutable { done(std::move(resp)); });
}

void InviteCore::ListPending(const ListRequest& req, Done<PendingInvitations> done) {
  if (!keys::IsValidId(req.user_id())) return done(absl::InvalidArgumentError("bad user id"));
  store_->ListPending(req.user_id(), options_.now_ms(),
                      [done = std::move(done)](absl::StatusOr<std::vector<Invitation>> r) mutable {
                        if (!r.ok()) return done(r.status());
                        PendingInvitations out;
                        for (Invitation& i : *r) {
                          i.set_type("invitation");
                          *out.add_invitations() = std::move(i);
                        }
                        done(std::move(out));
                      });
}

void InviteCore::ListFriends(const ListRequest& req, Done<Friends> done) {
  if (!keys::IsValidId(req.user_id())) return done(absl::InvalidArgumentError("bad user id"));
  store_->ListFriends(req.user_id(),
                      [done = std::move(done)](absl::StatusOr<std::vector<User>> r) mutable {
                        if (!r.ok()) return done(r.status());
                        Friends out;
                        for (User& u : *r) *out.add_friends() = std::move(u);
                        done(std::move(out));
                      });
}

void InviteCore::ExpireDue(Done<int> done) {
  store_->ExpireDue(options_.now_ms(), [this, done = std::move(done)](
                                           absl::StatusOr<std::vector<Invitation>> r) mutable {
    if (!r.ok()) return done(r.status());
    int n = static_cast<int>(r->size());
    for (Invitation& inv : *r) {
      inv.set_type("invitation_expired");
      store_->Publish(inv, [](absl::StatusOr<bool>) {});
    }
    done(n);
  });
}

}  // namespace chat::invite_service
