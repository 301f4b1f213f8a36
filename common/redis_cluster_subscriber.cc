#include "common/redis_cluster_subscriber.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redis_slot.h"

namespace chat::redis {

namespace asio = boost::asio;

ClusterSubscriber::ClusterSubscriber(asio::any_io_executor executor,
                                     std::shared_ptr<ClusterClient> cluster, Options node,
                                     PubSubHandlers handlers)
    : strand_(asio::make_strand(executor)),
      cluster_(std::move(cluster)),
      node_options_(std::move(node)),
      handlers_(std::move(handlers)),
      retry_(strand_),
      steady_(strand_) {}

void ClusterSubscriber::Start() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = false;
    self->Reconcile();
  });
}

void ClusterSubscriber::Stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->retry_.cancel();
    self->steady_.cancel();
    for (auto& [name, node] : self->nodes_) node->Stop();
  });
}

void ClusterSubscriber::Reconnect() {
  asio::post(strand_, [self = shared_from_this()] {
    for (auto& [name, node] : self->nodes_) node->Reconnect();
    self->Reconcile();
  });
}

void ClusterSubscriber::Subscribe(const std::string& topic) {
  asio::post(strand_, [self = shared_from_this(), topic] {
    if (self->topics_.try_emplace(topic).second && !self->Place(topic, /*moved=*/false)) {
      self->Reconcile();
    }
  });
}

void ClusterSubscriber::Unsubscribe(const std::string& topic) {
  asio::post(strand_, [self = shared_from_this(), topic] {
    auto it = self->topics_.find(topic);
    if (it == self->topics_.end()) return;
    if (auto node = self->nodes_.find(it->second); node != self->nodes_.end()) {
      node->second->Unsubscribe(topic);
    }
    self->topics_.erase(it);
    self->moving_.erase(topic);
  });
}

void ClusterSubscriber::Renew(const std::string& topic) {
  asio::post(strand_, [self = shared_from_this(), topic] {
    auto it = self->topics_.find(topic);
    if (it == self->topics_.end()) return;
    if (auto node = self->nodes_.find(it->second); node != self->nodes_.end()) {
      node->second->Renew(topic);
    }
    // A topic that delivers nothing may have moved without telling us.
    self->Reconcile();
  });
}

bool ClusterSubscriber::connected() const { return all_connected_.load(); }

std::shared_ptr<RedisSubscriber> ClusterSubscriber::NodeFor(const std::string& name,
                                                            const HostPort& node) {
  std::shared_ptr<RedisSubscriber>& sub = nodes_[name];
  if (sub != nullptr) return sub;
  Options o = node_options_;
  o.host = node.host;
  o.port = node.port;
  // The node's handlers run on its strand, which runs on strand_: every
  // handler below is serialized with the rest of this class.
  std::weak_ptr<ClusterSubscriber> weak = weak_from_this();
  // Which subscriber the handlers belong to: a retired node's late events
  // must not touch the topics of one made later under the same name.
  auto me = std::make_shared<std::weak_ptr<RedisSubscriber>>();
  auto current = [me, name](ClusterSubscriber& self) {
    auto it = self.nodes_.find(name);
    return it != self.nodes_.end() && it->second == me->lock();
  };
  PubSubHandlers h;
  h.on_message = handlers_.on_message;
  h.on_resubscribed = handlers_.on_resubscribed;
  // Stopped, the class tells its caller nothing more (a node's own Stop
  // still reports its disconnection).
  h.on_subscribed = [weak, name](const std::string& topic) {
    auto self = weak.lock();
    if (self == nullptr || self->stopped_) return;
    auto it = self->topics_.find(topic);
    if (it == self->topics_.end() || it->second != name) return;
    self->UpdateConnected();
    if (self->handlers_.on_subscribed) self->handlers_.on_subscribed(topic);
    if (self->moving_.erase(topic) > 0) {
      self->moves_.fetch_add(1, std::memory_order_relaxed);
      if (self->handlers_.on_moved) self->handlers_.on_moved(topic);
    }
  };
  h.on_disconnected = [weak, name, current] {
    auto self = weak.lock();
    // A node retired by Reconciled disconnects too: it carries nothing now.
    if (self == nullptr || self->stopped_ || !current(*self)) return;
    self->all_connected_ = false;
    if (self->handlers_.on_unconfirmed) {
      for (const auto& [topic, at] : self->topics_) {
        if (at == name) self->handlers_.on_unconfirmed(topic);
      }
    }
    self->Reconcile();  // A failover moves the node's slots to its replica.
  };
  sub = std::make_shared<RedisSubscriber>(asio::any_io_executor(strand_), o, std::move(h));
  *me = sub;
  sub->SetDropHandler([weak, name](const std::string& topic) {
    auto self = weak.lock();
    if (self == nullptr || self->stopped_) return;
    auto it = self->topics_.find(topic);
    // A late drop from a node the topic has already left changes nothing.
    if (it == self->topics_.end() || it->second != name) return;
    it->second.clear();
    self->any_unplaced_ = true;
    self->moving_[topic] = true;
    if (self->handlers_.on_unconfirmed) self->handlers_.on_unconfirmed(topic);
    self->Reconcile();
  });
  if (!stopped_) sub->Start();
  PublishSnapshot();
  return sub;
}

