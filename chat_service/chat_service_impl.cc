#include "chat_service/chat_service_impl.h"

#include <utility>

#include "common/unary.h"

namespace chat::chat_service {

grpc::ServerUnaryReactor* ChatServiceImpl::Send(grpc::CallbackServerContext* ctx,
                                                const SendRequest* req, SendResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Send(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::Edit(grpc::CallbackServerContext* ctx,
                                                const EditRequest* req, RevisionResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Edit(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::Delete(grpc::CallbackServerContext* ctx,
                                                  const DeleteRequest* req,
                                                  RevisionResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Delete(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::History(grpc::CallbackServerContext* ctx,
                                                   const HistoryRequest* req,
                                                   HistoryResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->History(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::Tail(grpc::CallbackServerContext* ctx,
                                                const TailRequest* req, HistoryResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Tail(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::Typing(grpc::CallbackServerContext* ctx,
                                                  const TypingRequest* req, TypingResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Typing(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::GetUserState(grpc::CallbackServerContext* ctx,
                                                        const GetUserStateRequest* req,
                                                        UserState* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->GetUserState(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::MarkRead(grpc::CallbackServerContext* ctx,
                                                    const MarkReadRequest* req,
                                                    MarkReadResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->MarkRead(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::PersonalTail(grpc::CallbackServerContext* ctx,
                                                        const PersonalTailRequest* req,
                                                        PersonalTailResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->PersonalTail(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatAdminImpl::UpsertUser(grpc::CallbackServerContext* ctx,
                                                    const User* req, User* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->UpsertUser(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatAdminImpl::GetUser(grpc::CallbackServerContext* ctx,
                                                 const GetUserRequest* req, User* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->GetUser(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatAdminImpl::CreateServer(grpc::CallbackServerContext* ctx,
                                                      const CreateServerRequest* req,
                                                      Server* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->CreateServer(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatAdminImpl::CreateChannel(grpc::CallbackServerContext* ctx,
                                                       const CreateChannelRequest* req,
                                                       Channel* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->CreateChannel(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatAdminImpl::AddMember(grpc::CallbackServerContext* ctx,
                                                   const AddMemberRequest* req,
                                                   AddMemberResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->AddMember(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::Moderate(grpc::CallbackServerContext* ctx,
                                                    const ModerateRequest* req,
                                                    ModerateResponse* resp) {
  return FinishUnary(
      ctx, resp, [&](auto done) { core_->Moderate(*req, /*as_operator=*/false, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatServiceImpl::SetSlowMode(grpc::CallbackServerContext* ctx,
                                                       const SlowModeRequest* req,
                                                       SlowModeResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) {
    core_->SetSlowMode(*req, /*as_operator=*/false, std::move(done));
  });
}

grpc::ServerUnaryReactor* ChatAdminImpl::Moderate(grpc::CallbackServerContext* ctx,
                                                  const ModerateRequest* req,
                                                  ModerateResponse* resp) {
  return FinishUnary(
      ctx, resp, [&](auto done) { core_->Moderate(*req, /*as_operator=*/true, std::move(done)); });
}

grpc::ServerUnaryReactor* ChatAdminImpl::SetSlowMode(grpc::CallbackServerContext* ctx,
                                                     const SlowModeRequest* req,
                                                     SlowModeResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) {
    core_->SetSlowMode(*req, /*as_operator=*/true, std::move(done));
  });
}

grpc::ServerUnaryReactor* ChatAdminImpl::SetRole(grpc::CallbackServerContext* ctx,
                                                 const SetRoleRequest* req, SetRoleResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->SetRole(*req, std::move(done)); });
}

}  // namespace chat::chat_service
