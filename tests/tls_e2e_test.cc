// TLS end to end: the gateway serving https and wss with a certificate it
// reloads on SIGHUP, and the services' gRPC with mutual TLS. Every client here
// is real (Beast over OpenSSL, gRPC's own TLS), every certificate is made by
// the openssl command for the test.
#include <grpcpp/create_channel.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/tls.h"
#include "gtest/gtest.h"
#include "tests/harness.h"
#include "tests/test_pki.h"

namespace chat::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

struct ClientTls {
  std::string ca;             // Trusted CA bundle.
  int max_version = 0;        // 0: OpenSSL's default (TLS 1.3).
  bool allow_legacy = false;  // Security level 0, so TLS 1.0/1.1 may be offered.
};

// TlsWsClient: a wss:// client that runs every step on its own io_context
// with a 5 s bound, so a gateway that never answers fails the test instead
// of hanging it.
class TlsWsClient {
 public:
  explicit TlsWsClient(const ClientTls& tls) : ctx_(ssl::context::tls_client) {
    ctx_.load_verify_file(tls.ca);
    ctx_.set_verify_mode(ssl::verify_peer);
    if (tls.allow_legacy) SSL_CTX_set_security_level(ctx_.native_handle(), 0);
    if (tls.max_version != 0) SSL_CTX_set_max_proto_version(ctx_.native_handle(), tls.max_version);
    ws_.emplace(ioc_, ctx_);
  }

  // Handshake connects to 127.0.0.1:port and completes TLS (checking the
  // certificate against "localhost") and nothing more.
  beast::error_code Handshake(int port) {
    auto& tcp_stream = beast::get_lowest_layer(*ws_);
    beast::error_code ec = Await([&](auto done) {
      tcp_stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), done);
    });
    if (ec) return ec;
    auto& tls = ws_->next_layer();
    SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
    tls.set_verify_callback(ssl::host_name_verification("localhost"));
    return Await([&](auto done) { tls.async_handshake(ssl::stream_base::client, done); });
  }

  // Connect does the handshakes of TLS and then of the WebSocket on target.
  beast::error_code Connect(int port, const std::string& target = "/ws") {
    if (beast::error_code ec = Handshake(port)) return ec;
    beast::get_lowest_layer(*ws_).expires_never();
    return Await([&](auto done) { ws_->async_handshake("localhost", target, done); });
  }

  beast::error_code Send(const std::string& text) {
    return Await([&](auto done) { ws_->async_write(net::buffer(text), done); });
  }

  // NextOfType reads frames until one whose JSON "type" is type; nullopt
  // after timeout or once the connection is closed (close_code()).
  std::optional<std::string> NextOfType(const std::string& type,
                                        absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      beast::flat_buffer buffer;
      if (beast::error_code ec =
              Await([&](auto done) { ws_->async_read(buffer, done); }, deadline - absl::Now())) {
        if (ec == websocket::error::closed) close_code_ = ws_->reason().code;
        return std::nullopt;
      }
      std::string frame = beast::buffers_to_string(buffer.data());
      if (JsonField(frame, "type") == type) return frame;
    }
    return std::nullopt;
  }

  // close_code: the code of the gateway's close frame; 0 before one.
  int close_code() const { return close_code_; }

  // PeerCommonName: the CN of the certificate the gateway presented.
  std::string PeerCommonName() {
    X509* cert = SSL_get1_peer_certificate(ws_->next_layer().native_handle());
    if (cert == nullptr) return "";
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    X509_free(cert);
    return cn;
  }

  // Get sends GET path over the TLS connection (after Handshake, instead of
  // a WebSocket upgrade) and returns the status and body; 0 on failure.
  std::pair<int, std::string> Get(const std::string& path) {
    http::request<http::empty_body> req(http::verb::get, path, 11);
    req.set(http::field::host, "localhost");
    http::response<http::string_body> res;
    beast::flat_buffer buffer;
    auto& tls = ws_->next_layer();
    if (Await([&](auto done) { http::async_write(tls, req, done); })) return {0, ""};
    if (Await([&](auto done) { http::async_read(tls, buffer, res, done); })) return {0, ""};
    return {static_cast<int>(res.result_int()), res.body()};
  }

 private:
  // Await starts op(handler) and runs the io_context until the handler has
  // run or 5 s have passed (then the socket is closed: timed_out).
  template <typename Op>
  beast::error_code Await(Op op, absl::Duration timeout = absl::Seconds(5)) {
    std::optional<beast::error_code> result;
    op([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run_for(absl::ToChronoNanoseconds(timeout));
    if (result) return *result;
    beast::get_lowest_layer(*ws_).close();
    ioc_.restart();
    ioc_.run_for(std::chrono::seconds(1));
    return net::error::timed_out;
  }

  net::io_context ioc_;
  ssl::context ctx_;
  int close_code_ = 0;
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws_;
};

// RawExchange connects over plain TCP, writes bytes, and reads until the
// gateway closes the connection or wait passes. closed: the gateway closed it.
struct RawResult {
  std::string data;
  bool closed = false;
};
RawResult RawExchange(int port, const std::string& bytes, absl::Duration wait) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  RawResult out;
  beast::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return out;
  net::write(socket, net::buffer(bytes), ec);
  std::array<char, 4096> chunk;
  std::function<void()> read = [&] {
    socket.async_read_some(net::buffer(chunk), [&](beast::error_code ec, size_t n) {
      if (ec) {
        out.closed = true;
        return;
      }
      out.data.append(chunk.data(), n);
      read();
    });
  };
  read();
  ioc.run_for(absl::ToChronoNanoseconds(wait));
  return out;
}

