// The gateway's limits on what arrives before and around a WebSocket, each
// probed with a raw TCP socket against a real stack: header, body and time
// limits on HTTP requests, a slowloris upgrade, connections per address
// counted from the moment they are accepted, frames before identify,
// concurrent identifies, and topics per session. After each, the gateway
// still serves other clients (docs/security.md, "Floods and exhaustion").
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/errors.h"
#include "proto/chat.grpc.pb.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

namespace cc = gateway::close_code;

// RawConnection is one blocking TCP connection to the gateway, written and
// read as bytes, with Nagle off so that each write leaves as its own segment.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConnection() { close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }

  // Write sends bytes; false once the gateway has closed the connection.
  bool Write(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // WriteInPieces sends bytes `piece` at a time, pausing `gap` between them.
  bool WriteInPieces(absl::string_view bytes, size_t piece, absl::Duration gap) {
    for (size_t i = 0; i < bytes.size(); i += piece) {
      if (!Write(bytes.substr(i, piece))) return false;
      absl::SleepFor(gap);
    }
    return true;
  }

  // Read returns what arrives until the gateway closes the connection or
  // nothing comes for `quiet`; *closed says which.
  std::string Read(absl::Duration quiet, bool* closed) {
    timeval tv = absl::ToTimeval(quiet);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      *closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      return out;
    }
  }

  // Status is the status code of the first response that arrives ("" when
  // none did within quiet).
  std::string Status(absl::Duration quiet = absl::Seconds(3)) {
    bool closed = false;
    const std::string response = Read(quiet, &closed);
    if (!absl::StartsWith(response, "HTTP/1.1 ")) return "";
    return response.substr(9, 3);
  }

 private:
  int fd_;
  bool connected_ = false;
};

class HttpLimitsE2eTest : public ::testing::Test {
 protected:
  void Start(std::function<void(gateway::GatewayOptions&)> tune = nullptr) {
    stack_ = std::make_unique<Stack>(1, std::move(tune));
    ASSERT_TRUE(stack_->Start().ok());
  }

