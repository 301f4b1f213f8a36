#include "common/redis_cluster_client.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "common/redis_slot.h"

namespace chat::redis {

namespace asio = boost::asio;

// Attempt is one command on its way through redirects and retries.
struct ClusterClient::Attempt {
  int slot = -1;  // -1: no key; any master will do.
  std::vector<std::string> args;
  ViaCallback done;
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

void ClusterClient::Command(std::vector<std::string> args, Callback cb) {
  Route(std::move(args),
        [cb = std::move(cb)](absl::StatusOr<Reply> reply, std::vector<std::string>,
                             std::shared_ptr<RedisClient>) mutable { cb(std::move(reply)); });
}

void ClusterClient::CommandKeepingArgs(std::vector<std::string> args, ArgsCallback cb) {
  Route(std::move(args),
        [cb = std::move(cb)](absl::StatusOr<Reply> reply, std::vector<std::string> args,
                             std::shared_ptr<RedisClient>) mutable {
          cb(std::move(reply), std::move(args));
        });
}

void ClusterClient::CommandVia(std::vector<std::string> args, ViaCallback cb) {
  Route(std::move(args), std::move(cb));
}

void ClusterClient::Command(absl::string_view key, std::vector<std::string> args, Callback cb) {
  auto attempt = std::make_shared<Attempt>();
  attempt->slot = KeySlot(key);
  attempt->args = std::move(args);
  attempt->done = [cb = std::move(cb)](absl::StatusOr<Reply> reply, std::vector<std::string>,
                                       std::shared_ptr<RedisClient>) mutable {
    cb(std::move(reply));
  };
  Send(std::move(attempt));
}

void ClusterClient::Route(std::vector<std::string> args, ViaCallback done) {
  auto attempt = std::make_shared<Attempt>();
  const absl::string_view key = RoutingKey(args);
  if (!key.empty()) {
    attempt->slot = KeySlot(key);
  } else if (args.size() > 0 && absl::StartsWithIgnoreCase(args[0], "EVAL")) {
    return done(absl::InvalidArgumentError("redis: a cluster script needs a key to route by"),
                std::move(args), nullptr);
  }
  attempt->args = std::move(args);
  attempt->done = std::move(done);
  Send(std::move(attempt));
}

bool ClusterClient::healthy() const {
  absl::MutexLock lock(&mu_);
  if (!map_ || !map_->Covered() || stopped_) return false;
  for (const ClusterShard& shard : map_->shards()) {
    auto it = nodes_.find(NameOf(shard.master));
    if (it == nodes_.end() || !it->second->connected()) return false;
  }
  return true;
}

std::shared_ptr<const ClusterMap> ClusterClient::map() const {
  absl::MutexLock lock(&mu_);
  return map_;
}

std::vector<std::pair<std::string, std::shared_ptr<RedisClient>>> ClusterClient::nodes() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, std::shared_ptr<RedisClient>>> out(nodes_.begin(),
                                                                        nodes_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void ClusterClient::Send(std::shared_ptr<Attempt> attempt) {
  HostPort node;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      return attempt->done(absl::UnavailableError("redis: cluster client stopped"),
                           std::move(attempt->args), nullptr);
    }
    const ClusterShard* shard = nullptr;
    if (map_ && attempt->slot >= 0) {
      shard = map_->ShardOf(attempt->slot);
    } else if (map_ && !map_->shards().empty()) {
      shard = &map_->shards().front();
    }
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
  client->CommandVia(
      std::move(attempt->args), [self = shared_from_this(), attempt, node](
                                    absl::StatusOr<Reply> reply, std::vector<std::string> args,
                                    std::shared_ptr<RedisClient> via) mutable {
        attempt->args = std::move(args);
        self->OnReply(std::move(attempt), std::move(node), std::move(via), std::move(reply));
      });
}

void ClusterClient::OnReply(std::shared_ptr<Attempt> attempt, HostPort node,
                            std::shared_ptr<RedisClient> via, absl::StatusOr<Reply> reply) {
  attempt->target.reset();
  attempt->asking = false;
  auto finish = [&] { attempt->done(std::move(reply), std::move(attempt->args), std::move(via)); };
  if (reply.ok()) return finish();
  const absl::Status status = reply.status();
  if (absl::IsUnavailable(status)) {
    // The node is gone or not connected yet: a failover may have moved its
    // slots, so read the map again before the retry.
    Refresh(nullptr);
    return Retry(std::move(attempt), status);
  }
  if (!absl::IsInternal(status)) return finish();
  if (std::optional<Redirect> r = ParseRedirect(status.message())) {
    if (++attempt->attempts >= options_.max_attempts) return finish();
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
  finish();
}

void ClusterClient::Retry(std::shared_ptr<Attempt> attempt, absl::Status last) {
  if (++attempt->attempts >= options_.max_attempts) {
    return attempt->done(std::move(last), std::move(attempt->args), nullptr);
  }
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
  {
    absl::MutexLock lock(&mu_);
    // A caller who finds a read running is told when it ends: the map it
    // then finds is that read's.
    if (done) refresh_waiters_.push_back(std::move(done));
    if (refreshing_) return;
    refreshing_ = true;
    if (map_) {
      for (const ClusterShard& shard : map_->shards()) candidates.push_back(shard.master);
    }
  }
  candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
  RefreshFrom(0, std::move(candidates));
}

void ClusterClient::FinishRefresh(absl::Status status) {
  std::vector<absl::AnyInvocable<void(absl::Status)>> waiters;
  {
    absl::MutexLock lock(&mu_);
    refreshing_ = false;
    waiters.swap(refresh_waiters_);
  }
  for (auto& w : waiters) w(status);
}

void ClusterClient::RefreshFrom(size_t index, std::vector<HostPort> candidates) {
  if (index >= candidates.size()) {
    return FinishRefresh(absl::UnavailableError("redis: no cluster node answered CLUSTER SLOTS"));
  }
  const HostPort node = candidates[index];
  // A node that accepts the command and never answers (hung, partitioned)
  // must not hold the read up: after a second the next candidate is asked,
  // and whichever of the two moves on first wins.
  struct Step {
    absl::Mutex mu;
    bool over ABSL_GUARDED_BY(mu) = false;
    bool Claim() {
      absl::MutexLock lock(&mu);
      if (over) return false;
      over = true;
      return true;
    }
  };
  auto step = std::make_shared<Step>();
  auto timer = std::make_shared<asio::steady_timer>(executor_);
  timer->expires_after(std::chrono::seconds(1));
  timer->async_wait([self = shared_from_this(), step, timer, index,
                     candidates](boost::system::error_code ec) mutable {
    if (ec || !step->Claim()) return;
    self->RefreshFrom(index + 1, std::move(candidates));
  });
  Node(node)->Command({"CLUSTER", "SLOTS"},
                      [self = shared_from_this(), step, timer, index, node,
                       candidates = std::move(candidates)](absl::StatusOr<Reply> reply) mutable {
                        if (!step->Claim()) return;
                        timer->cancel();
                        absl::StatusOr<ClusterMap> map =
                            reply.ok() ? ClusterMap::FromSlotsReply(*reply, node.host)
                                       : reply.status();
                        if (!map.ok() || map->shards().empty()) {
                          return self->RefreshFrom(index + 1, std::move(candidates));
                        }
                        std::vector<HostPort> masters;
                        for (const ClusterShard& shard : map->shards())
                          masters.push_back(shard.master);
                        {
                          absl::MutexLock lock(&self->mu_);
                          self->map_ = std::make_shared<const ClusterMap>(*std::move(map));
                        }
                        self->stats_.refreshes.fetch_add(1, std::memory_order_relaxed);
                        for (const HostPort& m : masters) self->Node(m);  // Connect ahead of use.
                        self->FinishRefresh(absl::OkStatus());
                      });
}

std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> ClusterConnections(
    const ClusterClient& client, const std::string& name) {
  std::vector<std::pair<std::string, std::shared_ptr<const Connection>>> out;
  for (auto& [node, c] : client.nodes()) out.emplace_back(absl::StrCat(name, ":", node), c);
  return out;
}

void AppendClusterMetrics(const ClusterClient& client, const std::string& name, std::string* out) {
  const ClusterStats& s = client.stats();
  metrics::AppendHeader(out, "chat_redis_cluster_redirects_total", "counter",
                        "Redis Cluster redirects followed, by kind: moved (the slot has a new "
                        "owner) or ask (the slot is migrating).");
  absl::StrAppend(out, "chat_redis_cluster_redirects_total{connection=\"", name,
                  "\",kind=\"moved\"} ", s.moved.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(out, "chat_redis_cluster_redirects_total{connection=\"", name,
                  "\",kind=\"ask\"} ", s.ask.load(std::memory_order_relaxed), "\n");
  metrics::AppendHeader(out, "chat_redis_cluster_retries_total", "counter",
                        "Commands retried after TRYAGAIN, CLUSTERDOWN or a lost node.");
  absl::StrAppend(out, "chat_redis_cluster_retries_total{connection=\"", name, "\"} ",
                  s.retries.load(std::memory_order_relaxed), "\n");
  metrics::AppendHeader(
      out, "chat_redis_cluster_map_reads_total", "counter",
      "Slot maps read (CLUSTER SLOTS): at start, after MOVED, after a lost node.");
  absl::StrAppend(out, "chat_redis_cluster_map_reads_total{connection=\"", name, "\"} ",
                  s.refreshes.load(std::memory_order_relaxed), "\n");
}

}  // namespace chat::redis
