#include "common/redis_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/redis_slot.h"

namespace chat::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return bound ? ntohs(addr.sin_port) : 0;
}

namespace {

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Spawn starts args[0] (found on PATH, else in /usr/bin) with args, its
// standard output discarded; returns its pid, or -1.
pid_t Spawn(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string fallback = "/usr/bin/" + args[0];
  const pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", 1);
    dup2(devnull, 1);
    execvp(argv[0], argv.data());
    execv(fallback.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

RedisTestServer::~RedisTestServer() {
  Stop(/*hard=*/true);
  if (!dir_.empty()) {
    std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
    (void)!system(cmd.c_str());
  }
}

absl::StatusOr<redis::Reply> CommandOn(int port, const std::vector<std::string>& args) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err) {
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError("cannot connect");
  }
  std::vector<const char*> argv;
  std::vector<size_t> len;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    len.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), len.data()));
  absl::StatusOr<redis::Reply> out = redis::ConvertReply(r);
  if (r != nullptr) freeReplyObject(r);
  redisFree(c);
  return out;
}

absl::Status RedisTestServer::Start() {
  // A first start may lose its free port to another process in between:
  // then it tries another. A restart must keep its port for the clients.
  const bool restart = port_ != 0;
  absl::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (!restart) port_ = FreePort();
    status = TryStart();
    if (status.ok() || restart) return status;
  }
  return status;
}

absl::Status RedisTestServer::TryStart() {
  if (dir_.empty()) {
    char tmpl[] = "/tmp/redis-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
    dir_ = tmpl;
  }
  std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly",
                                   appendonly_ ? "yes" : "no", "--appendfsync", "always", "--dir",
                                   dir_, "--daemonize", "no",
                                   // A replica's first sync starts at once, not
                                   // after the default 5 s wait for others.
                                   "--repl-diskless-sync-delay", "0"};
  if (cluster_ || cluster_member_) {
    for (const char* arg : {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}) {
      args.emplace_back(arg);
    }
    // The bus port defaults to port + 10000, which does not exist for a free
    // port above 55535: pick one, and keep it across restarts.
    if (bus_port_ == 0) bus_port_ = FreePort();
    args.emplace_back("--cluster-port");
    args.push_back(std::to_string(bus_port_));
    // A killed master's replica takes over some 2 s later (15 s by default).
    args.emplace_back("--cluster-node-timeout");
    args.emplace_back("2000");
  }
  if (master_port_ != 0) {
    for (std::string arg :
         {std::string("--replicaof"), std::string("127.0.0.1"), std::to_string(master_port_)}) {
      args.push_back(std::move(arg));
    }
  }
  pid_ = Spawn(std::move(args));
  // Wait for readiness: poll the port, bounded to ~10 s.
  for (int i = 0; i < 1000; ++i) {
    if (CanConnect(port_)) {
      if (cluster_) return AwaitClusterOk();
      return master_port_ != 0 ? AwaitReplicaLinked() : absl::OkStatus();
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError("redis-server exited at start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::UnavailableError("redis-server did not start");
}

absl::Status RedisTestServer::AwaitClusterOk() {
  redisContext* c = redisConnect("127.0.0.1", port_);
  if (c == nullptr || c->err) {
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError("cannot connect to the cluster node");
  }
  // A restarted node keeps its slots in nodes.conf; a new one is given all.
  if (auto* r = static_cast<redisReply*>(
          redisCommand(c, "CLUSTER ADDSLOTSRANGE 0 %d", redis::kClusterSlots - 1))) {
    freeReplyObject(r);
  }
  absl::Status status = absl::UnavailableError("the one-node cluster never became ok");
  for (int i = 0; i < 1000 && !status.ok(); ++i) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "CLUSTER INFO"));
    if (r != nullptr && r->type == REDIS_REPLY_STRING &&
        absl::string_view(r->str, r->len).find("cluster_state:ok") != absl::string_view::npos) {
      status = absl::OkStatus();
    }
    if (r != nullptr) freeReplyObject(r);
    if (!status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  redisFree(c);
  return status;
}

absl::Status RedisTestServer::AwaitReplicaLinked() {
  // Linked means a write on the master reaches this replica and WAIT counts
  // it. The master streams to a new replica only after its first REPLCONF
  // ACK, up to a second after the sync, and until then shows it with an
  // acknowledged offset of 0 (a WAIT may still succeed in that window, so it
  // is not enough alone). The probe key is deleted after.
  redisContext* c = redisConnect("127.0.0.1", master_port_);
  if (c == nullptr || c->err) {
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError("cannot connect to the master");
  }
  absl::Status status = absl::UnavailableError("the replica never confirmed a write");
  for (int i = 0; i < 300 && !status.ok() && c->err == 0; ++i) {
    redisAppendCommand(c, "INCR chatsuite-test:replica-sync");
    redisAppendCommand(c, "WAIT 1 100");
    redisReply* wrote = nullptr;
    redisReply* waited = nullptr;
    if (redisGetReply(c, reinterpret_cast<void**>(&wrote)) == REDIS_OK &&
        redisGetReply(c, reinterpret_cast<void**>(&waited)) == REDIS_OK && waited != nullptr &&
        waited->type == REDIS_REPLY_INTEGER && waited->integer >= 1) {
      auto* info = static_cast<redisReply*>(redisCommand(c, "INFO replication"));
      if (info != nullptr && info->type == REDIS_REPLY_STRING) {
        const absl::string_view text(info->str, info->len);
        const std::string mine = absl::StrCat("port=", port_, ",state=online,offset=");
        const size_t at = text.find(mine);
        int64_t acked = 0;
        if (at != absl::string_view::npos) {
          const absl::string_view rest = text.substr(at + mine.size());
          (void)absl::SimpleAtoi(rest.substr(0, rest.find(',')), &acked);
        }
        if (acked > 0) status = absl::OkStatus();
      }
      if (info != nullptr) freeReplyObject(info);
      if (!status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (wrote != nullptr) freeReplyObject(wrote);
    if (waited != nullptr) freeReplyObject(waited);
  }
  if (auto* r = static_cast<redisReply*>(redisCommand(c, "DEL chatsuite-test:replica-sync"))) {
    freeReplyObject(r);
  }
  redisFree(c);
  return status;
}

void RedisTestServer::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void RedisTestServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

void RedisTestServer::Stop(bool hard) {
  if (pid_ <= 0) return;
  kill(pid_, hard ? SIGKILL : SIGTERM);
  kill(pid_, SIGCONT);  // A paused server acts on SIGTERM only once continued.
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

RedisTestCluster::RedisTestCluster(int masters, int replicas_per_master)
    : masters_(masters), replicas_per_master_(replicas_per_master) {}

absl::Status RedisTestCluster::Start() {
  const int n = masters_ * (1 + replicas_per_master_);
  std::vector<std::string> args = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < n; ++i) {
    auto node = std::make_unique<RedisTestServer>();
    node->set_cluster_member(true);
    if (absl::Status s = node->Start(); !s.ok()) return s;
    args.push_back(absl::StrCat("127.0.0.1:", node->port()));
    nodes_.push_back(std::move(node));
  }
  for (const char* arg : {"--cluster-replicas", "", "--cluster-yes"}) args.emplace_back(arg);
  args[args.size() - 2] = std::to_string(replicas_per_master_);
  const pid_t pid = Spawn(std::move(args));
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return absl::UnavailableError("redis-cli --cluster create failed");
  }
  return AwaitHealthy();
}

namespace {

// ReplicaCount counts the replicas in a CLUSTER NODES reply.
int ReplicaCount(absl::string_view nodes) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(nodes, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 2 && absl::StrContains(fields[2], "slave")) ++n;
  }
  return n;
}

}  // namespace