// MetricValue: the value of the line of metrics that starts with series.
std::string MetricValue(const std::string& metrics, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (absl::StartsWith(line, series + " ")) return std::string(line.substr(series.size() + 1));
  }
  return "";
}

// UpsertAlice calls ChatAdmin.UpsertUser on port over creds (with args).
grpc::Status UpsertAlice(int port, const std::shared_ptr<grpc::ChannelCredentials>& creds,
                         const grpc::ChannelArguments& args = grpc::ChannelArguments()) {
  auto admin =
      ChatAdmin::NewStub(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), creds, args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  User u, out;
  u.set_id("alice");
  u.set_name("Alice");
  return admin->UpsertUser(&ctx, u, &out);
}

// BareGateway: options of a gateway on a free port with only Redis behind it,
// for tests of what Start refuses.
gateway::GatewayOptions BareGateway(int redis_port) {
  gateway::GatewayOptions o;
  o.listen_host = "127.0.0.1";
  o.port = 0;
  o.redis.port = redis_port;
  o.jwt_secret = kSecret;
  o.web_root = "";
  return o;
}

class GatewayTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = TestPki::Create("gateway-tls-ca");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    auto leaf = pki_.Issue("gateway-a");
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaf_ = *leaf;
    stack_ = std::make_unique<Stack>(1, [this](gateway::GatewayOptions& o) {
      o.tls_cert_file = leaf_.cert;
      o.tls_key_file = leaf_.key;
      o.http_request_timeout = absl::Seconds(1);
    });
    ASSERT_TRUE(stack_->Start().ok());
  }

  // Identified opens wss://localhost/ws and identifies as user.
  std::unique_ptr<TlsWsClient> Identified(const std::string& user) {
    auto client = std::make_unique<TlsWsClient>(ClientTls{pki_.ca()});
    if (client->Connect(stack_->gateway_port())) return nullptr;
    client->Send(absl::StrCat(R"({"type":"identify","token":")", stack_->Token(user), R"("})"));
    if (!client->NextOfType("ready")) return nullptr;
    return client;
  }

  std::string Metrics() {
    TlsWsClient client(ClientTls{pki_.ca()});
    if (client.Handshake(stack_->gateway_port())) return "";
    return client.Get("/metrics").second;
  }

  TestPki pki_;
  TestPki::Leaf leaf_;
  std::unique_ptr<Stack> stack_;
};