  // Served: the gateway still answers a health check and identifies alice.
  void ExpectStillServing() {
    RawConnection health(stack_->gateway_port());
    ASSERT_TRUE(health.Write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(health.Status(), "200");
    EXPECT_NE(stack_->Identified("alice"), nullptr);
  }

  std::unique_ptr<Stack> stack_;
};

TEST_F(HttpLimitsE2eTest, OversizedHeadersGet431) {
  Start();
  RawConnection c(stack_->gateway_port());
  ASSERT_TRUE(c.connected());
  c.Write(absl::StrCat("GET /ws HTTP/1.1\r\nHost: x\r\nX-Padding: ", std::string(20000, 'a'),
                       "\r\n\r\n"));
  EXPECT_EQ(c.Status(), "431");
  ExpectStillServing();
}

TEST_F(HttpLimitsE2eTest, AnOversizedBodyGets413) {
  Start([](gateway::GatewayOptions& o) { o.dev_login = true; });
  RawConnection c(stack_->gateway_port());
  const std::string body(100 * 1024, 'x');
  c.Write(absl::StrCat("POST /api/dev/login HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(),
                       "\r\n\r\n", body));
  EXPECT_EQ(c.Status(), "413");
  ExpectStillServing();
}

TEST_F(HttpLimitsE2eTest, AMalformedRequestGets400) {
  Start();
  RawConnection c(stack_->gateway_port());
  c.Write("GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.Status(), "400");
  ExpectStillServing();
}

// Chunked bodies are refused before any of them is parsed: Beast 1.74's
// chunk parser asserts (an abort) on the trailer fuzz/http_upgrade_fuzzer
// found when that trailer is parsed in small pieces, and how TCP splits a
// request is up to the network. Here it is sent a byte at a time.
TEST_F(HttpLimitsE2eTest, ChunkedBodiesGet411AndTheFuzzersTrailerCannotCrash) {
  Start();
  std::ifstream in("fuzz/regressions/http_upgrade_fuzzer/beast-chunk-trailer-assert",
                   std::ios::binary);
  const std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(input.size(), 1u);
  {
    RawConnection c(stack_->gateway_port());
    c.WriteInPieces(input.substr(1), 1, absl::ZeroDuration());  // Its first byte is the piece size.
    EXPECT_EQ(c.Status(), "411");
  }
  RawConnection chunked(stack_->gateway_port());
  chunked.Write(
      "POST /api/dev/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.Status(), "411");
  ExpectStillServing();
}

// A request that trickles in is cut when --http_request_timeout_s has
// passed since it began, however steadily its bytes arrive.
TEST_F(HttpLimitsE2eTest, ASlowlorisUpgradeIsClosedAndOthersAreServed) {
  Start([](gateway::GatewayOptions& o) { o.http_request_timeout = absl::Seconds(1); });
  RawConnection slow(stack_->gateway_port());
  const absl::Time start = absl::Now();
  const std::string header =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "X-Slow: " +
      std::string(200, 'a');
  // 200 ms between bytes: 40 s to send; the gateway must cut it long before.
  const bool sent_all = slow.WriteInPieces(header, 1, absl::Milliseconds(200));
  EXPECT_FALSE(sent_all);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ExpectStillServing();
}

// Every accepted connection holds one of its address's slots, before any
// request arrives: idle TCP connections cannot exhaust the gateway either.
TEST_F(HttpLimitsE2eTest, ConnectionsPerAddressCountFromAccept) {
  Start([](gateway::GatewayOptions& o) { o.max_connections_per_address = 2; });
  auto first = std::make_unique<RawConnection>(stack_->gateway_port());
  RawConnection second(stack_->gateway_port());
  absl::SleepFor(absl::Milliseconds(200));  // Both accepted.
  RawConnection third(stack_->gateway_port());
  third.Write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(third.Status(), "429");
  first.reset();
  absl::SleepFor(absl::Milliseconds(300));  // The gateway sees it end.
  RawConnection fourth(stack_->gateway_port());
  fourth.Write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(fourth.Status(), "200");
}

// Before identify every frame is refused with not_identified; a flood of
// them spends the connection's frame budget and then its abuse budget.
TEST_F(HttpLimitsE2eTest, AFloodBeforeIdentifyIsClosedWith4008) {
  Start();
  WsClient flood;
  ASSERT_TRUE(flood.Connect(stack_->gateway_port(), "/ws").ok());
  for (int i = 0; i < 200; ++i) flood.Send(R"({"type":"typing","server":"demo","channel":"x"})");
  auto err = flood.NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "not_identified");
  EXPECT_EQ(flood.WaitClosed(), cc::kRateLimited);
  ExpectStillServing();
}

// A second identify while the first is in progress is refused; the first
// completes.
TEST_F(HttpLimitsE2eTest, ConcurrentIdentifiesAreRefused) {
  Start();
  WsClient c;
  ASSERT_TRUE(c.Connect(stack_->gateway_port(), "/ws").ok());
  const std::string identify =
      absl::StrCat(R"({"type":"identify","token":")", stack_->Token("alice"), R"("})");
  c.Send(identify);
  c.Send(identify);
  auto err = c.NextOfType("error");
  ASSERT_TRUE(err);
  EXPECT_EQ(JsonField(*err, "code"), "already_identified");
  EXPECT_TRUE(c.NextOfType("ready"));
}

// A user in more channels than one session may follow is closed with 4012
// at identify; a user with fewer is served.
TEST_F(HttpLimitsE2eTest, ASessionFollowsAtMostMaxTopics) {
  // alice follows her own topic, demo's two channels and demo's presence.
  Start([](gateway::GatewayOptions& o) { o.max_topics_per_session = 3; });
  WsClient alice;
  ASSERT_TRUE(alice.Connect(stack_->gateway_port(), "/ws").ok());
  alice.Send(absl::StrCat(R"({"type":"identify","token":")", stack_->Token("alice"), R"("})"));
  EXPECT_EQ(alice.WaitClosed(), cc::kTooManyTopics);
  // mallory belongs to no server: one topic.
  EXPECT_NE(stack_->Identified("mallory"), nullptr);
}

// The cap holds after identify too: a channel created in a server the
// session follows would take it past the limit, so it is closed with 4012.
TEST_F(HttpLimitsE2eTest, ANewChannelPastMaxTopicsClosesTheSession) {
  Start([](gateway::GatewayOptions& o) { o.max_topics_per_session = 4; });  // alice's four.
  auto alice = stack_->Identified("alice");
  ASSERT_NE(alice, nullptr);
  CreateChannelRequest req;
  req.set_server("demo");
  req.set_id("extra");
  req.set_name("extra");
  Channel out;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stack_->admin().CreateChannel(&ctx, req, &out).ok());
  EXPECT_EQ(alice->WaitClosed(), cc::kTooManyTopics);
}

}  // namespace
}  // namespace chat::testing
