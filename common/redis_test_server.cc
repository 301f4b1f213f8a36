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

#include "absl/strings/str_cat.h"
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

}  // namespace

RedisTestServer::~RedisTestServer() {
  Stop(/*hard=*/true);
  if (!dir_.empty()) {
    std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
    (void)!system(cmd.c_str());
  }
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
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   appendonly_ ? "yes" : "no",
                                   "--appendfsync",
                                   "always",
                                   "--dir",
                                   dir_,
                                   "--daemonize",
                                   "no"};
  if (cluster_) {
    for (const char* arg : {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}) {
      args.emplace_back(arg);
    }
  }
  if (master_port_ != 0) {
    for (std::string arg :
         {std::string("--replicaof"), std::string("127.0.0.1"), std::to_string(master_port_)}) {
      args.push_back(std::move(arg));
    }
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int devnull = open("/dev/null", 1);
    dup2(devnull, 1);
    execvp("redis-server", argv.data());
    execv("/usr/bin/redis-server", argv.data());
    _exit(127);
  }
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
  redisContext* c = redisConnect("127.0.0.1", port_);
  if (c == nullptr || c->err) {
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError("cannot connect to the replica");
  }
  absl::Status status = absl::UnavailableError("the replica never linked to its master");
  for (int i = 0; i < 1000 && !status.ok(); ++i) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "INFO replication"));
    if (r != nullptr && r->type == REDIS_REPLY_STRING &&
        absl::string_view(r->str, r->len).find("master_link_status:up") !=
            absl::string_view::npos) {
      status = absl::OkStatus();
    }
    if (r != nullptr) freeReplyObject(r);
    if (!status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
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

}  // namespace chat::testing
