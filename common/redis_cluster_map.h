// What a Redis Cluster client needs to know to route a command: which node
// serves each slot (ClusterMap, read from CLUSTER SLOTS), and where an error
// reply redirects it (ParseRedirect: "MOVED <slot> <host:port>" when the
// slot has a new owner for good, "ASK <slot> <host:port>" for one command
// while the slot migrates). The routing client itself (connections per node,
// retries, sharded pub/sub) builds on these; it is not written yet.
#ifndef CHATSUITE_COMMON_REDIS_CLUSTER_MAP_H_
#define CHATSUITE_COMMON_REDIS_CLUSTER_MAP_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config.h"
#include "common/redis_connection.h"
#include "common/redis_slot.h"

namespace chat::redis {

// ClusterShard is one master and its replicas.
struct ClusterShard {
  HostPort master;
  std::vector<HostPort> replicas;
};

class ClusterMap {
 public:
  // FromSlotsReply reads a CLUSTER SLOTS reply: an array of [first slot,
  // last slot, master [host, port, id, ...], replicas...]. A node with an
  // empty or nil host is reachable at seed_host (Redis reports "" when it does not
  // know its own address). kInvalidArgument for a malformed reply; a map
  // that leaves slots unserved is valid (the cluster is then partly down)
  // and says so through Covered.
  static absl::StatusOr<ClusterMap> FromSlotsReply(const Reply& reply, absl::string_view seed_host);

  // ShardOf returns the shard serving slot, or nullptr if none does.
  const ClusterShard* ShardOf(int slot) const;
  // ShardOfKey is ShardOf(KeySlot(key)).
  const ClusterShard* ShardOfKey(absl::string_view key) const { return ShardOf(KeySlot(key)); }
  // Covered reports whether every slot has a shard.
  bool Covered() const;
  const std::vector<ClusterShard>& shards() const { return shards_; }

 private:
  std::vector<ClusterShard> shards_;
  // slot -> index into shards_, -1 for none.
  std::array<int16_t, kClusterSlots> owner_{};
};

// Redirect is what a MOVED or ASK error reply says.
struct Redirect {
  enum class Kind { kMoved, kAsk };
  Kind kind;
  int slot;
  HostPort node;
};

// ParseRedirect reads a Redis error message ("MOVED 3999 127.0.0.1:6381",
// "ASK 3999 127.0.0.1:6381"; an empty host, as in "MOVED 3999 :6381", means
// the host of the node that answered, which the caller fills in), bare or
// as the message of ConvertReply's status ("redis: MOVED ..."). nullopt for
// any other error.
std::optional<Redirect> ParseRedirect(absl::string_view error);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_CLUSTER_MAP_H_
