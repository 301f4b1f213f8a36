#include "invite_service/chat_admin_client.h"

#include "common/grpc_client.h"

namespace chat::invite_service {

ChatAdminClient::ChatAdminClient(const std::string& target, absl::Duration deadline,
                                 const GrpcTls& tls, metrics::RpcMetrics* rpc_metrics)
    : admin_(ChatAdmin::NewStub(NewChannel(target, tls))),
      deadline_(deadline),
      add_member_(rpc_metrics != nullptr ? rpc_metrics->For("/chat.ChatAdmin/AddMember")
                                         : nullptr) {}

void ChatAdminClient::AddMember(const std::string& server, const std::string& user,
                                Done<bool> done) {
  AddMemberRequest req;
  req.set_server(server);
  req.set_user_id(user);
  CallUnary<AddMemberRequest, AddMemberResponse>(
      std::move(req), deadline_,
      [done = std::move(done)](absl::StatusOr<AddMemberResponse> r) mutable {
        if (!r.ok()) return done(r.status());
        done(r->added());
      },
      [this](auto* ctx, auto* req, auto* resp, auto cb) {
        admin_->async()->AddMember(ctx, req, resp, std::move(cb));
      },
      add_member_);
}

}  // namespace chat::invite_service
