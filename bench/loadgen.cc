// loadgen: a WebSocket load generator for the gateway's chat fan-out.
//
// It connects --members identified clients to one channel; the first
// --senders of them send chat messages (at --rate each per second, or as fast
// as --window unacknowledged messages allow when --rate=0) for --duration_s.
// Every member counts the deliveries it receives and their latency (each
// message carries its send time; sender and receivers share this process's
// clock). Prints one line of results.
//
// --endpoint=seed drives the seed-compatible endpoint instead
// (/ws/chat/<server>/<channel>/?token=, the seed's frames; bench/peers serve
// the same), so ours and the peers get the same load: with no acks there, a
// sender's own copy of its message counts as its ack, and every message sent
// must reach every member. --pids names the server processes whose CPU time
// (from /proc) is reported per delivery, beside the load generator's own.
//
// With --servers=K the members are spread over K servers (<server>-0 ..
// <server>-(K-1), member i in server i % K), each with one channel
// (--channel): many channels of a few members each, as a chat app has.
// Senders send to their own server's channel, and every acknowledged message
// must reach that server's members. --gateways spreads the members over
// several gateways (member i on gateway i % G). --admin creates the servers,
// channels, users and memberships first, through the chat service's
// ChatAdmin API (idempotent).
//
// Otherwise the members must exist and belong to --server (bench/run creates
// them).
#include <grpcpp/create_channel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "gateway/auth.h"
#include "proto/chat.grpc.pb.h"

ABSL_FLAG(std::string, gateway, "127.0.0.1:8080", "gateway host:port");
ABSL_FLAG(std::string, secret, chat::EnvOr("CHAT_JWT_SECRET", ""), "JWT secret");
ABSL_FLAG(std::string, user_prefix, "bench", "members are <prefix>-0 .. <prefix>-(N-1)");
ABSL_FLAG(std::string, server, "bench", "server id");
ABSL_FLAG(std::string, channel, "load", "channel id");
ABSL_FLAG(int32_t, members, 100, "connected members of the channel");
ABSL_FLAG(int32_t, senders, 10, "how many of the members send");
ABSL_FLAG(double, rate, 50, "messages per second per sender; 0 = as fast as --window allows");
ABSL_FLAG(int32_t, window, 64, "unacknowledged messages per sender when --rate=0");
ABSL_FLAG(int32_t, duration_s, 10, "seconds of sending");
ABSL_FLAG(int32_t, size, 100, "approximate message text size in bytes");
ABSL_FLAG(std::string, endpoint, "native",
          "native: /ws with identify and acks; seed: /ws/chat/<server>/<channel>/?token=");
ABSL_FLAG(std::string, pids, "", "comma-separated server process ids whose CPU time to report");
ABSL_FLAG(std::string, gateways, "",
          "comma-separated gateways host:port; member i connects to the (i mod N)-th (empty: "
          "--gateway)");
ABSL_FLAG(int32_t, servers, 0,
          "spread the members over this many servers <server>-<k>, one channel each (0: all "
          "in --server)");
ABSL_FLAG(std::string, admin, "",
          "chat service host:port: create the users, servers, channels and memberships first");
ABSL_FLAG(int32_t, drain_s, 2,
          "seconds to keep receiving after sending stops; what has not arrived by then counts "
          "as lost");
ABSL_FLAG(int32_t, hold_s, 0,
          "idle mode: identify every member, print \"ready N\", hold the connections this long "
          "without sending, exit");

namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using Clock = std::chrono::steady_clock;

