#include "gateway/upstream.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_client.h"

namespace chat::gateway {

namespace {

template <typename Stub>
std::unique_ptr<typename Stub::Stub> StubOn(const std::shared_ptr<grpc::Channel>& channel) {
  return channel ? Stub::NewStub(channel) : nullptr;
}

}  // namespace

Upstream::Upstream(const std::string& chat_target, const std::string& invite_target,
                   const std::string& presence_target, absl::Duration deadline, const GrpcTls& tls,
                   metrics::RpcMetrics* rpc_metrics)
    : chat_channel_(NewChannel(chat_target, tls)),
      invite_channel_(NewChannel(invite_target, tls)),
      presence_channel_(NewChannel(presence_target, tls)),
      chat_(StubOn<ChatService>(chat_channel_)),
      admin_(StubOn<ChatAdmin>(chat_channel_)),
      invite_(StubOn<InviteService>(invite_channel_)),
      presence_(StubOn<PresenceService>(presence_channel_)),
      deadline_(deadline),
      rpc_metrics_(rpc_metrics),
      watcher_({chat_channel_, invite_channel_, presence_channel_}) {}

// Each call below only names its stub method; CallUnary does the rest.
#define CHAT_UPSTREAM_CALL(Method, Service, Stub, Rpc, Req, Resp)                                 \
  void Upstream::Method(Req req, Done<Resp> done) {                                               \
    if (Stub == nullptr) return done(absl::UnavailableError(#Stub " is not configured"));         \
    static const std::string kMethod = absl::StrCat("/", Service::service_full_name(), "/" #Rpc); \
    CallUnary<Req, Resp>(                                                                         \
        std::move(req), deadline_, std::move(done),                                               \
        [this](auto* ctx, auto* r, auto* resp, auto cb) {                                         \
          Stub->async()->Rpc(ctx, r, resp, std::move(cb));                                        \
        },                                                                                        \
        rpc_metrics_ != nullptr ? rpc_metrics_->For(kMethod) : nullptr);                          \
  }

CHAT_UPSTREAM_CALL(Invite, InviteService, invite_, Invite, InviteRequest, InvitationResponse)
CHAT_UPSTREAM_CALL(CancelInvitation, InviteService, invite_, Cancel, TransitionRequest,
                   InvitationResponse)
CHAT_UPSTREAM_CALL(AcceptInvitation, InviteService, invite_, Accept, TransitionRequest,
                   InvitationResponse)
CHAT_UPSTREAM_CALL(ListPending, InviteService, invite_, ListPending, ListRequest,
                   PendingInvitations)
CHAT_UPSTREAM_CALL(ListFriends, InviteService, invite_, ListFriends, ListRequest, Friends)
CHAT_UPSTREAM_CALL(PresenceConnect, PresenceService, presence_, Connect, ConnectRequest,
                   PresenceResponse)
CHAT_UPSTREAM_CALL(PresenceDisconnect, PresenceService, presence_, Disconnect, DisconnectRequest,
                   PresenceResponse)
CHAT_UPSTREAM_CALL(PresenceSetStatus, PresenceService, presence_, SetStatus, SetStatusRequest,
                   PresenceResponse)
CHAT_UPSTREAM_CALL(PresenceHeartbeat, PresenceService, presence_, Heartbeat, HeartbeatRequest,
                   HeartbeatResponse)
CHAT_UPSTREAM_CALL(PresenceQuery, PresenceService, presence_, Query, QueryRequest, QueryResponse)
CHAT_UPSTREAM_CALL(Send, ChatService, chat_, Send, SendRequest, SendResponse)
CHAT_UPSTREAM_CALL(Edit, ChatService, chat_, Edit, EditRequest, RevisionResponse)
CHAT_UPSTREAM_CALL(Delete, ChatService, chat_, Delete, DeleteRequest, RevisionResponse)
CHAT_UPSTREAM_CALL(Moderate, ChatService, chat_, Moderate, ModerateRequest, ModerateResponse)
CHAT_UPSTREAM_CALL(SetSlowMode, ChatService, chat_, SetSlowMode, SlowModeRequest, SlowModeResponse)
CHAT_UPSTREAM_CALL(History, ChatService, chat_, History, HistoryRequest, HistoryResponse)
CHAT_UPSTREAM_CALL(GetUserState, ChatService, chat_, GetUserState, GetUserStateRequest, UserState)
CHAT_UPSTREAM_CALL(Typing, ChatService, chat_, Typing, TypingRequest, TypingResponse)
CHAT_UPSTREAM_CALL(Tail, ChatService, chat_, Tail, TailRequest, HistoryResponse)
CHAT_UPSTREAM_CALL(PersonalTail, ChatService, chat_, PersonalTail, PersonalTailRequest,
                   PersonalTailResponse)
CHAT_UPSTREAM_CALL(MarkRead, ChatService, chat_, MarkRead, MarkReadRequest, MarkReadResponse)
CHAT_UPSTREAM_CALL(UpsertUser, ChatAdmin, admin_, UpsertUser, User, User)
CHAT_UPSTREAM_CALL(AddMember, ChatAdmin, admin_, AddMember, AddMemberRequest, AddMemberResponse)

#undef CHAT_UPSTREAM_CALL

bool Upstream::Ready() const {
  // Only the chat service is on the delivery path; without the invite or
  // presence service the gateway still chats, with those features degraded.
  ChannelReady(invite_channel_);
  ChannelReady(presence_channel_);
  return ChannelReady(chat_channel_);
}

Upstream::Status Upstream::Connected() const {
  return Status{ChannelReady(chat_channel_), ChannelReady(invite_channel_),
                ChannelReady(presence_channel_)};
}

}  // namespace chat::gateway