absl::Status RedisTestCluster::AwaitHealthy() {
  const std::string known = absl::StrCat("cluster_known_nodes:", nodes_.size());
  const int replicas = masters_ * replicas_per_master_;
  for (const auto& node : nodes_) {
    redisContext* c = redisConnect("127.0.0.1", node->port());
    if (c == nullptr || c->err) {
      if (c != nullptr) redisFree(c);
      return absl::UnavailableError("cannot connect to a cluster node");
    }
    bool healthy = false;
    for (int i = 0; i < 2000 && !healthy; ++i) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "CLUSTER INFO"));
      if (r != nullptr && r->type == REDIS_REPLY_STRING) {
        const absl::string_view info(r->str, r->len);
        healthy = absl::StrContains(info, "cluster_state:ok") && absl::StrContains(info, known);
      }
      if (r != nullptr) freeReplyObject(r);
      if (healthy) {
        // Every node must also know which nodes are replicas by now.
        r = static_cast<redisReply*>(redisCommand(c, "CLUSTER NODES"));
        healthy = r != nullptr && r->type == REDIS_REPLY_STRING &&
                  ReplicaCount(absl::string_view(r->str, r->len)) == replicas;
        if (r != nullptr) freeReplyObject(r);
      }
      if (healthy) {
        // And list them in CLUSTER SLOTS, which leaves out replicas that
        // have not synced with their master yet.
        r = static_cast<redisReply*>(redisCommand(c, "CLUSTER SLOTS"));
        healthy = r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
        for (size_t i = 0; healthy && i < r->elements; ++i) {
          healthy = r->element[i]->type == REDIS_REPLY_ARRAY &&
                    r->element[i]->elements >= static_cast<size_t>(3 + replicas_per_master_);
        }
        if (r != nullptr) freeReplyObject(r);
      }
      if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    redisFree(c);
    if (!healthy) return absl::UnavailableError("the cluster never became healthy");
  }
  return absl::OkStatus();
}

RedisTestServer* RedisTestCluster::NodeOn(int port) {
  for (auto& node : nodes_) {
    if (node->port() == port) return node.get();
  }
  return nullptr;
}

int RedisTestCluster::MasterOf(int slot) {
  for (auto& node : nodes_) {
    absl::StatusOr<redis::Reply> slots = CommandOn(node->port(), {"CLUSTER", "SLOTS"});
    if (!slots.ok()) continue;
    // Each entry: [first, last, [host, port, id], replicas...].
    for (const redis::Reply& range : slots->elements) {
      if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) continue;
      if (range.elements[0].integer <= slot && slot <= range.elements[1].integer) {
        return static_cast<int>(range.elements[2].elements[1].integer);
      }
    }
    return 0;
  }
  return 0;
}

std::string RedisTestCluster::Seeds() const {
  std::vector<std::string> seeds;
  for (const auto& node : nodes_) seeds.push_back(absl::StrCat("127.0.0.1:", node->port()));
  return absl::StrJoin(seeds, ",");
}

}  // namespace chat::testing
