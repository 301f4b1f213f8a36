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

Upstream::Upstream(const std::string& chat_target, absl::Duration deadline)
    : chat_channel_(grpc::CreateChannel(chat_target, grpc::InsecureChannelCredentials())),
      chat_(ChatService::NewStub(chat_channel_)),
      admin_(ChatAdmin::NewStub(chat_channel_)),
      deadline_(deadline) {}

void Upstream::Send(const SendRequest& req, Reply<SendResponse> done) {
  Invoke(req, deadline_, std::move(done), [this](auto* ctx, auto* r, auto* resp, auto cb) {
    chat_->async()->Send(ctx, r, resp, std::move(cb));
  });
}

void Upstream::History(const HistoryRequest& req, Reply<HistoryResponse> done) {
  Invoke(req, deadline_, std::move(done), [this](auto* ctx, auto* r, auto* resp, auto cb) {
    chat_->async()->History(ctx, r, resp, std::move(cb));
  });
}

void Upstream::GetUserState(const GetUserStateRequest& req, Reply<UserState> done) {
  Invoke(req, deadline_, std::move(done), [this](auto* ctx, auto* r, auto* resp, auto cb) {
    chat_->async()->GetUserState(ctx, r, resp, std::move(cb));
  });
}

void Upstream::UpsertUser(const User& req, Reply<User> done) {
  Invoke(req, deadline_, std::move(done), [this](auto* ctx, auto* r, auto* resp, auto cb) {
    admin_->async()->UpsertUser(ctx, r, resp, std::move(cb));
  });
}

void Upstream::AddMember(const AddMemberRequest& req, Reply<AddMemberResponse> done) {
  Invoke(req, deadline_, std::move(done), [this](auto* ctx, auto* r, auto* resp, auto cb) {
    admin_->async()->AddMember(ctx, r, resp, std::move(cb));
  });
}

bool Upstream::Ready() const {
  grpc_connectivity_state state = chat_channel_->GetState(/*try_to_connect=*/true);
  return state == GRPC_CHANNEL_READY;
}

}  // namespace chat::gateway
