// Metrics and logs under traffic, with the real stack: every process's
// /metrics is scraped before and after a round of chat, invitations, bad
// frames and a flood, and the families that traffic should move are checked
// to have moved by what it did. The request ids a gateway sends with its
// calls are checked to reach the services' log lines.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "gtest/gtest.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// Get fetches http://127.0.0.1:port<target>; the status and body.
std::pair<int, std::string> Get(int port, const std::string& target,
                                http::verb verb = http::verb::get) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

// Samples maps each sample line's name and labels ("name{a=\"b\"}") to its
// value.
using Samples = std::map<std::string, double>;

Samples Scrape(int port) {
  auto [code, body] = Get(port, "/metrics");
  EXPECT_EQ(code, 200);
  Samples out;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double v = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &v)) << line;
    out[std::string(line.substr(0, space))] = v;
  }
  return out;
}

// Moved is how much one sample grew between two scrapes (absent counts 0).
double Moved(const Samples& before, const Samples& after, const std::string& key) {
  auto get = [&](const Samples& s) {
    auto it = s.find(key);
    return it == s.end() ? 0.0 : it->second;
  };
  return get(after) - get(before);
}

std::string Handled(const std::string& side, const std::string& method, const std::string& code) {
  return absl::StrCat("chat_grpc_", side, "_handled_total{method=\"", method, "\",code=\"", code,
                      "\"}");
}

TEST(MetricsE2eTest, TheRightFamiliesMoveWithTraffic) {
  Stack stack;
  ASSERT_TRUE(stack.Start().ok());
  const int gw = stack.gateway_port();
  const Samples gw0 = Scrape(gw);
  const Samples chat0 = Scrape(stack.chat_metrics_port());
  const Samples invite0 = Scrape(stack.invite_metrics_port());
  const Samples presence0 = Scrape(stack.presence_metrics_port());

  auto alice = stack.Identified("alice");
  auto bob = stack.Identified("bob");
  ASSERT_TRUE(alice && bob);
  alice->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"hi","id":"n1"})");
  ASSERT_TRUE(alice->NextOfType("ack"));
  ASSERT_TRUE(bob->NextOfType("chat_message"));
  ASSERT_TRUE(alice->NextOfType("chat_message"));
  bob->Send("{not json");
  ASSERT_TRUE(bob->NextOfType("error"));
  bob->Send(R"({"type":"invitation","invited":"mallory","id":"i1"})");
  ASSERT_TRUE(bob->NextOfType("invitation"));
  // A flood: more frames at once than the per-connection burst (50).
  for (int i = 0; i < 80; ++i) bob->Send(R"({"type":"status","status":"online"})");
  ASSERT_TRUE(bob->NextOfType("error"));  // rate_limited

  const Samples gw1 = Scrape(gw);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_in_total{type=\"identify\"}"), 2);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_in_total{type=\"chat_message\"}"), 1);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_in_total{type=\"invalid\"}"), 1);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_in_total{type=\"invitation\"}"), 1);
  EXPECT_GE(Moved(gw0, gw1, "chat_gateway_frames_out_total{type=\"ready\"}"), 2);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_out_total{type=\"ack\"}"), 1);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_out_total{type=\"chat_message\"}"), 2);
  EXPECT_GE(Moved(gw0, gw1, "chat_gateway_deliveries_total"), 2);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_fanout_latency_seconds_count"), 1);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_error_frames_total{code=\"bad_frame\"}"), 1);
  EXPECT_GE(Moved(gw0, gw1, "chat_gateway_rate_limited_total"), 1);
  EXPECT_EQ(Moved(gw0, gw1, Handled("client", "/chat.ChatService/Send", "OK")), 1);
  EXPECT_EQ(Moved(gw0, gw1, Handled("client", "/chat.InviteService/Invite", "OK")), 1);
  EXPECT_EQ(Moved(gw0, gw1, Handled("client", "/chat.PresenceService/Connect", "OK")), 2);
  EXPECT_EQ(
      Moved(gw0, gw1, "chat_grpc_client_latency_seconds_count{method=\"/chat.ChatService/Send\"}"),
      1);
  EXPECT_GE(Moved(gw0, gw1, "chat_redis_commands_total{connection=\"pubsub\"}"), 1);
  EXPECT_EQ(gw1.at("chat_redis_connected{connection=\"pubsub\"}"), 1);

  // What the gateway counted as sent, each service counted as handled.
  const Samples chat1 = Scrape(stack.chat_metrics_port());
  EXPECT_EQ(Moved(chat0, chat1, Handled("server", "/chat.ChatService/Send", "OK")), 1);
  EXPECT_GE(Moved(chat0, chat1, Handled("server", "/chat.ChatService/GetUserState", "OK")), 2);
  EXPECT_EQ(Moved(chat0, chat1,
                  "chat_grpc_server_latency_seconds_count{method=\"/chat.ChatService/Send\"}"),
            1);
  EXPECT_GE(Moved(chat0, chat1, "chat_redis_commands_total{connection=\"commands\"}"), 1);
  EXPECT_EQ(chat1.at("chat_service_up{service=\"chat.ChatService\"}"), 1);
  const Samples invite1 = Scrape(stack.invite_metrics_port());
  EXPECT_EQ(Moved(invite0, invite1, Handled("server", "/chat.InviteService/Invite", "OK")), 1);
  const Samples presence1 = Scrape(stack.presence_metrics_port());
  EXPECT_EQ(Moved(presence0, presence1, Handled("server", "/chat.PresenceService/Connect", "OK")),
            2);
}

