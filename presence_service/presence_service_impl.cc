#include "presence_service/presence_service_impl.h"

#include <utility>

#include "common/unary.h"

namespace chat::presence_service {

grpc::ServerUnaryReactor* PresenceServiceImpl::Connect(grpc::CallbackServerContext* ctx,
                                                       const ConnectRequest* req,
                                                       PresenceResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Connect(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Disconnect(grpc::CallbackServerContext* ctx,
                                                          const DisconnectRequest* req,
                                                          PresenceResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Disconnect(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* PresenceServiceImpl::SetStatus(grpc::CallbackServerContext* ctx,
                                                         const SetStatusRequest* req,
                                                         PresenceResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->SetStatus(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                         const HeartbeatRequest* req,
                                                         HeartbeatResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Heartbeat(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Query(grpc::CallbackServerContext* ctx,
                                                     const QueryRequest* req, QueryResponse* resp) {
  return FinishUnary(ctx, resp, [&](auto done) { core_->Query(*req, std::move(done)); });
}

}  // namespace chat::presence_service
