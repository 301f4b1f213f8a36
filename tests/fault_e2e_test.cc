// Fault injection with real processes on loopback: while members send and
// receive steadily through real gateway processes, a gateway is killed with
// SIGKILL, a gateway is drained with SIGTERM, or Redis is killed with SIGKILL
// and restarted on its append-only file, or the Redis Cluster master that owns
// the channel is killed with SIGKILL (its replica takes over; the old master
// rejoins as a replica once it has, and the chat service acknowledges only
// what a replica has: --redis_min_replicas=1), or the channel's slot is
// migrated to another master while the traffic goes on. Clients do what the protocol asks of
// them (docs/protocol.md): reconnect to the other replica, resume from their
// cursors, resend unacknowledged messages with the same nonce. The test
// counts: every message acknowledged to its sender reaches every member
// exactly once, in seq order, and no nonce is stored twice.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/keys.h"
#include "common/redis_slot.h"
#include "tests/fault_clients.h"
#include "tests/harness.h"

namespace chat::testing {
namespace {

enum class Fault {
  kKillGateway,
  kDrainGateway,
  kKillRedis,
  kKillChatService,
  kKillRedisMaster,
  kReshardRedisCluster
};

// MoveSlot migrates slot from its master to another, key by key with a pause
// between keys, as `redis-cli --cluster reshard` does (IMPORTING and
// MIGRATING, MIGRATE of each key, then the new owner on every master): the
// traffic meets the slot mid-migration for as long as its keys take.
void MoveSlot(RedisTestCluster& cluster, int slot) {
  const int from = cluster.MasterOf(slot);
  std::vector<int> masters;
  int to = 0;
  for (size_t i = 0; i < cluster.size(); ++i) {
    const int port = cluster.node(i).port();
    absl::StatusOr<redis::Reply> role = CommandOn(port, {"ROLE"});
    if (!role.ok() || role->elements.empty() || role->elements[0].str != "master") continue;
    masters.push_back(port);
    if (port != from && to == 0) to = port;
  }
  ASSERT_NE(to, 0);
  auto id = [](int port) { return CommandOn(port, {"CLUSTER", "MYID"})->str; };
  const std::string s = std::to_string(slot);
  ASSERT_TRUE(CommandOn(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", id(from)}).ok());
  ASSERT_TRUE(CommandOn(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", id(to)}).ok());
  const absl::Time start = absl::Now();
  int keys_moved = 0;
  for (;; ++keys_moved) {
    absl::StatusOr<redis::Reply> keys = CommandOn(from, {"CLUSTER", "GETKEYSINSLOT", s, "1"});
    ASSERT_TRUE(keys.ok()) << keys.status();
    if (keys->elements.empty()) break;
    absl::StatusOr<redis::Reply> moved = CommandOn(
        from, {"MIGRATE", "127.0.0.1", std::to_string(to), keys->elements[0].str, "0", "5000"});
    ASSERT_TRUE(moved.ok()) << moved.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int port : masters) {
    ASSERT_TRUE(CommandOn(port, {"CLUSTER", "SETSLOT", s, "NODE", id(to)}).ok());
  }
  EXPECT_EQ(cluster.MasterOf(slot), to);
  std::cerr << "slot " << slot << " moved: " << keys_moved << " keys in "
            << absl::FormatDuration(absl::Now() - start) << "\n";
}

class FaultE2eTest : public ::testing::TestWithParam<Fault> {};

TEST_P(FaultE2eTest, NoAcknowledgedMessageIsLostOrDuplicated) {
  Stack stack(0);
  if (GetParam() == Fault::kKillRedisMaster || GetParam() == Fault::kReshardRedisCluster) {
    stack.UseRedisCluster(/*min_replicas=*/1);
  } else {
    stack.redis().set_appendonly(true);
  }
  ASSERT_TRUE(stack.Start().ok());
  // The cluster fault: the master of the channel's slot, and once its
  // replica has taken over, the killed node started again (it rejoins as a
  // replica, so the new master has one to confirm writes).
  const int slot = redis::KeySlot(keys::ChannelLog("demo", "general"));
  int killed = 0;
  bool rejoined = false;
  std::thread reshard;  // kReshardRedisCluster: the channel's slot, moved during the traffic.
  auto rejoin_after_failover = [&] {
    if (killed == 0 || rejoined) return;
    const int master = stack.redis_cluster()->MasterOf(slot);
    if (master == 0 || master == killed) return;
    ASSERT_TRUE(stack.redis_cluster()->NodeOn(killed)->Start().ok());
    rejoined = true;
  };
  // The gateways talk to a chat service process of their own, which the
  // chat-service fault kills and starts again on the same port.
  ChatProcess chat(stack, FreePort());
  const std::vector<std::string> fast = {"--chat_rate=1000", "--chat_burst=1000",
                                         "--frame_rate=1000", "--frame_burst=1000",
                                         absl::StrCat("--chat=127.0.0.1:", chat.port())};
  auto a = std::make_unique<GatewayProcess>(stack, fast);
  auto b = std::make_unique<GatewayProcess>(stack, fast);
  // Both start on gateway a, which the fault hits when it hits a gateway.
  Member alice(stack, "alice", {a->port(), b->port()});
  Member bob(stack, "bob", {a->port(), b->port()});
  // Generous: two sanitized gateways and a chat service start beside a
  // fresh cluster while other tests share the two cores.
  const absl::Time connect_deadline = absl::Now() + absl::Seconds(60);
  while (!(alice.connected() && bob.connected()) && absl::Now() < connect_deadline) {
    if (!alice.connected()) alice.Connect();
    if (!bob.connected()) bob.Connect();
    if (!(alice.connected() && bob.connected())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_TRUE(alice.connected() && bob.connected())
      << "alice:\n"
      << absl::StrJoin(alice.history(), "\n") << "\nbob:\n"
      << absl::StrJoin(bob.history(), "\n");

  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) {
    if (i == kMessages / 3) {
      switch (GetParam()) {
        case Fault::kKillGateway:
          a->Kill();
          break;
        case Fault::kDrainGateway:
          ASSERT_TRUE(a->Terminate(absl::Seconds(15)));
          break;
        case Fault::kKillRedis:
          stack.redis().Stop(/*hard=*/true);
          ASSERT_TRUE(stack.redis().Start().ok());
          break;
        case Fault::kKillChatService:
          chat.Kill();
          chat.Start();
          break;
        case Fault::kKillRedisMaster:
          killed = stack.redis_cluster()->MasterOf(slot);
          ASSERT_NE(killed, 0);
          stack.redis_cluster()->NodeOn(killed)->Stop(/*hard=*/true);
          break;
        case Fault::kReshardRedisCluster:
          reshard = std::thread([&] { MoveSlot(*stack.redis_cluster(), slot); });
          break;
      }
    }
    if (i % 10 == 0) rejoin_after_failover();
    alice.Send(absl::StrCat("f", i));
    alice.Pump(absl::Milliseconds(2));
    bob.Pump(absl::Milliseconds(2));
    if (i % 10 == 0) alice.ResendIfAsked();
    if (i % 10 == 5) bob.MarkRead();  // Personal events, through the same faults.
  }
  // Until every message is acknowledged and every member has all of them.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto done = [&] {
    return alice.pending() == 0 && alice.received().size() >= alice.acked().size() &&
           bob.received().size() >= alice.acked().size();
  };
  while (!done() && absl::Now() < deadline) {
    rejoin_after_failover();
    alice.ResendIfAsked();
    alice.Pump(absl::Milliseconds(50));
    bob.Pump(absl::Milliseconds(50));
  }
  if (reshard.joinable()) reshard.join();
  ASSERT_EQ(alice.pending(), 0u) << "messages never acknowledged";
  if (GetParam() == Fault::kKillRedisMaster) {
    EXPECT_TRUE(rejoined) << "the channel's master never failed over";
  }
  std::set<int64_t> acked_seqs;
  for (const auto& [nonce, seq] : alice.acked()) acked_seqs.insert(seq);
  EXPECT_EQ(alice.acked().size(), static_cast<size_t>(kMessages));
  EXPECT_EQ(acked_seqs.size(), alice.acked().size()) << "two nonces share a seq";
  EXPECT_EQ(alice.duplicated(), 0);
  for (const Member* m : {&alice, &bob}) {
    // Exactly once and in order: what arrived is the acknowledged seqs, sorted.
    const std::vector<int64_t> want(acked_seqs.begin(), acked_seqs.end());
    EXPECT_EQ(want, m->received()) << (m == &alice ? "alice" : "bob");
    if (want != m->received()) {
      // Which seqs differ, the nonce each carried and what its sender was told.
      std::map<std::string, int64_t> acks = alice.acked();
      std::set<int64_t> got(m->received().begin(), m->received().end());
      std::string diff;
      for (int64_t seq : got) {
        if (acked_seqs.count(seq) != 0) continue;
        const std::string& nonce = m->received_ids().at(seq);
        absl::StrAppend(&diff, "received, not acked: seq ", seq, " (", nonce, ", acked as ",
                        acks.count(nonce) != 0 ? std::to_string(acks[nonce]) : "nothing", ")\n");
      }
      for (int64_t seq : acked_seqs) {
        if (got.count(seq) == 0) absl::StrAppend(&diff, "acked, not received: seq ", seq, "\n");
      }
      ADD_FAILURE() << diff << "sockets:\n" << absl::StrJoin(m->history(), "\n");
    }
    if (!m->gaps().empty()) {
      const std::vector<int64_t>& r = m->received();
      const auto at = std::find(r.begin(), r.end(), m->gaps().front());
      std::string around;
      for (auto it = at - std::min<ptrdiff_t>(5, at - r.begin()); it != r.end() && it < at + 5;
           ++it) {
        absl::StrAppend(&around, *it, " ");
      }
      ADD_FAILURE() << "gap before seq " << m->gaps().front() << ", received: ... " << around
                    << "...";
    }
  }
  if (GetParam() == Fault::kKillGateway || GetParam() == Fault::kDrainGateway) {
    EXPECT_GE(bob.connects(), 2);  // Bob really moved to the other replica.
  }
  // Bob's personal stream: every read_state his marker's moves produced
  // reached him once, in user_seq order, up to the head of his log.
  EXPECT_FALSE(bob.personal_received().empty());
  EXPECT_TRUE(bob.personal_gaps().empty()) << "gap before user_seq " << bob.personal_gaps().front();
  WsClient probe;
  ASSERT_TRUE(probe.Connect(b->port(), "/ws").ok());
  probe.Send(absl::StrCat(R"({"type":"identify","token":")", stack.Token("bob"), R"("})"));
  auto ready = probe.NextOfType("ready");
  ASSERT_TRUE(ready);
  const int64_t head = std::stoll(JsonField(*ready, "user_seq"));
  for (absl::Time until = absl::Now() + absl::Seconds(5);
       bob.last_user_seq() < head && absl::Now() < until;) {
    bob.Pump(absl::Milliseconds(50));  // The last read_state may still be on its way.
  }
  EXPECT_EQ(bob.last_user_seq(), head) << "personal events missing at the end of the stream";
  EXPECT_TRUE(bob.personal_gaps().empty());
  std::cerr << "acked=" << alice.acked().size() << " bob_received=" << bob.received().size()
            << " bob_personal=" << bob.personal_received().size()
            << " bob_connects=" << bob.connects() << " alice_connects=" << alice.connects() << "\n";
}

// ReadyzStatus returns the HTTP status of GET /readyz on port, 0 when the
// gateway does not answer.
int ReadyzStatus(int port) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                 ec);
  if (ec) return 0;
  http::request<http::empty_body> req(http::verb::get, "/readyz", 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req, ec);
  if (ec) return 0;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  return ec ? 0 : static_cast<int>(res.result_int());
}

TEST(GatewayStartTest, AGatewayStartedBeforeItsChatServiceIsReadySoonAfterIt) {
  // gRPC's default reconnect backoff grows 1 s, 1.6 s, 2.6 s, 4.1 s...: a
  // gateway that came up before its chat service stayed unready for seconds
  // after the service was up (about 15 s in the local launcher).
  Stack stack(0);
  ASSERT_TRUE(stack.Start().ok());
  const int chat_port = FreePort();
  GatewayProcess gateway(
      stack, {absl::StrCat("--chat=127.0.0.1:", chat_port), "--presence=", "--invite="});
  // The chat service comes up 5.5 s later (time passing is the scenario).
  std::this_thread::sleep_for(std::chrono::milliseconds(5500));
  EXPECT_NE(ReadyzStatus(gateway.port()), 200);
  chat_service::ChatServerOptions o;
  o.listen = absl::StrCat("127.0.0.1:", chat_port);
  o.redis = {"127.0.0.1", stack.redis().port()};
  chat_service::ChatServer chat(o);
  ASSERT_TRUE(chat.Start().ok());
  const absl::Time start = absl::Now();
  bool ready = false;
  while (!ready && absl::Now() - start < absl::Milliseconds(2500)) {
    ready = ReadyzStatus(gateway.port()) == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(ready) << "not ready 2.5 s after the chat service came up";
  std::cerr << "ready " << absl::FormatDuration(absl::Now() - start)
            << " after the chat service came up\n";
  chat.Shutdown(absl::ZeroDuration());
}

// Blackhole is a TCP proxy to 127.0.0.1:target() that can make its current
// connections silent: they stay open, but nothing gets through any more, as
// with a peer or middlebox that stopped forwarding without a reset. New
// connections work.
class Blackhole {
 public:
  explicit Blackhole(std::function<int()> target) : target_(std::move(target)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "proxy cannot listen";
    }
    port_ = ntohs(addr.sin_port);
    threads_.emplace_back([this] { Accept(); });
  }
  ~Blackhole() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : threads_) t.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }
  int port() const { return port_; }
  // SilenceExisting makes every connection made so far silent.
  void SilenceExisting() { silent_below_ = generation_.load(); }

 private:
  void Accept() {
    while (!stopping_) {
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_()));
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(client);
        close(server);
        continue;
      }
      const int generation = ++generation_;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(client);
      fds_.push_back(server);
      threads_.emplace_back([=] { Pump(client, server, generation); });
      threads_.emplace_back([=] { Pump(server, client, generation); });
    }
  }
  void Pump(int from, int to, int generation) {
    char buf[16384];
    for (;;) {
      ssize_t n = read(from, buf, sizeof(buf));
      if (n <= 0) break;
      if (generation <= silent_below_) continue;  // Swallowed.
      if (write(to, buf, static_cast<size_t>(n)) != n) break;
    }
    shutdown(to, SHUT_RDWR);
  }

  std::function<int()> target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> generation_{0}, silent_below_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