// The families a failure moves: connections, a resume and what it replayed,
// a reader that stops (closed with 4009), and a Redis that goes away.
TEST(MetricsE2eTest, ConnectionsResumesSlowConsumersAndRedisErrorsAreCounted) {
  Stack stack(1, [](gateway::GatewayOptions& o) {
    o.chat_rate = o.chat_burst = o.frame_rate = o.frame_burst = 1e6;
    o.max_inflight_requests = 1000;
    o.max_outbound_bytes = 256 * 1024;
  });
  ASSERT_TRUE(stack.Start().ok());
  ASSERT_TRUE(stack.AddUser("mallory").ok());
  const int gw = stack.gateway_port();
  const Samples gw0 = Scrape(gw);
  const Samples chat0 = Scrape(stack.chat_metrics_port());
  EXPECT_EQ(gw0.at("chat_gateway_connections"), 0);

  std::string ready;
  auto alice = stack.Identified("alice");
  auto bob = stack.Identified("bob", &ready);
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(Scrape(gw).at("chat_gateway_connections"), 2);
  const std::string session = JsonField(ready, "session_id");
  // Bob leaves; three messages go out; he comes back resuming from before them.
  bob.reset();
  int64_t first = 0;
  for (int i = 0; i < 3; ++i) {
    alice->Send(absl::StrCat(
        R"({"type":"chat_message","server":"demo","channel":"general","message":"m","id":"r)", i,
        R"("})"));
    auto ack = alice->NextOfType("ack");
    ASSERT_TRUE(ack);
    if (i == 0) first = std::stoll(JsonField(*ack, "seq"));
  }
  WsClient again;
  ASSERT_TRUE(again.Connect(gw, "/ws").ok());
  again.Send(absl::StrCat(
      R"({"type":"identify","token":")", stack.Token("bob"), R"(","resume":{"session_id":")",
      session, R"(","channels":[{"server":"demo","channel":"general","seq":")", first - 1,
      R"("}],"user_seq":")", JsonField(ready, "user_seq"), R"("}})"));
  auto resumed = again.NextOfType("resumed");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(JsonField(*resumed, "replayed"), "3");

  // Mallory reads her ready and then nothing: her queue overflows.
  boost::asio::io_context ioc;
  RawWebSocket stalled(ioc);
  OpenWithSmallBuffer(stalled, gw, stack.Token("mallory"));
  for (;;) {
    beast::flat_buffer frame;
    stalled.read(frame);
    if (beast::buffers_to_string(frame.data()).find(R"("type":"ready")") != std::string::npos)
      break;
  }
  const std::string text(2000, 'y');
  int sent = 0;
  for (; sent < 20000 && Moved(gw0, Scrape(gw), "chat_gateway_slow_consumer_closes_total") == 0;
       sent += 50) {
    for (int j = sent; j < sent + 50; ++j) {
      alice->Send(absl::StrCat(R"({"type":"chat_message","server":"demo","channel":"general",)",
                               R"("message":")", text, R"(","id":"s)", j, R"("})"));
    }
    for (int acks = 0; acks < 50;) {
      auto f = alice->Next();
      ASSERT_TRUE(f);
      if (JsonField(*f, "type") == "ack") ++acks;
    }
  }
  // Once mallory's socket is gone too, two connections are left.
  boost::system::error_code ignored;
  beast::get_lowest_layer(stalled).socket().close(ignored);
  Samples gw1 = Scrape(gw);
  for (int i = 0; i < 100 && gw1.at("chat_gateway_connections") != 2; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    gw1 = Scrape(gw);
  }
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_slow_consumer_closes_total"), 1) << sent << " sent";
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_closes_total{code=\"4009\"}"), 1);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_connections_total"), 4);
  EXPECT_EQ(gw1.at("chat_gateway_connections"), 2);  // alice and the resumed bob.
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_resumes_total"), 1);
  EXPECT_EQ(Moved(gw0, gw1, "chat_gateway_frames_out_total{type=\"resumed\"}"), 1);

  // Redis goes away: the chat service's commands fail and are counted.
  stack.redis().Stop(/*hard=*/true);
  alice->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"x","id":"down"})");
  auto error = alice->NextOfType("error", absl::Seconds(10));
  ASSERT_TRUE(error);
  EXPECT_EQ(JsonField(*error, "code"), "unavailable");
  const Samples chat1 = Scrape(stack.chat_metrics_port());
  EXPECT_EQ(chat1.at("chat_redis_connected{connection=\"commands\"}"), 0);
  double failed = 0;
  for (const char* kind : {"connect_failed", "not_connected", "connection_lost"}) {
    failed +=
        Moved(chat0, chat1,
              absl::StrCat("chat_redis_errors_total{connection=\"commands\",kind=\"", kind, "\"}"));
  }
  EXPECT_GE(failed, 1);
  EXPECT_GE(Moved(chat0, chat1, "chat_redis_reconnects_total{connection=\"commands\"}"), 1);
  EXPECT_EQ(Moved(chat0, chat1, Handled("server", "/chat.ChatService/Send", "UNAVAILABLE")), 1);
}