// RunId makes nonces unique per run: the chat service de-duplicates a nonce
// for minutes, so a rerun must not reuse the previous run's ids.
const std::string& RunId() {
  static const std::string id = absl::StrCat(
      getpid(), "x", std::chrono::system_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

bool SeedMode() { return absl::GetFlag(FLAGS_endpoint) == "seed"; }

// CpuSeconds is the user + system CPU time of process pid so far (0 if gone).
double CpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
  double utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) {
    return 0;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Stats {
  int64_t sent = 0, acked = 0, errors = 0, delivered = 0;
  std::vector<int64_t> latency_us;      // Sampled deliveries.
  std::vector<int64_t> ack_latency_us;  // Every ack: send to ack (native endpoint).
  bool sending = true;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(net::io_context& ioc, Stats* stats, int index, bool sender, std::string server)
      : ws_(ioc),
        timer_(ioc),
        stats_(stats),
        index_(index),
        sender_(sender),
        server_(std::move(server)) {}

  int64_t acked() const { return acked_; }
  const std::string& server() const { return server_; }

  void Start(const std::string& host, const std::string& port, const std::string& token,
             std::function<void()> on_ready) {
    on_ready_ = std::move(on_ready);
    net::ip::tcp::resolver resolver(ws_.get_executor());
    auto results = resolver.resolve(host, port);
    beast::get_lowest_layer(ws_).connect(*results.begin());
    beast::get_lowest_layer(ws_).socket().set_option(net::ip::tcp::no_delay(true));
    ws_.text(true);
    if (SeedMode()) {
      // The seed endpoint authenticates from the URL and sends nothing
      // until traffic: the caller waits a moment before sending.
      ws_.handshake(host, absl::StrCat("/ws/chat/", server_, "/", absl::GetFlag(FLAGS_channel),
                                       "/?token=", token));
      DoRead();
      if (on_ready_) on_ready_();
      return;
    }
    ws_.handshake(host, "/ws");
    Write(absl::StrCat(R"({"type":"identify","token":")", token, R"("})"));
    DoRead();
  }

  void StartSending() {
    if (!sender_) return;
    if (absl::GetFlag(FLAGS_rate) > 0) {
      // Senders are spread evenly over one period, as independent users
      // would be, instead of all firing on the same tick.
      auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / absl::GetFlag(FLAGS_rate)));
      next_ = Clock::now() + period * index_ / absl::GetFlag(FLAGS_senders);
      timer_.expires_at(next_);
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Tick();
      });
    } else {
      for (int i = 0; i < absl::GetFlag(FLAGS_window); ++i) SendOne();
    }
  }

 private:
  void Tick() {
    if (!stats_->sending) return;
    SendOne();
    auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / absl::GetFlag(FLAGS_rate)));
    next_ += period;
    timer_.expires_at(next_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void SendOne() {
    if (!stats_->sending) return;
    std::string stamp = absl::StrCat("t", NowNs(), "x");
    int pad = std::max(0, absl::GetFlag(FLAGS_size) - static_cast<int>(stamp.size()));
    Write(absl::StrCat(R"({"type":"chat_message","server":")", server_, R"(","channel":")",
                       absl::GetFlag(FLAGS_channel), R"(","message":")", stamp,
                       std::string(pad, '.'), R"(","id":")", MyIdPrefix(), seq_, R"("})"));
    if (!SeedMode()) sent_ns_[seq_] = NowNs();
    ++seq_;
    ++stats_->sent;
  }

  // MyIdPrefix starts the id of each message this client sends.
  const std::string& MyIdPrefix() {
    if (id_prefix_.empty()) id_prefix_ = absl::StrCat(RunId(), "-", index_, "-");
    return id_prefix_;
  }

  void Write(std::string frame) {
    queue_.push_back(std::move(frame));
    if (queue_.size() == 1) DoWrite();
  }
  void DoWrite() {
    ws_.async_write(net::buffer(queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) return;
                      self->queue_.pop_front();
                      if (!self->queue_.empty()) self->DoWrite();
                    });
  }

  void DoRead() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      self->OnFrame(beast::buffers_to_string(self->buffer_.data()));
      self->buffer_.consume(self->buffer_.size());
      self->DoRead();
    });
  }

  void OnFrame(const std::string& f) {
    // Only the type and the stamp matter: cheap string probes, no JSON parse.
    if (f.find(R"("type":"chat_message")") != std::string::npos &&
        f.find(R"("type":"chat_message")") < 16) {
      ++stats_->delivered;
      // The seed endpoints have no acks: a sender's own copy stands for one.
      if (SeedMode() && sender_ &&
          f.find(absl::StrCat(R"("id":")", MyIdPrefix())) != std::string::npos) {
        ++stats_->acked;
        ++acked_;
        if (absl::GetFlag(FLAGS_rate) <= 0) SendOne();
      }
      size_t t = f.find(R"("message":"t)");
      int64_t sent_ns = 0;
      if (t != std::string::npos) {
        size_t end = f.find('x', t + 12);
        (void)absl::SimpleAtoi(f.substr(t + 12, end - t - 12), &sent_ns);
      }
      if (sent_ns > 0 && (stats_->delivered % 7 == 0 || stats_->latency_us.size() < 1000)) {
        stats_->latency_us.push_back((NowNs() - sent_ns) / 1000);
      }
    } else if (f.find(R"("type":"ack")") == 1) {
      ++stats_->acked;
      ++acked_;
      const std::string id = absl::StrCat(R"("id":")", MyIdPrefix());
      if (size_t at = f.find(id); at != std::string::npos) {
        int64_t n = 0;
        const size_t from = at + id.size();
        if (absl::SimpleAtoi(f.substr(from, f.find('"', from) - from), &n)) {
          if (auto it = sent_ns_.find(n); it != sent_ns_.end()) {
            stats_->ack_latency_us.push_back((NowNs() - it->second) / 1000);
            sent_ns_.erase(it);
          }
        }
      }
      if (absl::GetFlag(FLAGS_rate) <= 0) SendOne();
    } else if (f.find(R"("type":"ready")") == 1) {
      if (on_ready_) on_ready_();
    } else if (f.find(R"("type":"error")") == 1) {
      ++stats_->errors;
      if (stats_->errors < 5) std::fprintf(stderr, "error frame: %s\n", f.c_str());
      if (absl::GetFlag(FLAGS_rate) <= 0) SendOne();
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  Stats* stats_;
  int index_;
  bool sender_;
  std::string server_;
  int64_t acked_ = 0;
  int64_t seq_ = 0;
  absl::flat_hash_map<int64_t, int64_t> sent_ns_;  // Unacknowledged: seq_ -> send time.
  std::string id_prefix_;
  Clock::time_point next_{};
  std::function<void()> on_ready_;
};

// ServerOf names member i's server.
std::string ServerOf(int i) {
  const int servers = absl::GetFlag(FLAGS_servers);
  if (servers <= 0) return absl::GetFlag(FLAGS_server);
  return absl::StrCat(absl::GetFlag(FLAGS_server), "-", i % servers);
}

// Setup creates what the members need through ChatAdmin; false on a failed call.
bool Setup(const std::string& target, int members) {
  auto admin =
      chat::ChatAdmin::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto ok = [](const grpc::Status& s, const std::string& what) {
    if (!s.ok()) std::fprintf(stderr, "setup: %s: %s\n", what.c_str(), s.error_message().c_str());
    return s.ok();
  };
  const int servers = std::max(1, absl::GetFlag(FLAGS_servers));
  for (int k = 0; k < servers; ++k) {
    const std::string id = ServerOf(k);
    grpc::ClientContext c1, c2;
    chat::CreateServerRequest cs;
    cs.set_id(id);
    cs.set_name(id);
    chat::Server server;
    if (!ok(admin->CreateServer(&c1, cs, &server), "create server " + id)) return false;
    chat::CreateChannelRequest cc;
    cc.set_server(id);
    cc.set_id(absl::GetFlag(FLAGS_channel));
    cc.set_name(absl::GetFlag(FLAGS_channel));
    chat::Channel channel;
    if (!ok(admin->CreateChannel(&c2, cc, &channel), "create channel in " + id)) return false;
  }
  for (int i = 0; i < members; ++i) {
    grpc::ClientContext c1, c2;
    chat::User u, out;
    u.set_id(absl::StrCat(absl::GetFlag(FLAGS_user_prefix), "-", i));
    u.set_name(u.id());
    if (!ok(admin->UpsertUser(&c1, u, &out), "upsert " + u.id())) return false;
    chat::AddMemberRequest am;
    am.set_server(ServerOf(i));
    am.set_user_id(u.id());
    chat::AddMemberResponse added;
    if (!ok(admin->AddMember(&c2, am, &added), "add " + u.id())) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string gateway_list = absl::GetFlag(FLAGS_gateways).empty()
                                       ? absl::GetFlag(FLAGS_gateway)
                                       : absl::GetFlag(FLAGS_gateways);
  auto targets = chat::ParseHostPorts(gateway_list);
  if (!targets.ok() || absl::GetFlag(FLAGS_secret).empty()) {
    std::fprintf(stderr, "need --gateway=host:port and --secret (or CHAT_JWT_SECRET)\n");
    return 2;
  }
  chat::gateway::TokenVerifier minter(absl::GetFlag(FLAGS_secret));
  net::io_context ioc;
  Stats stats;
  const int members = absl::GetFlag(FLAGS_members);
  const int senders = std::min(absl::GetFlag(FLAGS_senders), members);
  if (!absl::GetFlag(FLAGS_admin).empty() && !Setup(absl::GetFlag(FLAGS_admin), members)) return 1;
  std::vector<std::shared_ptr<Client>> clients;
  absl::flat_hash_map<std::string, int64_t> server_members;
  int ready = 0;
  for (int i = 0; i < members; ++i) {
    chat::User u;
    u.set_id(absl::StrCat(absl::GetFlag(FLAGS_user_prefix), "-", i));
    u.set_name(u.id());
    auto c = std::make_shared<Client>(ioc, &stats, i, i < senders, ServerOf(i));
    const chat::HostPort& target = (*targets)[i % targets->size()];
    c->Start(target.host, std::to_string(target.port), *minter.Mint(u, absl::Hours(1)),
             [&ready] { ++ready; });
    ++server_members[c->server()];
    clients.push_back(c);
  }
  // Identify everyone, then send for the duration, then drain for --drain_s.
  while (ready < members) ioc.run_one();
  // The seed endpoint gives no ready frame: let authentication and the
  // channel subscriptions settle.
  if (SeedMode()) ioc.run_for(std::chrono::seconds(2));
  if (absl::GetFlag(FLAGS_hold_s) > 0) {
    std::printf("ready %d\n", members);
    std::fflush(stdout);
    ioc.run_for(std::chrono::seconds(absl::GetFlag(FLAGS_hold_s)));
    return 0;
  }
  stats.latency_us.reserve(1 << 20);
  std::vector<int> pids;
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_pids), ',', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(p, &pid)) pids.push_back(pid);
  }
  auto server_cpu = [&pids] {
    double total = 0;
    for (int pid : pids) total += CpuSeconds(pid);
    return total;
  };
  const double server_cpu0 = server_cpu(), self_cpu0 = SelfCpuSeconds();
  auto start = Clock::now();
  for (auto& c : clients) c->StartSending();
  ioc.run_until(start + std::chrono::seconds(absl::GetFlag(FLAGS_duration_s)));
  stats.sending = false;
  const double send_s = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t delivered_while_sending = stats.delivered;
  ioc.run_until(Clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_drain_s)));
  const double server_cpu_s = server_cpu() - server_cpu0;
  const double self_cpu_s = SelfCpuSeconds() - self_cpu0;
  std::sort(stats.latency_us.begin(), stats.latency_us.end());
  std::sort(stats.ack_latency_us.begin(), stats.ack_latency_us.end());
  auto pct_of = [](const std::vector<int64_t>& us, double p) -> double {
    if (us.empty()) return 0;
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))] / 1000.0;
  };
  auto pct = [&](double p) { return pct_of(stats.latency_us, p); };
  // Every acknowledged message must reach every member of its server; on
  // the seed endpoint, with no acks, every message sent.
  int64_t expected = 0;
  if (SeedMode()) {
    expected = stats.sent * members;
  } else {
    for (const auto& c : clients) expected += c->acked() * server_members[c->server()];
  }
  const double per_delivery = stats.delivered > 0 ? 1e6 / static_cast<double>(stats.delivered) : 0;
  std::printf(
      "members=%d senders=%d channels=%d offered_msgs_per_s=%.0f accepted_msgs_per_s=%.0f "
      "deliveries_per_s=%.0f expected_deliveries=%lld delivered=%lld lost=%lld errors=%lld "
      "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f server_cpu_s=%.2f server_cpu_us_per_delivery=%.2f "
      "loadgen_cpu_us_per_delivery=%.2f ack_p50_ms=%.2f ack_p99_ms=%.2f\n",
      members, senders, static_cast<int>(server_members.size()), stats.sent / send_s,
      stats.acked / send_s, delivered_while_sending / send_s, static_cast<long long>(expected),
      static_cast<long long>(stats.delivered),
      static_cast<long long>(std::max<int64_t>(0, expected - stats.delivered)),
      static_cast<long long>(stats.errors), pct(0.50), pct(0.99),
      stats.latency_us.empty() ? 0.0 : stats.latency_us.back() / 1000.0, server_cpu_s,
      server_cpu_s * per_delivery, self_cpu_s * per_delivery, pct_of(stats.ack_latency_us, 0.50),
      pct_of(stats.ack_latency_us, 0.99));
  return 0;
}
