#include "common/redis_cluster_map.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace chat::redis {

namespace {

absl::StatusOr<HostPort> NodeOf(const Reply& node, absl::string_view seed_host) {
  // A nil endpoint (cluster-preferred-endpoint-type unknown-endpoint) means
  // the host of the node asked, as "" does.
  if (node.type != Reply::Type::kArray || node.elements.size() < 2 ||
      (node.elements[0].type != Reply::Type::kString && !node.elements[0].is_nil()) ||
      node.elements[1].type != Reply::Type::kInteger || node.elements[1].integer <= 0 ||
      node.elements[1].integer > 65535) {
    return absl::InvalidArgumentError("CLUSTER SLOTS: a node is not [host, port, ...]");
  }
  HostPort out;
  out.host = node.elements[0].str.empty() ? std::string(seed_host) : node.elements[0].str;
  out.port = static_cast<int>(node.elements[1].integer);
  return out;
}

bool SameNode(const HostPort& a, const HostPort& b) { return a.host == b.host && a.port == b.port; }

}  // namespace

absl::StatusOr<ClusterMap> ClusterMap::FromSlotsReply(const Reply& reply,
                                                      absl::string_view seed_host) {
  if (reply.type != Reply::Type::kArray) {
    return absl::InvalidArgumentError("CLUSTER SLOTS: not an array");
  }
  ClusterMap map;
  map.owner_.fill(-1);
  for (const Reply& range : reply.elements) {
    if (range.type != Reply::Type::kArray || range.elements.size() < 3 ||
        range.elements[0].type != Reply::Type::kInteger ||
        range.elements[1].type != Reply::Type::kInteger) {
      return absl::InvalidArgumentError("CLUSTER SLOTS: a range is not [first, last, master...]");
    }
    const int64_t first = range.elements[0].integer, last = range.elements[1].integer;
    if (first < 0 || last < first || last >= kClusterSlots) {
      return absl::InvalidArgumentError(
          absl::StrCat("CLUSTER SLOTS: bad slot range ", first, "-", last));
    }
    ClusterShard shard;
    absl::StatusOr<HostPort> master = NodeOf(range.elements[2], seed_host);
    if (!master.ok()) return master.status();
    shard.master = *std::move(master);
    for (size_t i = 3; i < range.elements.size(); ++i) {
      absl::StatusOr<HostPort> replica = NodeOf(range.elements[i], seed_host);
      if (!replica.ok()) return replica.status();
      shard.replicas.push_back(*std::move(replica));
    }
    // A master serving several ranges is one shard.
    int index = -1;
    for (size_t i = 0; i < map.shards_.size(); ++i) {
      if (SameNode(map.shards_[i].master, shard.master)) index = static_cast<int>(i);
    }
    if (index < 0) {
      index = static_cast<int>(map.shards_.size());
      map.shards_.push_back(std::move(shard));
    }
    for (int64_t s = first; s <= last; ++s) map.owner_[s] = static_cast<int16_t>(index);
  }
  return map;
}

const ClusterShard* ClusterMap::ShardOf(int slot) const {
  if (slot < 0 || slot >= kClusterSlots || owner_[slot] < 0) return nullptr;
  return &shards_[owner_[slot]];
}

bool ClusterMap::Covered() const {
  for (int16_t o : owner_) {
    if (o < 0) return false;
  }
  return true;
}

std::optional<Redirect> ParseRedirect(absl::string_view error) {
  absl::ConsumePrefix(&error, "redis: ");
  std::vector<absl::string_view> parts = absl::StrSplit(error, ' ');
  if (parts.size() != 3) return std::nullopt;
  Redirect r;
  if (parts[0] == "MOVED") {
    r.kind = Redirect::Kind::kMoved;
  } else if (parts[0] == "ASK") {
    r.kind = Redirect::Kind::kAsk;
  } else {
    return std::nullopt;
  }
  if (!absl::SimpleAtoi(parts[1], &r.slot) || r.slot < 0 || r.slot >= kClusterSlots) {
    return std::nullopt;
  }
  const size_t colon = parts[2].rfind(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  r.node.host = std::string(parts[2].substr(0, colon));
  if (!absl::SimpleAtoi(parts[2].substr(colon + 1), &r.node.port) || r.node.port <= 0 ||
      r.node.port > 65535) {
    return std::nullopt;
  }
  return r;
}

}  // namespace chat::redis
