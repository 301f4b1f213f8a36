#include "tests/harness.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <csignal>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/redis_commands.h"
#include "common/redis_slot.h"

namespace chat::testing {

namespace {
// hiredis writes with write(2): a peer that went away must not kill the test.
const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();
}  // namespace

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

WsClient::WsClient() : ws_(ioc_) {}

WsClient::~WsClient() {
  net::post(ioc_, [this] {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  });
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

absl::Status WsClient::Connect(int port, const std::string& target, const std::string& origin) {
  beast::error_code ec;
  beast::get_lowest_layer(ws_).connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return absl::UnavailableError(ec.message());
  ws_.set_option(websocket::stream_base::decorator([origin](websocket::request_type& req) {
    if (!origin.empty()) req.set(beast::http::field::origin, origin);
  }));
  websocket::response_type res;
  ws_.handshake(res, absl::StrCat("127.0.0.1:", port), target, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("handshake: ", res.result_int()));
  work_.emplace(ioc_.get_executor());
  DoRead();
  thread_ = std::thread([this] { ioc_.run(); });
  return absl::OkStatus();
}

void WsClient::DoRead() {
  ws_.async_read(buffer_, [this](beast::error_code ec, size_t) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ec) {
      closed_ = true;
      close_code_ = ws_.reason().code;
      cv_.notify_all();
      return;
    }
    frames_.emplace_back(beast::buffers_to_string(buffer_.data()), !ws_.got_text());
    buffer_.consume(buffer_.size());
    cv_.notify_all();
    DoRead();
  });
}

void WsClient::Send(std::string text) {
  auto data = std::make_shared<std::string>(std::move(text));
  // Sends are rare in tests; a synchronous write on the I/O thread keeps order.
  net::post(ioc_, [this, data] {
    beast::error_code ec;
    ws_.text(true);
    ws_.write(net::buffer(*data), ec);
  });
}

void WsClient::SendBinary(std::string bytes) {
  auto data = std::make_shared<std::string>(std::move(bytes));
  net::post(ioc_, [this, data] {
    beast::error_code ec;
    ws_.binary(true);
    ws_.write(net::buffer(*data), ec);
  });
}

std::optional<std::string> WsClient::Next(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait_for(lock,
                 absl::ToChronoNanoseconds(std::max(deadline - absl::Now(), absl::ZeroDuration())),
                 [this] { return !frames_.empty() || closed_; });
    if (frames_.empty()) return std::nullopt;
    auto [data, binary] = std::move(frames_.front());
    frames_.pop_front();
    // Presence is state that arrives at any time: Next leaves it out.
    if (!binary && JsonField(data, "type") == "presence") continue;
    last_binary_ = binary;
    return data;
  }
}

std::optional<std::string> WsClient::NextOfType(const std::string& type, absl::Duration timeout) {
  // Frames of other types stay queued, in order, for later Next calls.
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<std::string> found;
  auto scan = [&] {
    for (auto it = frames_.begin(); it != frames_.end(); ++it) {
      if (!it->second && JsonField(it->first, "type") == type) {
        found = std::move(it->first);
        frames_.erase(it);
        return true;
      }
    }
    return closed_;
  };
  cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), scan);
  return found;
}

int WsClient::WaitClosed(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return closed_; })) {
    return -1;
  }
  return close_code_;
}