TEST(MetricsE2eTest, RefusedCallsAreCountedByCode) {
  Stack stack;
  ASSERT_TRUE(stack.Start().ok());
  const Samples chat0 = Scrape(stack.chat_metrics_port());
  // Mallory is in no server: the chat service refuses her message.
  auto mallory = stack.Identified("mallory");
  ASSERT_TRUE(mallory);
  mallory->Send(
      R"({"type":"chat_message","server":"demo","channel":"general","message":"x","id":"m1"})");
  auto error = mallory->NextOfType("error");
  ASSERT_TRUE(error);
  const Samples chat1 = Scrape(stack.chat_metrics_port());
  double refused = 0;
  for (const char* code : {"PERMISSION_DENIED", "NOT_FOUND", "FAILED_PRECONDITION"}) {
    refused += Moved(chat0, chat1, Handled("server", "/chat.ChatService/Send", code));
  }
  EXPECT_EQ(refused, 1) << *error;
  EXPECT_EQ(Moved(chat0, chat1, Handled("server", "/chat.ChatService/Send", "OK")), 0);
}

TEST(MetricsE2eTest, MetricsEndpointsAnswerOnlyWhatTheyServe) {
  Stack stack;
  ASSERT_TRUE(stack.Start().ok());
  const int port = stack.chat_metrics_port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(Get(port, "/healthz").first, 200);
  EXPECT_EQ(Get(port, "/metrics?x=1").first, 200);
  EXPECT_EQ(Get(port, "/nope").first, 404);
  EXPECT_EQ(Get(port, "/metrics", http::verb::post).first, 405);
  // Kept alive: two scrapes on one connection.
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  for (int i = 0; i < 2; ++i) {
    http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_NE(res.body().find("chat_grpc_server_handled_total"), std::string::npos);
  }
}

// The gateway's request tags travel as gRPC metadata: the chat service's
// line for alice's Send names her and the gateway's request id, in JSON.
TEST(MetricsE2eTest, ServiceLogLinesCarryTheGatewaysUserAndRequestIds) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  ASSERT_TRUE(SetupLogging("test", "debug", "json").ok());
  {
    Stack stack;
    ASSERT_TRUE(stack.Start().ok());
    std::string ready;
    auto alice = stack.Identified("alice", &ready);
    ASSERT_TRUE(alice);
    alice->Send(
        R"({"type":"chat_message","server":"demo","channel":"general","message":"hi","id":"n1"})");
    ASSERT_TRUE(alice->NextOfType("ack"));
    const size_t at = ready.find("\"session_id\":\"");
    ASSERT_NE(at, std::string::npos);
    const std::string session = ready.substr(at + 14, ready.find('"', at + 14) - at - 14);
    spdlog::default_logger()->flush();
    bool found = false;
    for (absl::string_view line : absl::StrSplit(captured.str(), '\n')) {
      if (line.find(R"("event":"rpc","method":"/chat.ChatService/Send")") == line.npos) continue;
      EXPECT_NE(line.find(R"("code":"OK")"), line.npos) << line;
      EXPECT_NE(line.find(R"("user":"alice")"), line.npos) << line;
      EXPECT_NE(line.find(absl::StrCat(R"("request":")", session, ".")), line.npos) << line;
      found = true;
    }
    EXPECT_TRUE(found) << captured.str().substr(0, 4000);
  }
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(SetupLogging("test", "info", "text").ok());
}

}  // namespace
}  // namespace chat::testing
