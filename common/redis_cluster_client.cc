#include "common/redis_cluster_client.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/redis_slot.h"

namespace chat::redis {

namespace asio = boost::asio;

// Attempt is one command on its way through redirects and retries.
struct ClusterClient::Attempt {
  int slot = 0;
  std::vector<std::string> args;
  Callback cb;
  int attempts = 0;
  std::optional<HostPort> target;  // Where a redirect sent it, for the next send only.
  bool asking = false;             // The target came from ASK.
};

namespace {

std::string NameOf(const HostPort& node) { return absl::StrCat(node.host, ":", node.port); }

bool Retryable(absl::string_view message) {
  return absl::StartsWith(message, "redis: TRYAGAIN") ||
         absl::StartsWith(message, "redis: CLUSTERDOWN");
}

}  // namespace

std::shared_ptr<ClusterClient> ClusterClient::Create(asio::any_io_executor executor,
                                                     std::vector<HostPort> seeds,
                                                     ClusterOptions options) {
  return std::shared_ptr<ClusterClient>(
      new ClusterClient(std::move(executor), std::move(seeds), std::move(options)));
}

ClusterClient::ClusterClient(asio::any_io_executor executor, std::vector<HostPort> seeds,
                             ClusterOptions options)
    : executor_(std::move(executor)), seeds_(std::move(seeds)), options_(std::move(options)) {}

ClusterClient::~ClusterClient() { Stop(); }

void ClusterClient::Start(absl::AnyInvocable<void(absl::Status)> done) {
  struct Round {
    std::shared_ptr<ClusterClient> self;
    int n = 0;
    absl::AnyInvocable<void(absl::Status)> done;
    void Run(std::shared_ptr<Round> me) {
      self->Refresh([me](absl::Status s) mutable {
        if (s.ok()) {
          absl::MutexLock lock(&me->self->mu_);
          if (!me->self->map_->Covered()) s = absl::UnavailableError("redis: slots unserved");
        }
        if (s.ok() || ++me->n >= me->self->options_.max_attempts) return me->done(s);
        auto timer = std::make_shared<asio::steady_timer>(me->self->executor_);
        timer->expires_after(std::chrono::milliseconds(10 << std::min(me->n, 6)));
        timer->async_wait([me, timer](boost::system::error_code) { me->Run(me); });
      });
    }
  };
  auto round = std::make_shared<Round>();
  round->self = shared_from_this();
  round->done = std::move(done);
  round->Run(round);
}

void ClusterClient::Stop() {
  std::vector<std::shared_ptr<RedisClient>> nodes;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    for (auto& [name, client] : nodes_) nodes.push_back(client);
  }
  for (auto& client : nodes) client->Stop();
}

std::shared_ptr<RedisClient> ClusterClient::Node(const HostPort& node) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<RedisClient>& client = nodes_[NameOf(node)];
  if (!client) {
    Options o = options_.node;
    o.host = node.host;
    o.port = node.port;
    client = std::make_shared<RedisClient>(executor_, o);
    if (!stopped_) client->Start();
  }
  return client;
}

void ClusterClient::Command(absl::string_view key, std::vector<std::string> args, Callback cb) {
  auto attempt = std::make_shared<Attempt>();
  attempt->slot = KeySlot(key);
  attempt->args = std::move(args);
  attempt->cb = std::move(cb);
  Send(std::move(attempt));
}

void ClusterClient::RunScript(const RedisScript& script, std::vector<std::string> keys,
                              std::vector<std::string> args, Callback cb) {
  if (keys.empty()) {
    return cb(absl::InvalidArgumentError("redis: a cluster script needs a key to route by"));
  }
  const std::string key = keys[0];
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(script.sha1());
  cmd.push_back(std::to_string(keys.size()));
  for (auto& k : keys) cmd.push_back(std::move(k));
  for (auto& a : args) cmd.push_back(std::move(a));
  auto fallback = std::make_shared<std::vector<std::string>>(cmd);
  Command(key, std::move(cmd),
          [self = shared_from_this(), &script, key, fallback,
           cb = std::move(cb)](absl::StatusOr<Reply> reply) mutable {
            if (!reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT")) {
              (*fallback)[0] = "EVAL";
              (*fallback)[1] = script.source();
              return self->Command(key, std::move(*fallback), std::move(cb));
            }
            cb(std::move(reply));
          });
}