std::string JsonField(const std::string& json, const std::string& field) {
  google::protobuf::Struct s;
  if (!google::protobuf::util::JsonStringToMessage(json, &s).ok()) return "";
  auto it = s.fields().find(field);
  if (it == s.fields().end()) return "";
  const auto& v = it->second;
  if (v.has_string_value()) return v.string_value();
  if (v.has_number_value()) return absl::StrCat(static_cast<int64_t>(v.number_value()));
  if (v.has_bool_value()) return v.bool_value() ? "true" : "false";
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

Stack::Stack(int gateways, std::function<void(gateway::GatewayOptions&)> tune,
             std::function<void(invite_service::InviteServerOptions&)> tune_invite)
    : gateway_count_(gateways), tune_(std::move(tune)), tune_invite_(std::move(tune_invite)) {
  if (const char* c = getenv("CHATSUITE_REDIS_CLUSTER"); c != nullptr && *c != '\0') {
    // Outlives every Stack; its nodes stop when the test process exits.
    static const auto shared = std::make_unique<RedisTestCluster>(3, 1);
    cluster_ = shared.get();
  }
}

RedisTarget Stack::redis_target() const {
  if (cluster_ == nullptr) return RedisTarget("127.0.0.1", redis_.port());
  std::vector<HostPort> seeds;
  for (size_t i = 0; i < cluster_->size(); ++i) {
    seeds.push_back({"127.0.0.1", cluster_->node(i).port()});
  }
  return RedisTarget::Cluster(std::move(seeds));
}

std::vector<std::string> Stack::redis_flags() const {
  if (cluster_ == nullptr) return {absl::StrCat("--redis=127.0.0.1:", redis_.port())};
  return {absl::StrCat("--redis_cluster=", cluster_->Seeds()),
          absl::StrCat("--redis_min_replicas=", min_replicas_)};
}

Stack::~Stack() {
  for (auto& g : gateways_) g->Stop();
  if (invite_) invite_->Shutdown(absl::ZeroDuration());
  if (presence_) presence_->Shutdown(absl::ZeroDuration());
  if (chat_) chat_->Shutdown(absl::ZeroDuration());
  for (auto& c : more_chats_) c->Shutdown(absl::ZeroDuration());
  for (const std::string& finding : slot_guard_.Finish()) {
    ADD_FAILURE() << "Redis Cluster slot rule broken: " << finding;
  }
}

absl::Status Stack::Start() {
  if (own_cluster_ != nullptr) {
    // The cluster itself refuses what the slot guard looks for.
    if (absl::Status s = cluster_->Start(); !s.ok()) return s;
  } else if (cluster_ != nullptr) {
    static const absl::Status started = cluster_->Start();
    if (!started.ok()) return started;
    for (size_t i = 0; i < cluster_->size(); ++i) {
      // Replicas refuse (READONLY) and follow their masters.
      (void)CommandOn(cluster_->node(i).port(), {"FLUSHALL"});
    }
  } else {
    if (absl::Status s = redis_.Start(); !s.ok()) return s;
    if (const char* guard = getenv("CHATSUITE_SLOT_GUARD"); guard != nullptr && *guard != '\0') {
      if (absl::Status s = slot_guard_.Start(redis_.port()); !s.ok()) return s;
    }
  }
  chat_service::ChatServerOptions co;
  co.listen = "127.0.0.1:0";
  co.redis = redis_target();
  co.store.min_replicas = min_replicas_;
  co.core.typing_interval = absl::Milliseconds(300);
  co.tls = grpc_tls_;
  co.metrics_listen = "127.0.0.1:0";
  chat_ = std::make_unique<chat_service::ChatServer>(co);
  if (absl::Status s = chat_->Start(); !s.ok()) return s;
  for (int i = 1; i < chat_replica_count_; ++i) {
    more_chats_.push_back(std::make_unique<chat_service::ChatServer>(co));
    if (absl::Status s = more_chats_.back()->Start(); !s.ok()) return s;
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", chat_->port()),
                                     GrpcChannelCredentials(grpc_tls_));
  admin_ = ChatAdmin::NewStub(channel);
  // Await the service's Redis connection: admin calls answer UNAVAILABLE until then.
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    grpc::ClientContext ctx;
    User u, out;
    u.set_id("alice");
    u.set_name("Alice");
    u.set_image("https://img/alice.png");
    up = admin_->UpsertUser(&ctx, u, &out).ok();
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!up) return absl::UnavailableError("chat service never became ready");
  auto call = [&](auto fn) {
    grpc::ClientContext ctx;
    return fn(&ctx);
  };
  for (auto [id, name] :
       {std::pair<const char*, const char*>{"bob", "Bob"}, {"mallory", "Mallory"}}) {
    User u, out;
    u.set_id(id);
    u.set_name(name);
    call([&](grpc::ClientContext* c) { return admin_->UpsertUser(c, u, &out); });
  }
  CreateServerRequest cs;
  cs.set_id("demo");
  cs.set_name("Demo");
  Server server;
  call([&](grpc::ClientContext* c) { return admin_->CreateServer(c, cs, &server); });
  for (const char* ch : {"general", "random"}) {
    CreateChannelRequest cc;
    cc.set_server("demo");
    cc.set_id(ch);
    cc.set_name(ch);
    Channel out;
    call([&](grpc::ClientContext* c) { return admin_->CreateChannel(c, cc, &out); });
  }
  for (const char* user : {"alice", "bob"}) {
    AddMemberRequest am;
    am.set_server("demo");
    am.set_user_id(user);
    AddMemberResponse out;
    call([&](grpc::ClientContext* c) { return admin_->AddMember(c, am, &out); });
  }
  invite_service::InviteServerOptions io;
  io.listen = "127.0.0.1:0";
  io.redis = redis_target();
  io.chat_target = absl::StrCat("127.0.0.1:", chat_->port());
  io.tls = grpc_tls_;
  io.metrics_listen = "127.0.0.1:0";
  if (tune_invite_) tune_invite_(io);
  invite_ = std::make_unique<invite_service::InviteServer>(io);
  if (absl::Status s = invite_->Start(); !s.ok()) return s;
  presence_service::PresenceServerOptions po;
  po.listen = "127.0.0.1:0";
  po.redis = redis_target();
  po.core.session_ttl = absl::Seconds(1);
  po.core.offline_grace = absl::Milliseconds(300);
  po.sweep_interval = absl::Milliseconds(50);
  po.tls = grpc_tls_;
  po.metrics_listen = "127.0.0.1:0";
  presence_ = std::make_unique<presence_service::PresenceServer>(po);
  if (absl::Status s = presence_->Start(); !s.ok()) return s;
  for (int i = 0; i < gateway_count_; ++i) {
    gateway::GatewayOptions go;
    go.invite_target = absl::StrCat("127.0.0.1:", invite_->port());
    go.presence_target = absl::StrCat("127.0.0.1:", presence_->port());
    go.presence_heartbeat = absl::Milliseconds(250);
    go.typing_interval = absl::Milliseconds(300);
    go.listen_host = "127.0.0.1";
    go.port = 0;
    go.threads = 2;
    const int replica = i % chat_replica_count_;
    go.chat_target =
        absl::StrCat("127.0.0.1:", replica == 0 ? chat_->port() : more_chats_[replica - 1]->port());
    go.redis.host = "127.0.0.1";
    go.redis.port = redis_.port();
    go.redis.reconnect_delay = absl::Milliseconds(20);
    go.redis_cluster = redis_target().cluster;
    go.jwt_secret = kSecret;
    go.grpc_tls = grpc_tls_;
    if (tune_) tune_(go);
    auto g = std::make_unique<gateway::Gateway>(go);
    if (absl::Status s = g->Start(); !s.ok()) return s;
    // Ready means: pub/sub connected and the chat channel connected.
    bool ready = false;
    for (int j = 0; j < 500 && !ready; ++j) {
      ready = g->Ready();
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!ready) return absl::UnavailableError("gateway never became ready");
    gateways_.push_back(std::move(g));
  }
  return absl::OkStatus();
}

