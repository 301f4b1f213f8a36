#include "gateway/upstream.h"

#include <grpcpp/create_channel.h>

#include "common/status.h"

namespace chat::gateway {

namespace {

// Call owns one RPC's context and messages until its callback has run.
template <typename Req, typename Resp>
struct Call {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
  Reply<Resp> done;
};

template <typename Req, typename Resp, typename Start>
void Invoke(const Req& req, absl::Duration deadline, Reply<Resp> done, Start start) {
  auto* call = new Call<Req, Resp>;
  call->req = req;
  call->done = std::move(done);
  call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  start(&call->ctx, &call->req, &call->resp, [call](grpc::Status status) {
    std::unique_ptr<Call<Req, Resp>> owned(call);
    if (status.ok()) {
      owned->done(std::move(owned->resp));
    } else {
      owned->done(FromGrpcStatus(status));
    }
  });
}

}  // namespace

namespace {

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& target) {
  if (target.empty()) return nullptr;
  // round_robin spreads calls over every address the name resolves to (a
  // headless Kubernetes Service lists every pod); pick_first would pin one.
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

template <typename Stub>
std::unique_ptr<typename Stub::Stub> StubOn(const std::shared_ptr<grpc::Channel>& channel) {
  return channel ? Stub::NewStub(channel) : nullptr;
}

}  // namespace

Upstream::Upstream(const std::string& chat_target, const std::string& invite_target,
                   const std::string& presence_target, absl::Duration deadline)
    : chat_channel_(ChannelTo(chat_target)),
      invite_channel_(ChannelTo(invite_target)),
      presence_channel_(ChannelTo(presence_target)),
      chat_(StubOn<ChatService>(chat_channel_)),
      admin_(StubOn<ChatAdmin>(chat_channel_)),
      invite_(StubOn<InviteService>(invite_channel_)),
      presence_(StubOn<PresenceService>(presence_channel_)),
      deadline_(deadline) {}

// Each call below only names its stub method; Invoke does the rest.
#define CHAT_UPSTREAM_CALL(Method, Stub, Rpc, Req, Resp)                                      \
  void Upstream::Method(const Req& req, Reply<Resp> done) {                                   \
    if (Stub == nullptr) return done(absl::UnavailableError(#Stub " is not configured"));     \
    Invoke(req, deadline_, std::move(done), [this](auto* ctx, auto* r, auto* resp, auto cb) { \
      Stub->async()->Rpc(ctx, r, resp, std::move(cb));                                        \
    });                                                                                       \
  }

CHAT_UPSTREAM_CALL(Invite, invite_, Invite, InviteRequest, InvitationResponse)
CHAT_UPSTREAM_CALL(CancelInvitation, invite_, Cancel, TransitionRequest, InvitationResponse)
CHAT_UPSTREAM_CALL(AcceptInvitation, invite_, Accept, TransitionRequest, InvitationResponse)
CHAT_UPSTREAM_CALL(ListPending, invite_, ListPending, ListRequest, PendingInvitations)
CHAT_UPSTREAM_CALL(ListFriends, invite_, ListFriends, ListRequest, Friends)
CHAT_UPSTREAM_CALL(PresenceConnect, presence_, Connect, ConnectRequest, PresenceResponse)
CHAT_UPSTREAM_CALL(PresenceDisconnect, presence_, Disconnect, DisconnectRequest, PresenceResponse)
CHAT_UPSTREAM_CALL(PresenceSetStatus, presence_, SetStatus, SetStatusRequest, PresenceResponse)
CHAT_UPSTREAM_CALL(PresenceHeartbeat, presence_, Heartbeat, HeartbeatRequest, HeartbeatResponse)
CHAT_UPSTREAM_CALL(PresenceQuery, presence_, Query, QueryRequest, QueryResponse)
CHAT_UPSTREAM_CALL(Send, chat_, Send, SendRequest, SendResponse)
CHAT_UPSTREAM_CALL(History, chat_, History, HistoryRequest, HistoryResponse)
CHAT_UPSTREAM_CALL(GetUserState, chat_, GetUserState, GetUserStateRequest, UserState)
CHAT_UPSTREAM_CALL(Typing, chat_, Typing, TypingRequest, TypingResponse)
CHAT_UPSTREAM_CALL(Tail, chat_, Tail, TailRequest, HistoryResponse)
CHAT_UPSTREAM_CALL(UpsertUser, admin_, UpsertUser, User, User)
CHAT_UPSTREAM_CALL(AddMember, admin_, AddMember, AddMemberRequest, AddMemberResponse)

#undef CHAT_UPSTREAM_CALL

namespace {

// ChannelUp asks a channel's state and nudges an idle or failed one to connect.
bool ChannelUp(const std::shared_ptr<grpc::Channel>& channel) {
  return channel && channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
}

}  // namespace

bool Upstream::Ready() const {
  // Only the chat service is on the delivery path; without the invite or
  // presence service the gateway still chats, with those features degraded.
  ChannelUp(invite_channel_);
  ChannelUp(presence_channel_);
  return ChannelUp(chat_channel_);
}

Upstream::Status Upstream::Connected() const {
  return Status{ChannelUp(chat_channel_), ChannelUp(invite_channel_), ChannelUp(presence_channel_)};
}

}  // namespace chat::gateway
