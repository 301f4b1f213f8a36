// ChatCore is the chat service's logic, free of gRPC and Redis: it validates
// requests, applies limits, and drives a ChatStore. The gRPC adapter
// (chat_service_impl) only converts between RPCs and these calls.
#ifndef CHATSUITE_CHAT_SERVICE_CHAT_CORE_H_
#define CHATSUITE_CHAT_SERVICE_CHAT_CORE_H_

#include <functional>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "chat_service/chat_store.h"
#include "proto/chat.pb.h"

namespace chat::chat_service {

struct ChatCoreOptions {
  int max_message_chars = 2000;  // Unicode code points.
  int max_history_limit = 100;
  int default_history_limit = 50;
  int max_nonce_chars = 64;
  size_t max_mentions_per_message = 20;               // Distinct users; beyond, not counted.
  absl::Duration typing_interval = absl::Seconds(3);  // One relay per user per channel.
  absl::Duration typing_ttl = absl::Seconds(10);      // How long clients show it.
  // How long a granted (server, channel, user) access is remembered, so a
  // busy sender costs one Redis call per message instead of two. Only grants
  // are cached; zero turns the cache off.
  absl::Duration access_cache_ttl = absl::Seconds(30);
  size_t access_cache_capacity = 100000;  // Entries; when full the cache starts over.
  std::function<int64_t()> now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
};

// AccessCache remembers access grants for a while. A grant may outlive a
// removal on another replica: that is why every script that posts or reads
// also checks the channel's revocations (ChatStore::Moderate), and a
// refusal for that reason forgets the grant here. Thread-safe; memory is
// bounded by capacity.
class AccessCache {
 public:
  AccessCache(absl::Duration ttl, size_t capacity) : ttl_(ttl), capacity_(capacity) {}
  // Granted reports whether key was granted less than ttl before now.
  bool Granted(const std::string& key, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void Grant(const std::string& key, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const absl::Duration ttl_;
  const size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> granted_at_ ABSL_GUARDED_BY(mu_);
};

class ChatCore {
 public:
  // store must outlive the core.
  ChatCore(ChatStore* store, ChatCoreOptions options) : store_(store), options_(options) {}

  // Send validates and stores a message. kInvalidArgument: bad ids, empty or
  // too long text (message names the limit), bad nonce. kNotFound,
  // kPermissionDenied: see ChatStore::CheckAccess.
  void Send(const SendRequest& req, Done<SendResponse> done);
  // Edit replaces the text of the author's message (text limits as for
  // Send): a message_update event. Unchanged text appends nothing (changed
  // false). kPermissionDenied with reason not_author for someone else's
  // message; kNotFound with reason unknown_message when the log holds no
  // message with that seq; kFailedPrecondition with reason message_deleted
  // for a deleted one. Mentions follow the new text: users it no longer
  // mentions lose the mention, members it newly mentions gain it.
  void Edit(const EditRequest& req, Done<RevisionResponse> done);
  // Delete removes a message (a tombstone stays in the log) and appends
  // message_delete; errors as for Edit (a deleted message:
  // message_deleted). Its author, the server's owner and its moderators may
  // delete it. Its mentions end and it stops counting as unread.
  void Delete(const DeleteRequest& req, Done<RevisionResponse> done);
  // History returns a page; limit is clamped to 1..max_history_limit.
  void History(const HistoryRequest& req, Done<HistoryResponse> done);
  // Tail is History forward from req.after() without an access check.
  void Tail(const TailRequest& req, Done<HistoryResponse> done);
  void GetUserState(const GetUserStateRequest& req, Done<UserState> done);
  // MarkRead moves the user's read marker forward (clamped to the head;
  // never backwards); access checked as for Send.
  void MarkRead(const MarkReadRequest& req, Done<MarkReadResponse> done);
  // PersonalTail reads a user's personal log after req.after(), no access
  // check (gateways relay a user's events to that user only).
  void PersonalTail(const PersonalTailRequest& req, Done<PersonalTailResponse> done);
  // Typing relays a typing indicator (access checked as for Send); relayed is
  // false when throttled.
  void Typing(const TypingRequest& req, Done<TypingResponse> done);

  // Admin calls; ids must satisfy keys::IsValidId, names 1..100 chars.
  void UpsertUser(const User& req, Done<User> done);
  void GetUser(const GetUserRequest& req, Done<User> done);
  void CreateServer(const CreateServerRequest& req, Done<Server> done);
  void CreateChannel(const CreateChannelRequest& req, Done<Channel> done);
  void AddMember(const AddMemberRequest& req, Done<AddMemberResponse> done);
  void SetRole(const SetRoleRequest& req, Done<SetRoleResponse> done);

  // Moderation (proto/chat.proto, ChatService.Moderate and SetSlowMode). An
  // operator (ChatAdmin) acts with no role checked; else req.actor_id must
  // be set and is checked as the store says.
  void Moderate(const ModerateRequest& req, bool as_operator, Done<ModerateResponse> done);
  void SetSlowMode(const SlowModeRequest& req, bool as_operator, Done<SlowModeResponse> done);
  static constexpr int kMaxSlowModeSeconds = 21600;

  const ChatCoreOptions& options() const { return options_; }

 private:
  // A Reviser builds the revision of a message read in its latest state
  // (not deleted, by the requesting user); nullopt when nothing changes.
  using Reviser =
      std::function<std::optional<Revision>(const StoredMessage& stored, int64_t now_ms)>;
  // ReviseMessage reads the message, checks it may be revised, applies
  // make's revision, and reads again and retries (a few times) when the
  // message changed in between. Access is checked first.
  // With moderators_may, the server's owner and moderators may revise
  // others' messages too (deletes).
  void ReviseMessage(const User& user, const std::string& server, const std::string& channel,
                     int64_t seq, bool moderators_may, Reviser make, Done<RevisionResponse> done);
  void TryRevise(std::string user, std::string server, std::string channel, int64_t seq,
                 bool moderators_may, Reviser make, int attempts_left, Done<RevisionResponse> done);
  void ApplyRevision(std::string user, std::string server, std::string channel, int64_t seq,
                     bool moderators_may, Reviser make, int attempts_left, StoredMessage stored,
                     Done<RevisionResponse> done);
  // MentionAndAppend settles whom msg mentions (members only; everyone when
  // the text says @everyone and the author moderates the server), then
  // appends it.
  void MentionAndAppend(ChatMessage msg, std::vector<std::string> mentioned, bool says_everyone,
                        int64_t seen_seq, Done<SendResponse> done);
  // AppendAs appends msg; a slow-mode refusal asks the author's role and
  // appends again as exempt when they are the owner or a moderator.
  void AppendAs(ChatMessage msg, std::vector<std::string> mentioned, int64_t seen_seq,
                Done<SendResponse> done);
  // Refused forgets user's cached grant in the channel when status says
  // their access was revoked; returns status.
  absl::Status Refused(const absl::Status& status, const std::string& server,
                       const std::string& channel, const std::string& user);
  // CheckText: the text limits of Send.
  absl::Status CheckText(const std::string& text) const;

  // CheckAccess asks the store unless the cache remembers a grant.
  void CheckAccess(const std::string& server, const std::string& channel, const std::string& user,
                   Done<bool> done);

  ChatStore* store_;
  ChatCoreOptions options_;
  AccessCache access_cache_{options_.access_cache_ttl, options_.access_cache_capacity};
};

// ParseMentions returns the distinct user ids mentioned as <@id> in text, in
// order, without author, at most max.
std::vector<std::string> ParseMentions(absl::string_view text, absl::string_view author,
                                       size_t max);

// SaysEveryone: text holds "@everyone" as a word of its own.
bool SaysEveryone(absl::string_view text);

// Utf8Length counts code points in valid UTF-8 (protobuf guarantees validity).
size_t Utf8Length(absl::string_view s);

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_CHAT_CORE_H_