void Stack::redis_command(const std::vector<std::string>& args) {
  if (cluster_ == nullptr) {
    (void)CommandOn(redis_.port(), args);
    return;
  }
  const absl::string_view key = redis::RoutingKey(args);
  if (!key.empty()) {
    (void)CommandOn(cluster_->MasterOf(redis::KeySlot(key)), args);
    return;
  }
  for (size_t i = 0; i < cluster_->size(); ++i) (void)CommandOn(cluster_->node(i).port(), args);
}

std::string Stack::Token(const std::string& user, absl::Duration ttl) const {
  User u;
  u.set_id(user);
  u.set_name(user == "alice" ? "Alice" : user == "bob" ? "Bob" : user);
  u.set_image(absl::StrCat("https://img/", user, ".png"));
  return *gateway::TokenVerifier(kSecret).Mint(u, ttl);
}

std::unique_ptr<WsClient> Stack::Identified(const std::string& user, std::string* ready,
                                            int gateway) {
  auto client = std::make_unique<WsClient>();
  if (!client->Connect(gateway_port(gateway), "/ws").ok()) return nullptr;
  client->Send(absl::StrCat(R"({"type":"identify","token":")", Token(user), R"("})"));
  auto frame = client->NextOfType("ready");
  if (!frame) return nullptr;
  if (ready) *ready = *frame;
  return client;
}