TEST_F(GatewayTlsTest, WssClientsChatAndHttpsServesTheSameRoutes) {
  auto alice = Identified("alice");
  auto bob = Identified("bob");
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(alice->PeerCommonName(), "gateway-a");
  bob->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"over tls","id":"n1"})");
  auto ack = bob->NextOfType("ack");
  ASSERT_TRUE(ack);
  auto message = alice->NextOfType("chat_message");
  ASSERT_TRUE(message);
  EXPECT_TRUE(absl::StrContains(*message, "over tls")) << *message;

  TlsWsClient https(ClientTls{pki_.ca()});
  ASSERT_FALSE(https.Handshake(stack_->gateway_port()));
  auto [status, body] = https.Get("/healthz");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, "ok\n");
  // The expiry gauge carries the served certificate's notAfter (a day ahead).
  const std::string expiry =
      MetricValue(Metrics(), "chat_gateway_tls_certificate_expiry_timestamp_seconds");
  int64_t not_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(expiry, &not_after)) << expiry;
  EXPECT_GT(absl::FromUnixSeconds(not_after), absl::Now() + absl::Hours(23));
}

TEST_F(GatewayTlsTest, ASeedEndpointWorksOverWss) {
  TlsWsClient seed(ClientTls{pki_.ca()});
  ASSERT_FALSE(seed.Connect(stack_->gateway_port(),
                            absl::StrCat("/ws/chat/demo/general/?token=", stack_->Token("bob"))));
  auto alice = Identified("alice");
  ASSERT_TRUE(alice);
  // The seed socket answers nothing until it has authenticated: a message it
  // receives says it has.
  alice->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"probe","id":"p"})");
  auto probe = seed.NextOfType("chat_message");
  ASSERT_TRUE(probe);
  EXPECT_EQ(JsonField(*probe, "message"), "probe");
  ASSERT_TRUE(alice->NextOfType("chat_message"));
  seed.Send(R"({"type":"chat_message","message":"from the seed socket","author":"x","image":"",)"
            R"("server":"demo","channel":"general","id":1})");
  auto message = alice->NextOfType("chat_message");
  ASSERT_TRUE(message);
  EXPECT_TRUE(absl::StrContains(*message, "from the seed socket")) << *message;
}

