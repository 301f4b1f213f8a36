// The chat service's gRPC adapters: ChatService (for gateways) and ChatAdmin
// (for the main app and the CLI), both on the callback API. They only convert
// between RPCs and ChatCore calls; replies complete on the store's thread.
#ifndef CHATSUITE_CHAT_SERVICE_CHAT_SERVICE_IMPL_H_
#define CHATSUITE_CHAT_SERVICE_CHAT_SERVICE_IMPL_H_

#include "chat_service/chat_core.h"
#include "proto/chat.grpc.pb.h"

namespace chat::chat_service {

class ChatServiceImpl final : public ChatService::CallbackService {
 public:
  explicit ChatServiceImpl(ChatCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Send(grpc::CallbackServerContext* ctx, const SendRequest* req,
                                 SendResponse* resp) override;
  grpc::ServerUnaryReactor* Edit(grpc::CallbackServerContext* ctx, const EditRequest* req,
                                 RevisionResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const DeleteRequest* req,
                                   RevisionResponse* resp) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* ctx, const HistoryRequest* req,
                                    HistoryResponse* resp) override;
  grpc::ServerUnaryReactor* Tail(grpc::CallbackServerContext* ctx, const TailRequest* req,
                                 HistoryResponse* resp) override;
  grpc::ServerUnaryReactor* Typing(grpc::CallbackServerContext* ctx, const TypingRequest* req,
                                   TypingResponse* resp) override;
  grpc::ServerUnaryReactor* GetUserState(grpc::CallbackServerContext* ctx,
                                         const GetUserStateRequest* req, UserState* resp) override;
  grpc::ServerUnaryReactor* MarkRead(grpc::CallbackServerContext* ctx, const MarkReadRequest* req,
                                     MarkReadResponse* resp) override;
  grpc::ServerUnaryReactor* PersonalTail(grpc::CallbackServerContext* ctx,
                                         const PersonalTailRequest* req,
                                         PersonalTailResponse* resp) override;
  grpc::ServerUnaryReactor* Moderate(grpc::CallbackServerContext* ctx, const ModerateRequest* req,
                                     ModerateResponse* resp) override;
  grpc::ServerUnaryReactor* SetSlowMode(grpc::CallbackServerContext* ctx,
                                        const SlowModeRequest* req,
                                        SlowModeResponse* resp) override;

 private:
  ChatCore* core_;
};

class ChatAdminImpl final : public ChatAdmin::CallbackService {
 public:
  explicit ChatAdminImpl(ChatCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* UpsertUser(grpc::CallbackServerContext* ctx, const User* req,
                                       User* resp) override;
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* ctx, const GetUserRequest* req,
                                    User* resp) override;
  grpc::ServerUnaryReactor* CreateServer(grpc::CallbackServerContext* ctx,
                                         const CreateServerRequest* req, Server* resp) override;
  grpc::ServerUnaryReactor* CreateChannel(grpc::CallbackServerContext* ctx,
                                          const CreateChannelRequest* req, Channel* resp) override;
  grpc::ServerUnaryReactor* AddMember(grpc::CallbackServerContext* ctx, const AddMemberRequest* req,
                                      AddMemberResponse* resp) override;
  // As an operator: no role is checked.
  grpc::ServerUnaryReactor* Moderate(grpc::CallbackServerContext* ctx, const ModerateRequest* req,
                                     ModerateResponse* resp) override;
  grpc::ServerUnaryReactor* SetSlowMode(grpc::CallbackServerContext* ctx,
                                        const SlowModeRequest* req,
                                        SlowModeResponse* resp) override;
  grpc::ServerUnaryReactor* SetRole(grpc::CallbackServerContext* ctx, const SetRoleRequest* req,
                                    SetRoleResponse* resp) override;

 private:
  ChatCore* core_;
};

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_CHAT_SERVICE_IMPL_H_