TEST(CanaryTest, ASilentlyDeadSubscriptionIsNoticedRestartedAndItsGapFilled) {
  std::unique_ptr<Stack> stack;
  Blackhole proxy([&] { return stack->redis().port(); });
  stack = std::make_unique<Stack>(1, [&](gateway::GatewayOptions& o) {
    o.redis.port = proxy.port();  // Pub/sub and the canary go through the proxy.
    o.canary_interval = absl::Milliseconds(100);
  });
  ASSERT_TRUE(stack->Start().ok());
  auto alice = stack->Identified("alice");
  auto bob = stack->Identified("bob");
  ASSERT_TRUE(alice && bob);
  alice->Send(ChatFrame("before", "c0"));
  ASSERT_TRUE(alice->NextOfType("ack"));
  auto first = bob->NextOfType("chat_message");
  ASSERT_TRUE(first);
  const int64_t seq0 = std::stoll(JsonField(*first, "seq"));
  auto await = [&](bool want, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (stack->gateway().Ready() != want && absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return stack->gateway().Ready() == want;
  };
  ASSERT_TRUE(await(true, absl::Seconds(3)));
  proxy.SilenceExisting();
  // Stored and acknowledged (the chat service reaches Redis directly), but
  // the gateway's subscription hears nothing and its connection looks fine.
  for (int i = 1; i <= 3; ++i) alice->Send(ChatFrame("during", absl::StrCat("c", i)));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(alice->NextOfType("ack"));
  EXPECT_TRUE(await(false, absl::Seconds(3))) << "/readyz stayed green on a dead subscription";
  EXPECT_TRUE(await(true, absl::Seconds(5))) << "the delivery path was not restarted";
  for (int i = 1; i <= 3; ++i) {
    auto m = bob->NextOfType("chat_message");
    ASSERT_TRUE(m) << "message " << i << " of the silent period never arrived";
    EXPECT_EQ(std::stoll(JsonField(*m, "seq")), seq0 + i);
  }
  EXPECT_GE(stack->gateway().metrics().canary_failures.load(), 1u);
  alice.reset();
  bob.reset();
  stack.reset();  // Before the proxy it goes through.
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultE2eTest,
                         ::testing::Values(Fault::kKillGateway, Fault::kDrainGateway,
                                           Fault::kKillRedis, Fault::kKillChatService,
                                           Fault::kKillRedisMaster, Fault::kReshardRedisCluster),
                         [](const ::testing::TestParamInfo<Fault>& info) {
                           switch (info.param) {
                             case Fault::kKillGateway:
                               return std::string("KillGateway");
                             case Fault::kDrainGateway:
                               return std::string("DrainGateway");
                             case Fault::kKillRedis:
                               return std::string("KillRedisRestartOnAof");
                             case Fault::kKillChatService:
                               return std::string("KillChatServiceAndRestart");
                             case Fault::kKillRedisMaster:
                               return std::string("KillRedisClusterMasterWithMinReplicas");
                             case Fault::kReshardRedisCluster:
                               return std::string("MoveTheChannelsSlotDuringTraffic");
                           }
                           return std::string();
                         });

// OpenAs connects to a gateway process and identifies; null if it does not
// answer with ready.
std::unique_ptr<WsClient> OpenAs(Stack& stack, int port, const std::string& user) {
  auto ws = std::make_unique<WsClient>();
  if (!ws->Connect(port, "/ws").ok()) return nullptr;
  ws->Send(absl::StrCat(R"({"type":"identify","token":")", stack.Token(user), R"("})"));
  if (!ws->NextOfType("ready", absl::Seconds(3))) return nullptr;
  return ws;
}

// SendUntilAcked sends one message, resending it under the same nonce after
// an error (Redis or the chat service restarting), and returns its seq (0
// when no ack came within 15 s).
int64_t SendUntilAcked(WsClient& ws, const std::string& nonce) {
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline) {
    ws.Send(ChatFrame("m", nonce));
    const absl::Time wait_until = absl::Now() + absl::Seconds(2);
    while (absl::Now() < wait_until) {
      auto f = ws.Next(absl::Milliseconds(200));
      if (!f) continue;
      const std::string type = JsonField(*f, "type");
      if (type == "ack" && JsonField(*f, "id") == nonce) return std::stoll(JsonField(*f, "seq"));
      if (type == "error") break;  // unavailable: resend.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

// Redis restarted on an append-only file that lost its last writes (copied
// back from before them), and the chat service restarted with it, so only
// the gateways remember the seqs handed out: the next messages get seqs
// above them, reach every member, and the loss is announced.
TEST(RollbackTest, SeqsLostByRedisAreNeverReusedAndTheLossIsAnnounced) {
  Stack stack(0);
  stack.redis().set_appendonly(true);
  ASSERT_TRUE(stack.Start().ok());
  ChatProcess chat(stack, FreePort());
  const std::vector<std::string> flags = {"--chat_rate=1000", "--chat_burst=1000",
                                          absl::StrCat("--chat=127.0.0.1:", chat.port())};
  GatewayProcess a(stack, flags), b(stack, flags);
  std::unique_ptr<WsClient> alice, bob;
  for (int i = 0; i < 100 && !(alice && bob); ++i) {
    if (!alice) alice = OpenAs(stack, a.port(), "alice");
    if (!bob) bob = OpenAs(stack, b.port(), "bob");
    if (!(alice && bob)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(alice && bob);
  auto bob_receives = [&](int64_t seq) {
    for (;;) {
      auto m = bob->NextOfType("chat_message", absl::Seconds(5));
      if (!m) return false;
      if (std::stoll(JsonField(*m, "seq")) == seq) return true;
    }
  };
  std::vector<int64_t> acked;
  for (int i = 0; i < 10; ++i) acked.push_back(SendUntilAcked(*alice, absl::StrCat("k", i)));
  ASSERT_TRUE(bob_receives(acked.back()));
  const std::string aof = stack.redis().dir() + "/appendonlydir";
  const std::string saved = stack.redis().dir() + "/saved";
  ASSERT_EQ(std::system(absl::StrCat("cp -r '", aof, "' '", saved, "'").c_str()), 0);
  for (int i = 10; i < 20; ++i) acked.push_back(SendUntilAcked(*alice, absl::StrCat("k", i)));
  ASSERT_TRUE(bob_receives(acked.back()));
  const int64_t high = acked.back();

  stack.redis().Stop(/*hard=*/true);
  chat.Kill();
  ASSERT_EQ(std::system(absl::StrCat("rm -rf '", aof, "' && mv '", saved, "' '", aof, "'").c_str()),
            0);
  ASSERT_TRUE(stack.redis().Start().ok());
  chat.Start();
  for (int i = 0; i < 5; ++i) {
    const int64_t seq = SendUntilAcked(*alice, absl::StrCat("after", i));
    ASSERT_GT(seq, high) << "a seq handed out before the rollback was reused";
    EXPECT_TRUE(bob_receives(seq)) << "seq " << seq << " never reached bob";
  }
  auto resync = bob->NextOfType("resync_required", absl::Seconds(5));
  ASSERT_TRUE(resync);
  EXPECT_EQ(JsonField(*resync, "reason"), "rolled_back");
  EXPECT_EQ(JsonField(*resync, "scope"), "channel");
  EXPECT_EQ(JsonField(*resync, "from_seq"), std::to_string(acked[10]));
  EXPECT_EQ(JsonField(*resync, "to_seq"), std::to_string(high));
}

}  // namespace
}  // namespace chat::testing