TEST_F(GatewayTlsTest, PlainHttpOnTheTlsPortGets400AndTheGatewayServesOn) {
  RawResult plain = RawExchange(
      stack_->gateway_port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", absl::Seconds(5));
  EXPECT_TRUE(absl::StartsWith(plain.data, "HTTP/1.1 400 Bad Request\r\n")) << plain.data;
  EXPECT_TRUE(absl::StrContains(plain.data, "this port speaks TLS")) << plain.data;
  EXPECT_TRUE(plain.closed);
  EXPECT_EQ(MetricValue(Metrics(), "chat_gateway_tls_plaintext_refused_total"), "1");
  EXPECT_TRUE(Identified("alice"));
}

TEST_F(GatewayTlsTest, AClientThatDoesNotTrustTheCertificateCannotConnect) {
  auto other = TestPki::Create("someone-else-ca");
  ASSERT_TRUE(other.ok());
  TlsWsClient client(ClientTls{other->ca()});
  EXPECT_TRUE(client.Connect(stack_->gateway_port()));
  EXPECT_TRUE(Identified("alice"));
}

TEST_F(GatewayTlsTest, TlsBelowVersion1_2IsRefused) {
  // The same legacy-capable client: refused at TLS 1.1, served at TLS 1.2.
  TlsWsClient old(ClientTls{pki_.ca(), TLS1_1_VERSION, /*allow_legacy=*/true});
  EXPECT_TRUE(old.Handshake(stack_->gateway_port()));
  TlsWsClient current(ClientTls{pki_.ca(), TLS1_2_VERSION, /*allow_legacy=*/true});
  EXPECT_FALSE(current.Handshake(stack_->gateway_port()));
}

TEST_F(GatewayTlsTest, AStalledHandshakeIsCutOffAtTheRequestTimeout) {
  // The start of a ClientHello (a record header, the message type and length)
  // and then nothing: past detection, inside the handshake, the 1 s request
  // timeout closes it.
  RawResult stalled =
      RawExchange(stack_->gateway_port(), std::string("\x16\x03\x01\x00\x80\x01\x00\x00\x7c", 9),
                  absl::Seconds(5));
  EXPECT_TRUE(stalled.closed);
  EXPECT_TRUE(stalled.data.empty());
  EXPECT_EQ(MetricValue(Metrics(), "chat_gateway_tls_handshake_failures_total"), "1");
  EXPECT_TRUE(Identified("alice"));
}

TEST(GatewayTlsStartTest, UnusableFilesAreRefusedAtStartWithTheFileNamed) {
  auto pki = TestPki::Create("start-ca");
  ASSERT_TRUE(pki.ok());
  auto a = pki->Issue("start-a");
  auto b = pki->Issue("start-b");
  ASSERT_TRUE(a.ok() && b.ok());
  RedisTestServer redis;
  ASSERT_TRUE(redis.Start().ok());
  auto start = [&](const std::string& cert, const std::string& key) {
    gateway::GatewayOptions o = BareGateway(redis.port());
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    return gateway::Gateway(o).Start();
  };
  absl::Status mismatched = start(a->cert, b->key);
  EXPECT_EQ(mismatched.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(mismatched.message(), b->key)) << mismatched;
  absl::Status missing = start(pki->dir() + "/absent.crt", a->key);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(missing.message(), "absent.crt")) << missing;
  EXPECT_EQ(start(a->cert, "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(start(a->cert, a->key).ok());
  // Expired, and not valid yet.
  auto expired = pki->IssueValid("start-expired", -absl::Hours(2), -absl::Hours(1));
  auto early = pki->IssueValid("start-early", absl::Hours(1), absl::Hours(2));
  ASSERT_TRUE(expired.ok() && early.ok());
  absl::Status old = start(expired->cert, expired->key);
  EXPECT_EQ(old.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(old.message(), "expired at")) << old;
  absl::Status not_yet = start(early->cert, early->key);
  EXPECT_EQ(not_yet.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(not_yet.message(), "not valid until")) << not_yet;
  // TLS 1.2 at least, whatever OpenSSL's security level would allow.
  auto ctx = LoadTlsServerContext(a->cert, a->key);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->context->native_handle()), TLS1_2_VERSION);
}

