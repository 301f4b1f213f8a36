// RedisTestServer runs a real redis-server on a free loopback port for the
// duration of a test, in a private temporary directory, with persistence off.
#ifndef CHATSUITE_COMMON_REDIS_TEST_SERVER_H_
#define CHATSUITE_COMMON_REDIS_TEST_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/redis_connection.h"

namespace chat::testing {

class RedisTestServer {
 public:
  RedisTestServer() = default;
  ~RedisTestServer();
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  // Start launches redis-server (found on PATH or in /usr/bin) and returns once
  // it accepts connections. kUnavailable if it never does.
  absl::Status Start();
  // Stop terminates the server (SIGKILL when hard) and waits for it. A later
  // Start reuses the same port, so clients can reconnect to it.
  void Stop(bool hard = false);

  int port() const { return port_; }
  // dir: the server's working directory (its append-only files), set by
  // the first Start.
  const std::string& dir() const { return dir_; }
  // set_appendonly turns on the AOF with fsync on every write (before Start):
  // a killed server restarted by Start then has every acknowledged write.
  void set_appendonly(bool on) { appendonly_ = on; }
  // set_cluster_enabled runs the server in cluster mode (before Start), as a
  // one-node cluster that owns every slot: Start returns once the cluster
  // state is ok. Redis then refuses any command whose keys span slots
  // (CROSSSLOT) and answers CLUSTER KEYSLOT.
  void set_cluster_enabled(bool on) { cluster_ = on; }
  // set_cluster_member runs the server in cluster mode without slots (before
  // Start), for RedisTestCluster to join into a cluster.
  void set_cluster_member(bool on) { cluster_member_ = on; }
  // set_replica_of makes the server a replica of the one on master_port
  // (before Start): Start returns once a write on the master reaches it.
  void set_replica_of(int master_port) { master_port_ = master_port; }
  // Pause stops the process (SIGSTOP) without closing its sockets, as a hung
  // or partitioned node looks; Resume continues it.
  void Pause();
  void Resume();

 private:
  absl::Status TryStart();
  absl::Status AwaitClusterOk();
  absl::Status AwaitReplicaLinked();

  pid_t pid_ = -1;
  bool appendonly_ = false;
  bool cluster_ = false;
  bool cluster_member_ = false;
  int master_port_ = 0;
  int port_ = 0;
  int bus_port_ = 0;  // Cluster bus, in cluster modes.
  std::string dir_;
};

// RedisTestCluster runs a real Redis Cluster on free loopback ports: masters
// nodes holding the slots, each with replicas_per_master replicas, made by
// `redis-cli --cluster create`, torn down with the object. Start returns once
// every node reports cluster_state:ok and knows all the others.
class RedisTestCluster {
 public:
  explicit RedisTestCluster(int masters = 3, int replicas_per_master = 1);
  RedisTestCluster(const RedisTestCluster&) = delete;
  RedisTestCluster& operator=(const RedisTestCluster&) = delete;

  absl::Status Start();
  // node(i): the i-th server; which are masters is redis-cli's choice (ask
  // the cluster).
  RedisTestServer& node(size_t i) { return *nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  // NodeOn returns the node listening on port, or nullptr.
  RedisTestServer* NodeOn(int port);
  // MasterOf returns the port of the master serving slot, as the first
  // node that answers CLUSTER SLOTS sees it; 0 if none does.
  int MasterOf(int slot);
  // Seeds lists every node as "127.0.0.1:<port>,..." (for --redis_cluster).
  std::string Seeds() const;

 private:
  absl::Status AwaitHealthy();

  int masters_, replicas_per_master_;
  std::vector<std::unique_ptr<RedisTestServer>> nodes_;
};

// CommandOn sends one command to the Redis server on a loopback port, over
// a connection of its own, and returns the reply as RedisClient would
// (error replies kInternal, no connection kUnavailable).
absl::StatusOr<redis::Reply> CommandOn(int port, const std::vector<std::string>& args);

// FreePort returns a loopback TCP port that was free a moment ago.
int FreePort();

}  // namespace chat::testing

#endif  // CHATSUITE_COMMON_REDIS_TEST_SERVER_H_
