#include "common/grpc_client.h"

#include <grpcpp/create_channel.h>

namespace chat {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target) {
  if (target.empty()) return nullptr;
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  channel->GetState(/*try_to_connect=*/true);
  return channel;
}

bool ChannelReady(const std::shared_ptr<grpc::Channel>& channel) {
  return channel && channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
}

}  // namespace chat
