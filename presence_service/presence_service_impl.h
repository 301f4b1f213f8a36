// PresenceServiceImpl: the presence service's gRPC adapter (callback API). It
// only converts between RPCs and PresenceCore calls; replies complete on the
// store's thread.
#ifndef CHATSUITE_PRESENCE_SERVICE_PRESENCE_SERVICE_IMPL_H_
#define CHATSUITE_PRESENCE_SERVICE_PRESENCE_SERVICE_IMPL_H_

#include "presence_service/presence_core.h"
#include "proto/presence.grpc.pb.h"

namespace chat::presence_service {

class PresenceServiceImpl final : public PresenceService::CallbackService {
 public:
  explicit PresenceServiceImpl(PresenceCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Connect(grpc::CallbackServerContext* ctx, const ConnectRequest* req,
                                    PresenceResponse* resp) override;
  grpc::ServerUnaryReactor* Disconnect(grpc::CallbackServerContext* ctx,
                                       const DisconnectRequest* req,
                                       PresenceResponse* resp) override;
  grpc::ServerUnaryReactor* SetStatus(grpc::CallbackServerContext* ctx, const SetStatusRequest* req,
                                      PresenceResponse* resp) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx, const HeartbeatRequest* req,
                                      HeartbeatResponse* resp) override;
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* ctx, const QueryRequest* req,
                                  QueryResponse* resp) override;

 private:
  PresenceCore* core_;
};

}  // namespace chat::presence_service

#endif  // CHATSUITE_PRESENCE_SERVICE_PRESENCE_SERVICE_IMPL_H_