bool ClusterSubscriber::UpdateConnected() {
  // Per node, not per topic: this runs on every confirmation.
  bool up = cluster_->map() != nullptr && !any_unplaced_;
  for (const auto& [name, node] : nodes_) up = up && node->connected();
  all_connected_ = up;
  return up;
}

void ClusterSubscriber::PublishSnapshot() {
  std::vector<std::pair<std::string, std::shared_ptr<RedisSubscriber>>> nodes(nodes_.begin(),
                                                                              nodes_.end());
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  absl::MutexLock lock(&snapshot_mu_);
  snapshot_ = std::move(nodes);
}

bool ClusterSubscriber::Place(const std::string& topic, bool moved) {
  std::shared_ptr<const ClusterMap> map = cluster_->map();
  const ClusterShard* shard = map ? map->ShardOf(KeySlot(topic)) : nullptr;
  std::string& at = topics_[topic];
  if (shard == nullptr) {
    if (moved) moving_[topic] = true;
    if (at.empty()) any_unplaced_ = true;
    return false;
  }
  const std::string name = absl::StrCat(shard->master.host, ":", shard->master.port);
  if (at == name) return true;
  if (moved) moving_[topic] = true;
  if (auto old = nodes_.find(at); old != nodes_.end()) old->second->Unsubscribe(topic);
  at = name;
  NodeFor(name, shard->master)->Subscribe(topic);
  UpdateConnected();
  return true;
}

void ClusterSubscriber::Reconcile() {
  if (stopped_) return;
  if (reconciling_) {
    again_ = true;
    return;
  }
  const absl::Time now = absl::Now();
  if (now - last_read_ < absl::Milliseconds(100)) {
    if (retry_armed_) return;
    retry_armed_ = true;
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->retry_armed_ = false;
      if (!ec) self->Reconcile();
    });
    return;
  }
  last_read_ = now;
  reconciling_ = true;
  cluster_->RefreshMap([self = shared_from_this()](absl::Status s) {
    asio::post(self->strand_, [self, s] { self->Reconciled(s); });
  });
}

void ClusterSubscriber::Reconciled(absl::Status read) {
  reconciling_ = false;
  bool settled = !again_;
  again_ = false;
  std::vector<std::string> all;
  all.reserve(topics_.size());
  for (const auto& [topic, at] : topics_) all.push_back(topic);
  any_unplaced_ = false;
  for (const std::string& topic : all) {
    // A topic that was placed before, or dropped by Redis, has missed
    // whatever was published while it moved.
    const bool moved = !topics_[topic].empty() || moving_.contains(topic);
    Place(topic, moved);
  }
  // Forget nodes that serve none of our topics (a failed master, say).
  absl::flat_hash_map<std::string, bool> used;
  for (const auto& [topic, at] : topics_) used[at] = true;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (!used.contains(it->first)) {
      it->second->Stop();
      nodes_.erase(it++);
      continue;
    }
    ++it;
  }
  PublishSnapshot();
  const bool up = UpdateConnected();
  if (stopped_) return;
  if (settled && up && read.ok()) {
    steady_.expires_after(absl::ToChronoNanoseconds(kSteadyRefresh));
    steady_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->Reconcile();
    });
    return;
  }
  if (retry_armed_) return;
  retry_armed_ = true;
  retry_.expires_after(std::chrono::milliseconds(250));
  retry_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->retry_armed_ = false;
    if (!ec) self->Reconcile();
  });
}

std::vector<std::pair<std::string, std::shared_ptr<const Connection>>>
ClusterSubscriber::Connections(const std::string& name) const {
  std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> out;
  absl::MutexLock lock(&snapshot_mu_);
  for (const auto& [node, sub] : snapshot_) out.emplace_back(absl::StrCat(name, ":", node), sub);
  return out;
}

}  // namespace chat::redis
