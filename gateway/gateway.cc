#include "gateway/gateway.h"

#include <spdlog/spdlog.h>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "gateway/listener.h"
#include "gateway/websocket_session.h"

namespace chat::gateway {

namespace net = boost::asio;

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)) {
  gateway_id_ = options_.gateway_id;
  if (gateway_id_.empty()) {
    absl::BitGen gen;
    gateway_id_ = absl::StrFormat("gw-%012x", absl::Uniform<uint64_t>(gen) & 0xffffffffffff);
  }
}

Gateway::~Gateway() { Stop(); }

absl::Status Gateway::Start() {
  if (options_.jwt_secret.empty()) {
    return absl::InvalidArgumentError("a JWT secret is required (--jwt_secret or CHAT_JWT_SECRET)");
  }
  if (!options_.web_root.empty()) {
    if (absl::Status s = static_files_.Load(options_.web_root); !s.ok()) return s;
  }
  verifier_ = std::make_unique<TokenVerifier>(options_.jwt_secret);
  upstream_ = std::make_unique<Upstream>(options_.chat_target, options_.invite_target,
                                         options_.presence_target, options_.upstream_deadline);
  topics_ = std::make_unique<TopicRegistry>(
      ioc_.get_executor(), options_.redis, &metrics_,
      [upstream = upstream_.get()](const std::string& server, const std::string& channel,
                                   int64_t after, auto done) {
        TailRequest req;
        req.set_server(server);
        req.set_channel(channel);
        req.set_after(after);
        upstream->Tail(req, std::move(done));
      });
  boost::system::error_code ec;
  auto address = net::ip::make_address(options_.listen_host, ec);
  if (ec) return absl::InvalidArgumentError("bad listen address " + options_.listen_host);
  listener_ = std::make_shared<Listener>(this, net::ip::tcp::endpoint(address, options_.port));
  if (absl::Status s = listener_->Open(); !s.ok()) return s;
  port_ = listener_->port();
  topics_->Start();
  listener_->Run();
  upstream_->Ready();  // Start connecting now rather than at the first call.
  if (presence_enabled()) {
    presence_timer_ = std::make_unique<net::steady_timer>(ioc_);
    PresenceHeartbeat();
  }
  int n =
      options_.threads > 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
  spdlog::info("event=listening port={} threads={} dev_login={}", port_, n, options_.dev_login);
  return absl::OkStatus();
}

bool Gateway::Ready() const {
  return !draining_ && topics_ != nullptr && topics_->connected() && upstream_->Ready();
}

std::shared_ptr<SharedTokenBucket> Gateway::ChatBudget(const std::string& user) {
  absl::MutexLock lock(&mu_);
  std::weak_ptr<SharedTokenBucket>& slot = chat_budgets_[user];
  if (auto budget = slot.lock()) return budget;
  auto budget = std::make_shared<SharedTokenBucket>(options_.chat_rate, options_.chat_burst);
  slot = budget;
  // Forget users with no session left, now and then, so the map stays bounded.
  if (++budget_inserts_ % 1024 == 0) {
    absl::erase_if(chat_budgets_, [](const auto& kv) { return kv.second.expired(); });
  }
  return budget;
}

void Gateway::AddSession(const std::shared_ptr<WebsocketSession>& s) {
  absl::MutexLock lock(&mu_);
  sessions_.emplace(s.get(), s);
}

void Gateway::RemoveSession(WebsocketSession* s) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(s);
}

void Gateway::PresenceOnline(WebsocketSession* s, const SessionRef& ref) {
  if (!presence_enabled()) return;
  {
    absl::MutexLock lock(&mu_);
    presence_[s] = ref;
  }
  ConnectRequest req;
  *req.mutable_session() = ref;
  upstream_->PresenceConnect(req, [this](absl::StatusOr<PresenceResponse> r) {
    if (!r.ok()) metrics_.upstream_errors.fetch_add(1, std::memory_order_relaxed);
  });
}

void Gateway::PresenceStatus(WebsocketSession* s, const SessionRef& ref) {
  if (!presence_enabled()) return;
  {
    absl::MutexLock lock(&mu_);
    presence_[s] = ref;
  }
  SetStatusRequest req;
  *req.mutable_session() = ref;
  upstream_->PresenceSetStatus(req, [this, ref](absl::StatusOr<PresenceResponse> r) {
    if (r.ok()) return;
    // The service forgot the session (it expired): register it again.
    if (r.status().code() == absl::StatusCode::kNotFound) {
      ConnectRequest again;
      *again.mutable_session() = ref;
      return upstream_->PresenceConnect(again, [](auto) {});
    }
    metrics_.upstream_errors.fetch_add(1, std::memory_order_relaxed);
  });
}

void Gateway::PresenceOffline(WebsocketSession* s) {
  if (!presence_enabled()) return;
  SessionRef ref;
  {
    absl::MutexLock lock(&mu_);
    auto it = presence_.find(s);
    if (it == presence_.end()) return;
    ref = std::move(it->second);
    presence_.erase(it);
  }
  DisconnectRequest req;
  *req.mutable_session() = ref;
  upstream_->PresenceDisconnect(req, [](auto) {});
}

void Gateway::PresenceHeartbeat() {
  // One call per chunk of sessions per interval, not one per session.
  constexpr size_t kChunk = 5000;
  std::vector<HeartbeatRequest> chunks;
  auto known = std::make_shared<absl::flat_hash_map<std::string, SessionRef>>();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [session, ref] : presence_) {
      if (chunks.empty() || chunks.back().sessions_size() >= static_cast<int>(kChunk)) {
        chunks.emplace_back();
        chunks.back().set_gateway_id(gateway_id_);
      }
      *chunks.back().add_sessions() = ref;
      (*known)[ref.session_id()] = ref;
    }
  }
  for (const HeartbeatRequest& chunk : chunks) {
    upstream_->PresenceHeartbeat(chunk, [this, known](absl::StatusOr<HeartbeatResponse> r) {
      if (!r.ok()) {
        metrics_.upstream_errors.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      for (const std::string& id : r->unknown_session_ids()) {
        auto it = known->find(id);
        if (it == known->end()) continue;
        ConnectRequest again;
        *again.mutable_session() = it->second;
        upstream_->PresenceConnect(again, [](auto) {});
      }
    });
  }
  presence_timer_->expires_after(absl::ToChronoNanoseconds(options_.presence_heartbeat));
  presence_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping()) PresenceHeartbeat();
  });
}

void Gateway::Drain() {
  draining_ = true;  // /readyz fails first, so no new clients are sent here.
  if (listener_) listener_->Close();
  std::vector<std::shared_ptr<WebsocketSession>> live;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  absl::BitGen gen;
  const int64_t window_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.drain_window));
  for (auto& s : live) {
    s->CloseAfter(absl::Milliseconds(absl::Uniform<int64_t>(gen, 0, window_ms)),
                  close_code::kDraining, "gateway draining: reconnect");
  }
  spdlog::info("event=draining sessions={}", live.size());
}

void Gateway::Stop() {
  if (stopped_.exchange(true)) return;
  if (listener_) listener_->Close();
  if (topics_) topics_->Stop();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace chat::gateway
