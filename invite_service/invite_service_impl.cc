#include "invite_service/invite_service_impl.h"

#include "common/unary.h"

namespace chat::invite_service {

grpc::ServerUnaryReactor* InviteServiceImpl::Invite(grpc::CallbackServerContext* ctx,
                                                    const InviteRequest* req,
                                                    InvitationResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Invite(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* InviteServiceImpl::Cancel(grpc::CallbackServerContext* ctx,
                                                    const TransitionRequest* req,
                                                    InvitationResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Cancel(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* InviteServiceImpl::Accept(grpc::CallbackServerContext* ctx,
                                                    const TransitionRequest* req,
                                                    InvitationResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Accept(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* InviteServiceImpl::ListPending(grpc::CallbackServerContext* ctx,
                                                         const ListRequest* req,
                                                         PendingInvitations* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->ListPending(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* InviteServiceImpl::ListFriends(grpc::CallbackServerContext* ctx,
                                                         const ListRequest* req, Friends* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->ListFriends(*req, std::move(done)); });
}

}  // namespace chat::invite_service
