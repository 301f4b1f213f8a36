#include "chat_service/chat_server.h"

namespace chat::chat_service {

ChatServer::ChatServer(ChatServerOptions options)
    : host_(options.listen, options.redis, "chat.ChatService", options.tls, options.metrics_listen),
      store_(host_.redis(), options.store),
      core_(&store_, options.core),
      service_(&core_),
      admin_(&core_) {
  if (const redis::ReplicaWaits* waits = store_.replica_waits()) {
    host_.AddMetrics(
        [waits](std::string* out) { redis::AppendReplicaWaitMetrics(waits->stats(), out); });
  }
}

}  // namespace chat::chat_service