// The real gateway binary, its certificate replaced and SIGHUP sent.
TEST(GatewayTlsReloadTest, SighupReloadsTheCertificateAndOpenSessionsCarryOn) {
  auto pki = TestPki::Create("reload-ca");
  ASSERT_TRUE(pki.ok());
  auto a = pki->Issue("gateway-a");
  auto b = pki->Issue("gateway-b");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string cert = pki->dir() + "/live.crt", key = pki->dir() + "/live.key";
  ASSERT_TRUE(CopyFile(a->cert, cert).ok());
  ASSERT_TRUE(CopyFile(a->key, key).ok());
  Stack stack;
  ASSERT_TRUE(stack.Start().ok());
  GatewayProcess gateway(stack, {"--tls_cert=" + cert, "--tls_key=" + key});
  const ClientTls trust{pki->ca()};
  // Connect retries while the process starts up.
  auto connect = [&](const std::string& user) -> std::unique_ptr<TlsWsClient> {
    for (int i = 0; i < 100; ++i) {
      auto c = std::make_unique<TlsWsClient>(trust);
      if (!c->Connect(gateway.port())) {
        c->Send(absl::StrCat(R"({"type":"identify","token":")", stack.Token(user), R"("})"));
        if (c->NextOfType("ready")) return c;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
  };
  auto served_name = [&] {
    TlsWsClient c(trust);
    return c.Handshake(gateway.port()) ? std::string() : c.PeerCommonName();
  };
  auto alice = connect("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->PeerCommonName(), "gateway-a");

  ASSERT_TRUE(CopyFile(b->cert, cert).ok());
  ASSERT_TRUE(CopyFile(b->key, key).ok());
  // Sent again until it shows: SIGHUP is ignored until the gateway waits
  // for signals, which it may not do yet just after serving a connection.
  std::string name;
  for (int i = 0; i < 50 && name != "gateway-b"; ++i) {
    ASSERT_EQ(kill(gateway.pid(), SIGHUP), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    name = served_name();
  }
  EXPECT_EQ(name, "gateway-b");
  // The session opened before the reload is untouched.
  alice->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"still here","id":"r1"})");
  EXPECT_TRUE(alice->NextOfType("ack"));

  // A broken file on the next reload: the gateway keeps serving gateway-b.
  { std::ofstream(cert, std::ios::trunc) << "not a certificate\n"; }
  ASSERT_EQ(kill(gateway.pid(), SIGHUP), 0);
  std::string errors;
  for (int i = 0; i < 50 && errors != "1"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    TlsWsClient c(trust);
    if (!c.Handshake(gateway.port())) {
      errors = MetricValue(c.Get("/metrics").second,
                           R"(chat_gateway_tls_reloads_total{result="error"})");
    }
  }
  EXPECT_EQ(errors, "1");
  EXPECT_EQ(served_name(), "gateway-b");
  EXPECT_TRUE(connect("bob"));

  // A SIGHUP during the drain neither kills the process nor cuts the drain
  // short: the open session still gets its 4010.
  ASSERT_EQ(kill(gateway.pid(), SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(gateway.pid(), SIGHUP);
  EXPECT_FALSE(alice->NextOfType("no-such-frame", absl::Seconds(10)));
  EXPECT_EQ(alice->close_code(), 4010);
}

class GrpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = TestPki::Create("grpc-ca");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    auto suite = pki_.Issue("suite");
    ASSERT_TRUE(suite.ok());
    suite_ = GrpcTls{suite->cert, suite->key, pki_.ca()};
    stack_ = std::make_unique<Stack>();
    stack_->UseGrpcTls(suite_);
    ASSERT_TRUE(stack_->Start().ok());
  }

  TestPki pki_;
  GrpcTls suite_;
  std::unique_ptr<Stack> stack_;
};

TEST_F(GrpcTlsTest, TheWholeSuiteRunsOnMutualTls) {
  // The gateway calls chat, invite and presence over mutual TLS, and the
  // invite service calls chat (the membership on accept) the same way.
  auto alice = stack_->Identified("alice");
  auto mallory = stack_->Identified("mallory");
  ASSERT_TRUE(alice && mallory);
  alice->Send(R"({"type":"invitation","invited":"mallory","server":"demo"})");
  ASSERT_TRUE(mallory->NextOfType("invitation"));
  mallory->Send(R"({"type":"accept_invitation","inviting":"alice","server":"demo"})");
  ASSERT_TRUE(mallory->NextOfType("server_joined"));
  mallory->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"hi","id":"1"})");
  EXPECT_TRUE(mallory->NextOfType("ack"));
  EXPECT_TRUE(alice->NextOfType("chat_message"));
  EXPECT_TRUE(alice->NextOfType("presence"));
}

TEST_F(GrpcTlsTest, ServicesRefuseClientsWithoutACertificateTheyTrust) {
  auto other = TestPki::Create("grpc-other-ca");
  ASSERT_TRUE(other.ok());
  auto stranger = other->Issue("stranger");
  ASSERT_TRUE(stranger.ok());
  auto upsert = [&](const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    return UpsertAlice(stack_->chat_port(), creds);
  };
  EXPECT_TRUE(upsert(GrpcChannelCredentials(suite_)).ok());
  EXPECT_EQ(upsert(grpc::InsecureChannelCredentials()).error_code(), grpc::UNAVAILABLE);
  // TLS, trusting the service, but with no client certificate.
  EXPECT_EQ(upsert(GrpcChannelCredentials({"", "", pki_.ca()})).error_code(), grpc::UNAVAILABLE);
  // A client certificate from a CA the service does not trust.
  EXPECT_EQ(upsert(GrpcChannelCredentials({stranger->cert, stranger->key, pki_.ca()})).error_code(),
            grpc::UNAVAILABLE);
  // A client that does not trust the service's certificate.
  EXPECT_EQ(
      upsert(GrpcChannelCredentials({suite_.cert_file, suite_.key_file, other->ca()})).error_code(),
      grpc::UNAVAILABLE);
  // The invite and presence services: a channel with the suite's certificate
  // connects, one without any never does.
  for (int port : {stack_->invite_port(), stack_->presence_port()}) {
    const std::string target = absl::StrCat("127.0.0.1:", port);
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(3);
    EXPECT_TRUE(
        grpc::CreateChannel(target, GrpcChannelCredentials(suite_))->WaitForConnected(deadline));
    EXPECT_FALSE(
        grpc::CreateChannel(target, GrpcChannelCredentials({"", "", pki_.ca()}))
            ->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2)));
  }
}

