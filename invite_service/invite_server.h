// InviteServer wires the invite service on a ServiceHost: the Redis store, the
// chat service's admin client (memberships), the core, the gRPC adapter, and
// the sweeper that expires pending invitations.
#ifndef CHATSUITE_INVITE_SERVICE_INVITE_SERVER_H_
#define CHATSUITE_INVITE_SERVICE_INVITE_SERVER_H_

#include <boost/asio/steady_timer.hpp>

#include "common/grpc_tls.h"
#include "common/service_host.h"
#include "invite_service/chat_admin_client.h"
#include "invite_service/invite_core.h"
#include "invite_service/invite_service_impl.h"
#include "invite_service/redis_invite_store.h"

namespace chat::invite_service {

struct InviteServerOptions {
  std::string listen = "0.0.0.0:50053";
  RedisTarget redis{"127.0.0.1", 6379};  // One instance, or a cluster's seeds.
  GrpcTls tls;                           // Served with, and (invite) dialled with: grpc_tls.h.
  std::string metrics_listen;            // host:port of /metrics; empty: none.
  std::string chat_target = "127.0.0.1:50051";      // For memberships.
  absl::Duration chat_deadline = absl::Seconds(5);  // Per call to the chat service.
  InviteCoreOptions core;
  absl::Duration sweep_interval = absl::Seconds(1);
};

class InviteServer {
 public:
  explicit InviteServer(InviteServerOptions options);
  ~InviteServer();

  absl::Status Start();
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  int port() const { return host_.port(); }
  int metrics_port() const { return host_.metrics_port(); }

 private:
  void Sweep();

  InviteServerOptions options_;
  ServiceHost host_;
  RedisInviteStore store_;
  ChatAdminClient chat_admin_;  // Memberships, through the chat service.
  InviteCore core_;
  InviteServiceImpl service_;
  boost::asio::steady_timer sweep_timer_;
};

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_INVITE_SERVER_H_
