// Upstream: the gateway's asynchronous gRPC clients for the services behind
// it. Every call takes its request by value (moved, never copied on the way),
// returns at once, and calls done exactly once on a gRPC thread, so callers
// post results back to their own strand. No call ever blocks.
#ifndef CHATSUITE_GATEWAY_UPSTREAM_H_
#define CHATSUITE_GATEWAY_UPSTREAM_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/async.h"
#include "common/grpc_client.h"
#include "common/grpc_tls.h"
#include "common/metrics.h"
#include "proto/chat.grpc.pb.h"
#include "proto/invite.grpc.pb.h"
#include "proto/presence.grpc.pb.h"

namespace chat::gateway {

class Upstream {
 public:
  // Targets are "host:port" or "dns:///name:port"; calls are spread
  // round-robin over every address the name resolves to. An empty invite or
  // presence target turns that feature off (its calls fail with
  // kUnavailable). deadline applies to every call. Channels start connecting
  // at once. tls: the gRPC links' TLS (grpc_tls.h); empty is plaintext.
  // rpc_metrics (optional, must outlive this) counts every call.
  Upstream(const std::string& chat_target, const std::string& invite_target,
           const std::string& presence_target, absl::Duration deadline, const GrpcTls& tls = {},
           metrics::RpcMetrics* rpc_metrics = nullptr);

  void Send(SendRequest req, Done<SendResponse> done);
  void Edit(EditRequest req, Done<RevisionResponse> done);
  void Delete(DeleteRequest req, Done<RevisionResponse> done);
  void Moderate(ModerateRequest req, Done<ModerateResponse> done);
  void SetSlowMode(SlowModeRequest req, Done<SlowModeResponse> done);
  void History(HistoryRequest req, Done<HistoryResponse> done);
  void GetUserState(GetUserStateRequest req, Done<UserState> done);
  void Typing(TypingRequest req, Done<TypingResponse> done);
  void Tail(TailRequest req, Done<HistoryResponse> done);
  void PersonalTail(PersonalTailRequest req, Done<PersonalTailResponse> done);
  void MarkRead(MarkReadRequest req, Done<MarkReadResponse> done);
  void UpsertUser(User req, Done<User> done);
  void AddMember(AddMemberRequest req, Done<AddMemberResponse> done);

  void Invite(InviteRequest req, Done<InvitationResponse> done);
  void CancelInvitation(TransitionRequest req, Done<InvitationResponse> done);
  void AcceptInvitation(TransitionRequest req, Done<InvitationResponse> done);
  void ListPending(ListRequest req, Done<PendingInvitations> done);
  void ListFriends(ListRequest req, Done<Friends> done);

  void PresenceConnect(ConnectRequest req, Done<PresenceResponse> done);
  void PresenceDisconnect(DisconnectRequest req, Done<PresenceResponse> done);
  void PresenceSetStatus(SetStatusRequest req, Done<PresenceResponse> done);
  void PresenceHeartbeat(HeartbeatRequest req, Done<HeartbeatResponse> done);
  void PresenceQuery(QueryRequest req, Done<QueryResponse> done);

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
  metrics::RpcMetrics* rpc_metrics_;
  ChannelWatcher watcher_;  // Keeps the channels connecting.
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_UPSTREAM_H_
