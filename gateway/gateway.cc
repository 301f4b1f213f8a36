#include "gateway/gateway.h"

#include <spdlog/spdlog.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/keys.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/websocket_session.h"

namespace chat::gateway {

namespace net = boost::asio;

Gateway::Gateway(GatewayOptions options)
    : options_(std::move(options)),
      chat_budgets_(options_.chat_rate, options_.chat_burst),
      limits_(options_.max_connections_per_address, options_.max_sessions_per_user) {
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
  if (options_.watermark_grace <= absl::ZeroDuration() ||
      options_.head_probe_interval < absl::ZeroDuration() || !(options_.head_probe_rate > 0)) {
    return absl::InvalidArgumentError(
        "the watermark grace and the head probe rate must be positive, the probe interval not "
        "negative");
  }
  if (!options_.web_root.empty()) {
    if (absl::Status s = static_files_.Load(options_.web_root); !s.ok()) return s;
  }
  verifier_ = std::make_unique<TokenVerifier>(TokenVerifierOptions{
      options_.jwt_secret, options_.jwt_previous_secret, options_.jwt_clock_skew});
  if (absl::Status s = CheckGrpcClientTls(options_.grpc_tls); !s.ok()) return s;
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    absl::StatusOr<TlsServerContext> tls =
        LoadTlsServerContext(options_.tls_cert_file, options_.tls_key_file);
    if (!tls.ok()) return tls.status();
    SetTls(*std::move(tls));
  }
  upstream_ = std::make_unique<Upstream>(options_.chat_target, options_.invite_target,
                                         options_.presence_target, options_.upstream_deadline,
                                         options_.grpc_tls, &metrics_.upstream_rpcs);
  readers_.channel = [upstream = upstream_.get()](const std::string& server,
                                                  const std::string& channel, int64_t after,
                                                  Done<TailPage> done) {
    TailRequest req;
    req.set_server(server);
    req.set_channel(channel);
    req.set_after(after);
    upstream->Tail(std::move(req),
                   [topic = keys::ChannelTopic(server, channel),
                    done = std::move(done)](absl::StatusOr<HistoryResponse> r) mutable {
                     if (!r.ok()) return done(r.status());
                     done(PageOfMessages(topic, *std::move(r)));
                   });
  };
  readers_.personal = [upstream = upstream_.get()](const std::string& user, int64_t after,
                                                   Done<TailPage> done) {
    PersonalTailRequest req;
    req.set_user_id(user);
    req.set_after(after);
    upstream->PersonalTail(std::move(req), [topic = keys::UserTopic(user), done = std::move(done)](
                                               absl::StatusOr<PersonalTailResponse> r) mutable {
      if (!r.ok()) return done(r.status());
      done(PageOfPersonal(topic, *std::move(r)));
    });
  };
  if (!options_.redis_cluster.empty()) {
    redis::ClusterOptions co;
    co.node = options_.redis;
    cluster_ = redis::ClusterClient::Create(ioc_.get_executor(), options_.redis_cluster, co);
    cluster_->Start([](absl::Status s) {
      if (!s.ok()) {
        spdlog::error("event=redis_cluster_unavailable error=\"{}\"", std::string(s.message()));
      }
    });
  }
  topics_ = std::make_unique<TopicRegistry>(ioc_.get_executor(), options_.redis, &metrics_,
                                            readers_, cluster_);
  topics_->SetProbeLimits(options_.head_probe_interval, options_.head_probe_rate);
  if (options_.canary_interval > absl::ZeroDuration()) {
    topics_->EnableCanary(absl::StrCat("{g:", gateway_id_, "}:canary"), options_.canary_interval);
  }
  boost::system::error_code ec;
  auto address = net::ip::make_address(options_.listen_host, ec);
  if (ec) return absl::InvalidArgumentError("bad listen address " + options_.listen_host);
  listener_ = std::make_shared<Listener>(this, net::ip::tcp::endpoint(address, options_.port));
  if (absl::Status s = listener_->Open(); !s.ok()) return s;
  port_ = listener_->port();
  topics_->Start();
  listener_->Run();
  if (!options_.presence_target.empty()) {
    presence_ = std::make_unique<PresenceReporter>(upstream_.get(), &metrics_, gateway_id_,
                                                   options_.presence_heartbeat, ioc_);
    presence_->Start();
  }
  int n =
      options_.threads > 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
  spdlog::info("event=listening port={} threads={} tls={} dev_login={}", port_, n,
               tls_context() ? "on" : "off", options_.dev_login);
  return absl::OkStatus();
}

void Gateway::SetTls(TlsServerContext tls) {
  metrics_.tls_not_after.store(absl::ToUnixSeconds(tls.not_after), std::memory_order_relaxed);
  absl::MutexLock lock(&tls_mu_);
  tls_ = std::move(tls.context);
}

std::shared_ptr<boost::asio::ssl::context> Gateway::tls_context() const {
  absl::MutexLock lock(&tls_mu_);
  return tls_;
}

absl::Status Gateway::ReloadTls() {
  if (tls_context() == nullptr) return absl::FailedPreconditionError("TLS is off");
  absl::StatusOr<TlsServerContext> tls =
      LoadTlsServerContext(options_.tls_cert_file, options_.tls_key_file);
  if (!tls.ok()) {
    metrics_.tls_reloads.Inc("error");
    spdlog::error("event=tls_reload_failed error=\"{}\" keeping=previous_certificate",
                  std::string(tls.status().message()));
    return tls.status();
  }
  const absl::Time not_after = tls->not_after;
  SetTls(*std::move(tls));
  metrics_.tls_reloads.Inc("ok");
  spdlog::info("event=tls_reloaded not_after={}", absl::FormatTime(not_after));
  return absl::OkStatus();
}

bool Gateway::Ready() const {
  return !draining_ && topics_ != nullptr && topics_->delivering() && upstream_->Ready();
}

void Gateway::AddSession(const std::shared_ptr<WebsocketSession>& s) {
  absl::MutexLock lock(&mu_);
  sessions_.emplace(s.get(), s);
}

void Gateway::RemoveSession(WebsocketSession* s) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(s);
}

bool Gateway::WaitDrained(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](decltype(sessions_)* s) { return s->empty(); }, &sessions_),
                              timeout);
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
  if (presence_) presence_->Stop();
  if (listener_) listener_->Close();
  if (topics_) topics_->Stop();
  if (cluster_) cluster_->Stop();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace chat::gateway
