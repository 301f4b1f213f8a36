#include "invite_service/invite_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace chat::invite_service {

InviteServer::InviteServer(InviteServerOptions options)
    : options_(std::move(options)),
      host_(options_.listen, options_.redis, "chat.InviteService", options_.tls,
            options_.metrics_listen),
      store_(host_.redis()),
      chat_admin_(options_.chat_target, options_.chat_deadline, options_.tls, host_.client_rpcs()),
      core_(&store_, &chat_admin_, options_.core),
      service_(&core_),
      sweep_timer_(host_.io_context()) {}

InviteServer::~InviteServer() { Shutdown(absl::ZeroDuration()); }

absl::Status InviteServer::Start() {
  // It calls the chat service with the same files it serves with.
  if (absl::Status s = CheckGrpcClientTls(options_.tls); !s.ok()) return s;
  if (absl::Status s = host_.Start({&service_}); !s.ok()) return s;
  boost::asio::post(host_.io_context(), [this] { Sweep(); });
  return absl::OkStatus();
}

void InviteServer::Shutdown(absl::Duration grace) { host_.Shutdown(grace); }

void InviteServer::Sweep() {
  // Runs on the host's I/O thread; the next round is scheduled after this one.
  core_.ExpireDue([this](absl::StatusOr<int> n) {
    if (n.ok() && *n > 0) spdlog::info("event=invitations_expired count={}", *n);
    sweep_timer_.expires_after(absl::ToChronoNanoseconds(options_.sweep_interval));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Sweep();
    });
  });
}

}  // namespace chat::invite_service