absl::Status Stack::AddUser(const std::string& user) {
  User u, out;
  u.set_id(user);
  u.set_name(user);
  grpc::ClientContext uctx;
  if (grpc::Status s = admin_->UpsertUser(&uctx, u, &out); !s.ok()) {
    return absl::InternalError(s.error_message());
  }
  AddMemberRequest am;
  am.set_server("demo");
  am.set_user_id(user);
  AddMemberResponse resp;
  grpc::ClientContext actx;
  if (grpc::Status s = admin_->AddMember(&actx, am, &resp); !s.ok()) {
    return absl::InternalError(s.error_message());
  }
  return absl::OkStatus();
}

GatewayProcess::GatewayProcess(Stack& stack, std::vector<std::string> extra_flags)
    : port_(FreePort()) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::string binary = absl::StrCat(srcdir ? srcdir : ".", "/chatsuite/gateway/gateway");
  args_ = {
      binary,
      absl::StrCat("--listen=127.0.0.1:", port_),
      absl::StrCat("--chat=127.0.0.1:", stack.chat_port()),
      absl::StrCat("--invite=127.0.0.1:", stack.invite_port()),
      absl::StrCat("--presence=127.0.0.1:", stack.presence_port()),
      "--web_root=",
      "--presence_heartbeat_ms=250",
      "--log_level=warn",
  };
  for (std::string& f : stack.redis_flags()) {
    if (!absl::StartsWith(f, "--redis_min_replicas")) args_.push_back(std::move(f));
  }
  for (std::string& f : extra_flags) args_.push_back(std::move(f));
  Start();
}

pid_t Spawn(std::vector<std::string> args) {
  pid_t pid = fork();
  if (pid == 0) {
    setenv("CHAT_JWT_SECRET", kSecret, 1);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void KillAndReap(pid_t* pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGKILL);
  int status;
  waitpid(*pid, &status, 0);
  *pid = -1;
}

void GatewayProcess::Start() {
  if (pid_ <= 0) pid_ = Spawn(args_);
}

void GatewayProcess::Kill() { KillAndReap(&pid_); }

bool GatewayProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return true;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  int status;
  while (absl::Now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void OpenWithSmallBuffer(RawWebSocket& ws, int port, const std::string& token) {
  auto& sock = boost::beast::get_lowest_layer(ws).socket();
  sock.open(boost::asio::ip::tcp::v4());
  sock.set_option(boost::asio::socket_base::receive_buffer_size(4096));
  boost::beast::get_lowest_layer(ws).connect(
      {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  ws.handshake("127.0.0.1", "/ws");
  ws.write(boost::asio::buffer(absl::StrCat(R"({"type":"identify","token":")", token, R"("})")));
}

}  // namespace chat::testing