void ClusterClient::Send(std::shared_ptr<Attempt> attempt) {
  HostPort node;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return attempt->cb(absl::UnavailableError("redis: cluster client stopped"));
    const ClusterShard* shard = map_ ? map_->ShardOf(attempt->slot) : nullptr;
    if (attempt->target) {
      node = *attempt->target;
    } else if (shard != nullptr) {
      node = shard->master;
    }
  }
  if (node.port == 0) {
    Refresh(nullptr);
    return Retry(std::move(attempt), absl::UnavailableError("redis: no node serves the slot"));
  }
  std::shared_ptr<RedisClient> client = Node(node);
  // ASKING holds for the next command on the connection: pipelined, the
  // two reach the node back to back.
  if (attempt->asking) client->Command({"ASKING"}, [](absl::StatusOr<Reply>) {});
  client->CommandKeepingArgs(std::move(attempt->args), [self = shared_from_this(), attempt, node](
                                                           absl::StatusOr<Reply> reply,
                                                           std::vector<std::string> args) mutable {
    attempt->args = std::move(args);
    self->OnReply(std::move(attempt), std::move(node), std::move(reply));
  });
}

void ClusterClient::OnReply(std::shared_ptr<Attempt> attempt, HostPort node,
                            absl::StatusOr<Reply> reply) {
  attempt->target.reset();
  attempt->asking = false;
  if (reply.ok()) return attempt->cb(std::move(reply));
  const absl::Status status = reply.status();
  if (absl::IsUnavailable(status)) {
    // The node is gone or not connected yet: a failover may have moved its
    // slots, so read the map again before the retry.
    Refresh(nullptr);
    return Retry(std::move(attempt), status);
  }
  if (!absl::IsInternal(status)) return attempt->cb(std::move(reply));
  if (std::optional<Redirect> r = ParseRedirect(status.message())) {
    if (++attempt->attempts >= options_.max_attempts) return attempt->cb(std::move(reply));
    if (r->node.host.empty()) r->node.host = node.host;
    attempt->target = r->node;
    if (r->kind == Redirect::Kind::kAsk) {
      stats_.ask.fetch_add(1, std::memory_order_relaxed);
      attempt->asking = true;
    } else {
      stats_.moved.fetch_add(1, std::memory_order_relaxed);
      Refresh(nullptr);
    }
    return Send(std::move(attempt));
  }
  if (Retryable(status.message())) return Retry(std::move(attempt), status);
  attempt->cb(std::move(reply));
}

void ClusterClient::Retry(std::shared_ptr<Attempt> attempt, absl::Status last) {
  if (++attempt->attempts >= options_.max_attempts) return attempt->cb(std::move(last));
  stats_.retries.fetch_add(1, std::memory_order_relaxed);
  const absl::Duration backoff =
      std::min(absl::Milliseconds(10 << std::min(attempt->attempts - 1, 10)), options_.max_backoff);
  auto timer = std::make_shared<asio::steady_timer>(executor_);
  timer->expires_after(absl::ToChronoMilliseconds(backoff));
  timer->async_wait([self = shared_from_this(), attempt = std::move(attempt),
                     timer](boost::system::error_code) mutable { self->Send(std::move(attempt)); });
}

void ClusterClient::Refresh(absl::AnyInvocable<void(absl::Status)> done) {
  std::vector<HostPort> candidates;
  bool running = false;
  {
    absl::MutexLock lock(&mu_);
    running = refreshing_;
    refreshing_ = true;
    if (map_ && !running) {
      for (const ClusterShard& shard : map_->shards()) candidates.push_back(shard.master);
    }
  }
  if (running) {
    if (done) done(absl::UnavailableError("redis: a map refresh is already running"));
    return;
  }
  candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
  RefreshFrom(0, std::move(candidates), std::move(done));
}

void ClusterClient::RefreshFrom(size_t index, std::vector<HostPort> candidates,
                                absl::AnyInvocable<void(absl::Status)> done) {
  if (index >= candidates.size()) {
    {
      absl::MutexLock lock(&mu_);
      refreshing_ = false;
    }
    if (done) done(absl::UnavailableError("redis: no cluster node answered CLUSTER SLOTS"));
    return;
  }
  const HostPort node = candidates[index];
  Node(node)->Command(
      {"CLUSTER", "SLOTS"},
      [self = shared_from_this(), index, node, candidates = std::move(candidates),
       done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
        absl::StatusOr<ClusterMap> map =
            reply.ok() ? ClusterMap::FromSlotsReply(*reply, node.host) : reply.status();
        if (!map.ok() || map->shards().empty()) {
          return self->RefreshFrom(index + 1, std::move(candidates), std::move(done));
        }
        std::vector<HostPort> masters;
        for (const ClusterShard& shard : map->shards()) masters.push_back(shard.master);
        {
          absl::MutexLock lock(&self->mu_);
          self->map_ = *std::move(map);
          self->refreshing_ = false;
        }
        self->stats_.refreshes.fetch_add(1, std::memory_order_relaxed);
        for (const HostPort& m : masters) self->Node(m);  // Connect ahead of use.
        if (done) done(absl::OkStatus());
      });
}

}  // namespace chat::redis
