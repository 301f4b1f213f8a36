// ChatAdminClient: the invite service's gRPC client of the chat service's
// ChatAdmin API. It implements Membership through ChatAdmin.AddMember, so the
// chat service stays the owner of memberships and announces them
// (server_joined) to the new member's sessions.
#ifndef CHATSUITE_INVITE_SERVICE_CHAT_ADMIN_CLIENT_H_
#define CHATSUITE_INVITE_SERVICE_CHAT_ADMIN_CLIENT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/grpc_tls.h"
#include "common/metrics.h"
#include "invite_service/invite_store.h"
#include "proto/chat.grpc.pb.h"

namespace chat::invite_service {

class ChatAdminClient : public Membership {
 public:
  // target: the chat service, "host:port" or "dns:///name:port" (calls are
  // spread over every address). deadline bounds each call; tls: grpc_tls.h.
  // rpc_metrics (optional, must outlive this) counts every call.
  ChatAdminClient(const std::string& target, absl::Duration deadline, const GrpcTls& tls = {},
                  metrics::RpcMetrics* rpc_metrics = nullptr);

  // AddMember: true if added, false if already a member; kNotFound for an
  // unknown server or user; kUnavailable / kDeadlineExceeded when the chat
  // service cannot be reached. done runs on a gRPC thread.
  void AddMember(const std::string& server, const std::string& user, Done<bool> done) override;

 private:
  std::unique_ptr<ChatAdmin::Stub> admin_;
  absl::Duration deadline_;
  std::shared_ptr<metrics::RpcMetrics::Method> add_member_;  // Null: not counted.
};

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_CHAT_ADMIN_CLIENT_H_
