// RedisChatStore keeps the chat service's state in Redis (layout in
// common/keys.h and docs/architecture.md): a Stream per channel whose entry
// ids are <seq>-0, a counter per channel, nonce keys with a TTL for
// idempotency, and hashes/sets for users, servers and memberships.
#ifndef CHATSUITE_CHAT_SERVICE_REDIS_CHAT_STORE_H_
#define CHATSUITE_CHAT_SERVICE_REDIS_CHAT_STORE_H_

#include <memory>

#include "absl/time/time.h"
#include "chat_service/chat_store.h"
#include "common/redis_client.h"
#include "common/redis_replica_wait.h"

namespace chat::chat_service {

struct RedisChatStoreOptions {
  // Entries kept per channel stream (approximate trimming, MAXLEN ~).
  int64_t retention = 100000;
  // The personal logs (server_joined, channel_created, read_state).
  PersonalLogOptions personal;
  // Mentions remembered per user and channel (the newest ones).
  int64_t max_mentions = 1000;
  // How long a nonce is remembered; the brief requires at least 5 minutes.
  absl::Duration nonce_ttl = absl::Minutes(10);
  // When > 0, a message is acknowledged only once WAIT reports this many
  // replicas have it (common/redis_replica_wait.h); a WAIT that reports
  // fewer within replica_timeout fails the send with kUnavailable, and the
  // client's retry under the same nonce waits again.
  int min_replicas = 0;
  absl::Duration replica_timeout = absl::Seconds(1);
};

class RedisChatStore : public ChatStore {
 public:
  // client (one instance or a cluster) must outlive the store and be
  // started by the caller.
  RedisChatStore(std::shared_ptr<redis::Commands> client, RedisChatStoreOptions options);

  void CheckAccess(const std::string& server, const std::string& channel, const std::string& user,
                   Done<bool> done) override;
  void Append(const ChatMessage& msg, const std::vector<std::string>& mentioned,
              const AppendOptions& options, Done<AppendResult> done) override;
  void Members(const std::string& server, const std::vector<std::string>& ids,
               Done<std::vector<std::string>> done) override;
  void ChannelHead(const std::string& server, const std::string& channel,
                   Done<int64_t> done) override;
  void CountsAfter(const std::string& server, const std::string& channel, const std::string& user,
                   int64_t seq, int64_t head, Done<ReadCounts> done) override;
  void GetMessage(const std::string& server, const std::string& channel, int64_t seq,
                  Done<StoredMessage> done) override;
  void Revise(const Revision& revision, Done<int64_t> done) override;
  void MarkRead(const std::string& user, const ReadState& state,
                Done<MarkReadResult> done) override;
  void PersonalTail(const std::string& user, int64_t after, int limit,
                    Done<PersonalPage> done) override;
  void History(const HistoryQuery& query, Done<HistoryPage> done) override;
  void RelayTyping(const Typing& typing, absl::Duration interval, Done<bool> done) override;
  void GetUserState(const std::string& user, Done<UserState> done) override;
  void UpsertUser(const User& user, Done<User> done) override;
  void GetUser(const std::string& id, Done<User> done) override;
  void CreateServer(const std::string& id, const std::string& name, const std::string& owner,
                    Done<Server> done) override;
  void CreateChannel(const std::string& server, const std::string& id, const std::string& name,
                     Done<Channel> done) override;
  void AddMember(const std::string& server, const std::string& user, Done<bool> done) override;
  void Role(const std::string& server, const std::string& user, Done<std::string> done) override;
  void Moderate(const std::string& actor, const std::string& server, const std::string& user,
                ModerateAction action, Done<ModerateResult> done) override;
  void SetSlowMode(const std::string& server, const std::string& channel, int seconds,
                   Done<bool> done) override;
  void SetRole(const std::string& server, const std::string& user, const std::string& role,
               Done<bool> done) override;

  // replica_waits is null unless options.min_replicas > 0 (for metrics).
  const redis::ReplicaWaits* replica_waits() const { return replica_waits_.get(); }

 private:
  // LoadServers fills Server records (name, user's role, channels sorted by
  // name, head seqs, slow modes) for the given ids, skipping ids that no
  // longer exist.
  void LoadServers(const std::string& user, std::vector<std::string> ids,
                   Done<std::vector<Server>> done);
  // CreateServerChecked is CreateServer once the owner is known to exist.
  void CreateServerChecked(const std::string& id, const std::string& name, const std::string& owner,
                           Done<Server> done);
  // Revoke finishes a removal or ban (see Moderate): the channels'
  // revocations, the user's server set, the personal notice.
  void Revoke(const std::string& actor, const std::string& server, const std::string& user,
              ModerateAction action, bool not_member, bool was_member, ModerateResult result,
              Done<ModerateResult> done);
  // AnnounceChannel appends channel_created to every member's personal log.
  void AnnounceChannel(Channel channel, Done<Channel> done);
  // LoadReadState fills the user's markers, unread and mention counts.
  void LoadReadState(const std::string& user, UserState state, Done<UserState> done);

  std::shared_ptr<redis::Commands> client_;
  // AnnounceRollback publishes that seqs from..to of a channel were lost.
  void AnnounceRollback(const std::string& server, const std::string& channel, int64_t from,
                        int64_t to);

  RedisChatStoreOptions options_;
  std::unique_ptr<redis::ReplicaWaits> replica_waits_;  // Only with min_replicas.
  PersonalLog personal_;
  HighWater seqs_;  // Highest seq handed out per channel log.
};

// DecodeHistoryPage reads the history script's reply (head seq, oldest seq,
// items of seq, kind and bytes, rollback record, next); ascending is the order the
// items came in. kDataLoss for an entry that does not decode.
absl::StatusOr<HistoryPage> DecodeHistoryPage(const redis::Reply& reply, bool ascending);

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_REDIS_CHAT_STORE_H_
