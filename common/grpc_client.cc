#include "common/grpc_client.h"

#include <grpcpp/create_channel.h>

namespace chat {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, const GrpcTls& tls) {
  if (target.empty()) return nullptr;
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(target, GrpcChannelCredentials(tls), args);
  channel->GetState(/*try_to_connect=*/true);
  return channel;
}

bool ChannelReady(const std::shared_ptr<grpc::Channel>& channel) {
  return channel && channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
}

ChannelWatcher::ChannelWatcher(std::vector<std::shared_ptr<grpc::Channel>> channels) {
  for (auto& c : channels) {
    if (c) channels_.push_back(std::move(c));
  }
  for (size_t i = 0; i < channels_.size(); ++i) Watch(i);
  thread_ = std::thread([this] { Run(); });
}

ChannelWatcher::~ChannelWatcher() {
  stopping_ = true;
  cq_.Shutdown();  // Next returns false once the pending watches have ended.
  thread_.join();
}

void ChannelWatcher::Watch(size_t i) {
  const grpc_connectivity_state state = channels_[i]->GetState(/*try_to_connect=*/true);
  channels_[i]->NotifyOnStateChange(
      state, std::chrono::system_clock::now() + absl::ToChronoNanoseconds(kWatchPeriod), &cq_,
      reinterpret_cast<void*>(i));
}

void ChannelWatcher::Run() {
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
    if (!stopping_) Watch(reinterpret_cast<size_t>(tag));  // Changed, or the period passed.
  }
}

}  // namespace chat
