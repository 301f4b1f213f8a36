// InviteServiceImpl: the invite service's gRPC adapter (callback API); it only
// converts between RPCs and InviteCore calls.
#ifndef CHATSUITE_INVITE_SERVICE_INVITE_SERVICE_IMPL_H_
#define CHATSUITE_INVITE_SERVICE_INVITE_SERVICE_IMPL_H_

#include "invite_service/invite_core.h"
#include "proto/invite.grpc.pb.h"

namespace chat::invite_service {

class InviteServiceImpl final : public InviteService::CallbackService {
 public:
  explicit InviteServiceImpl(InviteCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Invite(grpc::CallbackServerContext* ctx, const InviteRequest* req,
                                   InvitationResponse* resp) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx, const TransitionRequest* req,
                                   InvitationResponse* resp) override;
  grpc::ServerUnaryReactor* Accept(grpc::CallbackServerContext* ctx, const TransitionRequest* req,
                                   InvitationResponse* resp) override;
  grpc::ServerUnaryReactor* ListPending(grpc::CallbackServerContext* ctx, const ListRequest* req,
                                        PendingInvitations* resp) override;
  grpc::ServerUnaryReactor* ListFriends(grpc::CallbackServerContext* ctx, const ListRequest* req,
                                        Friends* resp) override;

 private:
  InviteCore* core_;
};

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_INVITE_SERVICE_IMPL_H_
