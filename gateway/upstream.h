// Upstream: the gateway's asynchronous gRPC clients for the services behind
// it. Every call returns at once; its callback runs on a gRPC thread, so
// callers post results back to their own strand. No call ever blocks.
#ifndef CHATSUITE_GATEWAY_UPSTREAM_H_
#define CHATSUITE_GATEWAY_UPSTREAM_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/chat.grpc.pb.h"
#include "proto/invite.grpc.pb.h"
#include "proto/presence.grpc.pb.h"

namespace chat::gateway {

template <typename T>
using Reply = absl::AnyInvocable<void(absl::StatusOr<T>)>;

class Upstream {
 public:
  // Targets are "host:port" or "dns:///name:port"; calls are spread
  // round-robin over every address the name resolves to; an empty invite or presence target turns
  // that feature off (its calls fail with kUnavailable). deadline applies to every call.
  Upstream(const std::string& chat_target, const std::string& invite_target,
           const std::string& presence_target, absl::Duration deadline);

  void Send(const SendRequest& req, Reply<SendResponse> done);
  void History(const HistoryRequest& req, Reply<HistoryResponse> done);
  void GetUserState(const GetUserStateRequest& req, Reply<UserState> done);
  void Typing(const TypingRequest& req, Reply<TypingResponse> done);
  void Tail(const TailRequest& req, Reply<HistoryResponse> done);
  void UpsertUser(const User& req, Reply<User> done);
  void AddMember(const AddMemberRequest& req, Reply<AddMemberResponse> done);

  void Invite(const InviteRequest& req, Reply<InvitationResponse> done);
  void CancelInvitation(const TransitionRequest& req, Reply<InvitationResponse> done);
  void AcceptInvitation(const TransitionRequest& req, Reply<InvitationResponse> done);
  void ListPending(const ListRequest& req, Reply<PendingInvitations> done);
  void ListFriends(const ListRequest& req, Reply<Friends> done);

  void PresenceConnect(const ConnectRequest& req, Reply<PresenceResponse> done);
  void PresenceDisconnect(const DisconnectRequest& req, Reply<PresenceResponse> done);
  void PresenceSetStatus(const SetStatusRequest& req, Reply<PresenceResponse> done);
  void PresenceHeartbeat(const HeartbeatRequest& req, Reply<HeartbeatResponse> done);
  void PresenceQuery(const QueryRequest& req, Reply<QueryResponse> done);

  // Ready reports whether the chat service's channel is connected (the
  // delivery path; invite and presence only degrade features), and nudges
  // idle or failed channels to (re)connect, so the next probe sees the truth.
  bool Ready() const;
  // Connected reports each channel's state (false when not configured).
  struct Status {
    bool chat = false, invite = false, presence = false;
  };
  Status Connected() const;

 private:
  std::shared_ptr<grpc::Channel> chat_channel_;
  std::shared_ptr<grpc::Channel> invite_channel_;
  std::shared_ptr<grpc::Channel> presence_channel_;
  std::unique_ptr<ChatService::Stub> chat_;
  std::unique_ptr<ChatAdmin::Stub> admin_;
  std::unique_ptr<InviteService::Stub> invite_;
  std::unique_ptr<PresenceService::Stub> presence_;
  absl::Duration deadline_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_UPSTREAM_H_
