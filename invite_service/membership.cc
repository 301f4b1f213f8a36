#include "invite_service/membership.h"

#include <grpcpp/create_channel.h>

#include "common/status.h"

namespace chat::invite_service {

ChatMembership::ChatMembership(const std::string& target)
    : admin_(ChatAdmin::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

void ChatMembership::AddMember(const std::string& server, const std::string& user,
                               Done<bool> done) {
  struct Call {
    grpc::ClientContext ctx;
    AddMemberRequest req;
    AddMemberResponse resp;
    Done<bool> done;
  };
  auto* call = new Call;
  call->req.set_server(server);
  call->req.set_user_id(user);
  call->done = std::move(done);
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  admin_->async()->AddMember(&call->ctx, &call->req, &call->resp, [call](grpc::Status s) {
    std::unique_ptr<Call> owned(call);
    if (!s.ok()) return owned->done(FromGrpcStatus(s));
    owned->done(true);
  });
}

}  // namespace chat::invite_service