// Clients check the service's certificate against the host they dial: a
// certificate for another name is refused, and accepted when that name is the
// one dialled.
TEST(GrpcTlsHostNameTest, AServiceCertificateForAnotherHostIsRefused) {
  auto pki = TestPki::Create("grpc-name-ca");
  ASSERT_TRUE(pki.ok());
  auto elsewhere = pki->Issue("elsewhere", "DNS:elsewhere.example");
  ASSERT_TRUE(elsewhere.ok());
  RedisTestServer redis;
  ASSERT_TRUE(redis.Start().ok());
  chat_service::ChatServerOptions o;
  o.listen = "127.0.0.1:0";
  o.redis = {"127.0.0.1", redis.port()};
  o.tls = {elsewhere->cert, elsewhere->key, ""};
  chat_service::ChatServer server(o);
  ASSERT_TRUE(server.Start().ok());
  auto upsert = [&](const grpc::ChannelArguments& args) {
    return UpsertAlice(server.port(), GrpcChannelCredentials({"", "", pki->ca()}), args);
  };
  EXPECT_EQ(upsert(grpc::ChannelArguments()).error_code(), grpc::UNAVAILABLE);
  grpc::ChannelArguments named;
  named.SetSslTargetNameOverride("elsewhere.example");
  grpc::Status served = upsert(named);
  // The Redis connection may still be coming up: anything but a handshake
  // refusal shows that the name was what mattered.
  for (int i = 0; i < 50 && served.error_code() == grpc::UNAVAILABLE; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    served = upsert(named);
  }
  EXPECT_TRUE(served.ok()) << served.error_message();
  server.Shutdown(absl::ZeroDuration());
}

TEST(GrpcTlsStartTest, ServicesRefuseUnusableFilesAtStart) {
  auto pki = TestPki::Create("grpc-start-ca");
  ASSERT_TRUE(pki.ok());
  auto leaf = pki->Issue("service");
  ASSERT_TRUE(leaf.ok());
  RedisTestServer redis;
  ASSERT_TRUE(redis.Start().ok());
  auto start = [&](GrpcTls tls) {
    chat_service::ChatServerOptions o;
    o.listen = "127.0.0.1:0";
    o.redis = {"127.0.0.1", redis.port()};
    o.tls = std::move(tls);
    chat_service::ChatServer server(o);
    absl::Status s = server.Start();
    server.Shutdown(absl::ZeroDuration());
    return s;
  };
  EXPECT_EQ(start({leaf->cert, "", ""}).code(), absl::StatusCode::kInvalidArgument);
  // A CA without a certificate: the service could not require client
  // certificates, and would have served plaintext.
  absl::Status ca_only = start({"", "", pki->ca()});
  EXPECT_EQ(ca_only.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(ca_only.message(), "--grpc_tls_cert")) << ca_only;
  // A client certificate without a CA: the gateway would dial plaintext.
  gateway::GatewayOptions go = BareGateway(redis.port());
  go.grpc_tls = {leaf->cert, leaf->key, ""};
  absl::Status cert_only = gateway::Gateway(go).Start();
  EXPECT_EQ(cert_only.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(cert_only.message(), "--grpc_tls_ca")) << cert_only;
  absl::Status empty_ca = start({leaf->cert, leaf->key, leaf->key});
  EXPECT_EQ(empty_ca.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(empty_ca.message(), "no PEM certificate")) << empty_ca;
  EXPECT_TRUE(start({leaf->cert, leaf->key, pki->ca()}).ok());
}

}  // namespace
}  // namespace chat::testing
