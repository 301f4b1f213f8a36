// ChatStore is the chat service's persistence interface. RedisChatStore is the
// production implementation; unit tests of ChatCore use a fake.
//
// Every method is asynchronous: it returns at once and calls done exactly once,
// on a thread of the store's choosing, never while holding a caller's lock.
#ifndef CHATSUITE_CHAT_SERVICE_CHAT_STORE_H_
#define CHATSUITE_CHAT_SERVICE_CHAT_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/async.h"
#include "common/personal_log.h"
#include "proto/chat.pb.h"
#include "proto/common.pb.h"
#include "proto/events.pb.h"

namespace chat::chat_service {

// AppendResult is what storing one message produced.
struct AppendResult {
  int64_t seq = 0;
  int64_t sent_at = 0;
  bool duplicate = false;  // The nonce was seen: seq/sent_at are the original's.
};

// HistoryPage is a slice of one channel's log, ascending seq: its messages
// in their latest state and, for tails, the edit and delete events.
struct HistoryPage {
  std::vector<ChatMessage> messages;
  std::vector<Event> revisions;  // message_update / message_delete, seq set; tails only.
  int64_t head_seq = 0;
  int64_t oldest_seq = 0;              // 0 when the log is empty.
  int64_t lost_from = 0, lost_to = 0;  // The last range Redis lost (0, 0: none).
  int64_t next = 0;                    // Where the next page that way starts; 0: nothing further.
};

// HistoryQuery selects a page: forward (or after > 0) pages forward from
// after, else before > 0 pages backward, else the newest `limit` messages.
struct HistoryQuery {
  std::string server, channel;
  int64_t before = 0, after = 0;
  int limit = 50;
  bool forward = false;    // Page forward from after, even when after is 0.
  bool revisions = false;  // Include edit and delete events (a tail); they count toward limit.
  std::string reader;      // The user reading (refused once revoked); "" for gateway tails.
};

// StoredMessage is one message in its latest state (seq set) and the bytes
// it is stored as: a Revision names them, so it applies only to what was read.
struct StoredMessage {
  ChatMessage message;
  std::string bytes;
};

// Revision replaces one message's stored state and appends the event that
// says so (an edit or a delete).
struct Revision {
  std::string server, channel;
  int64_t message_seq = 0;
  std::string expected;                // StoredMessage::bytes as read.
  ChatMessage latest;                  // The new state, seq and type clear.
  Event event;                         // message_update or message_delete, seq clear.
  bool deleted = false;                // The message stops counting as unread too.
  std::vector<std::string> unmention;  // Users whose mention by it ends.
  std::vector<std::string> mention;    // Users it newly mentions (members, validated).
  int64_t seen_seq = 0;                // As for Append.
  std::string actor;                   // Who revises: refused once their access is revoked.
};

// AppendOptions: who posts, as the channel's revocations and slow mode see them.
struct AppendOptions {
  int64_t seen_seq = 0;
  bool slow_mode_exempt = false;  // The author is the server's owner or a moderator.
};

// Roles of a server's members, as stored.
inline constexpr char kRoleOwner[] = "owner";
inline constexpr char kRoleModerator[] = "moderator";
// kEveryone stands for every member in mention lists: its mention set
// (keys::ChannelMentions(server, channel, kEveryone)) holds the seqs of
// messages that ping @everyone, and counts for every member. Never a user id
// ('*' is no id character).
inline constexpr char kEveryone[] = "*";

// ModerateAction is what Moderate does to a member.
enum class ModerateAction { kRemove, kBan, kUnban };

// ReadCounts: what lies after a read marker besides the head's distance.
struct ReadCounts {
  int64_t mentions = 0;   // Messages that mention the user.
  int64_t uncounted = 0;  // Seqs unread counts skip (edits, deletes, deleted messages).
};

class ChatStore {
 public:
  virtual ~ChatStore() = default;

  // CheckAccess: OK if the channel exists and user is a member of its server;
  // kNotFound (no such server or channel) or kPermissionDenied otherwise.
  virtual void CheckAccess(const std::string& server, const std::string& channel,
                           const std::string& user, Done<bool> done) = 0;

  // Append stores msg (its seq is ignored) unless (author_id, id) was stored
  // within the dedup window, assigns the next seq of the channel, records it
  // as a mention of each user in mentioned (members, validated ids), and
  // publishes it on the channel topic; all atomically. The seq is above
  // options.seen_seq and above every seq this store handed out for the
  // channel, even if Redis lost those messages (then a LogRollback is
  // published). kPermissionDenied: the author's access to the channel was
  // revoked. kResourceExhausted (reason slow_mode, with the wait): the
  // channel's slow mode allows the author no message yet (unless exempt).
  virtual void Append(const ChatMessage& msg, const std::vector<std::string>& mentioned,
                      const AppendOptions& options, Done<AppendResult> done) = 0;

  // Members returns those of ids that are members of server, in order.
  virtual void Members(const std::string& server, const std::vector<std::string>& ids,
                       Done<std::vector<std::string>> done) = 0;

  // ChannelHead returns the channel's newest seq (0 for none).
  virtual void ChannelHead(const std::string& server, const std::string& channel,
                           Done<int64_t> done) = 0;

  // CountsAfter counts, in (seq, head], the channel's messages that mention
  // user and the seqs that are no unread message.
  virtual void CountsAfter(const std::string& server, const std::string& channel,
                           const std::string& user, int64_t seq, int64_t head,
                           Done<ReadCounts> done) = 0;

  // GetMessage reads one message in its latest state; kNotFound when the
  // log holds no message with that seq (never sent, an edit or delete
  // event's seq, or older than the log retains).
  virtual void GetMessage(const std::string& server, const std::string& channel, int64_t seq,
                          Done<StoredMessage> done) = 0;
  // Revise applies revision atomically: the message's new state replaces the
  // old one (whose text is then gone from storage), the event gets the
  // channel's next seq (as Append's seq: above seen_seq and every seq handed
  // out) and is published on the channel topic like a message, mentions and
  // unread bookkeeping follow. Returns the event's seq. kAborted when the
  // message is no longer revision.expected (read again and retry);
  // kPermissionDenied when the actor's access was revoked.
  virtual void Revise(const Revision& revision, Done<int64_t> done) = 0;

  // MarkRead moves user's read marker of state's channel to
  // state.last_read_seq unless it already is there or beyond (then the
  // stored marker comes back with changed false); when it moved, state (with
  // the user_seq it got) is appended to the user's personal log and
  // published, atomically with the move.
  struct MarkReadResult {
    bool changed = false;
    int64_t last_read_seq = 0;
  };
  virtual void MarkRead(const std::string& user, const ReadState& state,
                        Done<MarkReadResult> done) = 0;

  // PersonalTail reads the user's personal log after a user_seq.
  virtual void PersonalTail(const std::string& user, int64_t after, int limit,
                            Done<PersonalPage> done) = 0;

  // RelayTyping publishes typing on its channel topic unless the same user
  // did within interval there (then false); kPermissionDenied once their
  // access was revoked. Nothing is stored beyond the
  // throttle key, which expires with the interval.
  virtual void RelayTyping(const Typing& typing, absl::Duration interval, Done<bool> done) = 0;

  // History reads a page of a channel's log; with query.reader set,
  // kPermissionDenied once the reader's access was revoked.
  virtual void History(const HistoryQuery& query, Done<HistoryPage> done) = 0;

  // Role returns user's role in server (kRoleOwner, kRoleModerator, or ""
  // for a plain member or a non-member), read from storage, never cached.
  virtual void Role(const std::string& server, const std::string& user, Done<std::string> done) = 0;
  // Moderate removes, bans or unbans user. With actor set, the actor must be
  // the owner or a moderator (kPermissionDenied, reason not_moderator) and
  // may not remove or ban the owner, nor a moderator unless the actor owns
  // the server (kPermissionDenied, reason protected_member); nobody removes
  // or bans the owner. Removing a non-member is kNotFound (reason
  // not_member) and, like a ban, still makes sure the revocation is
  // complete (a retry after a failure converges). On removal or ban: the
  // membership and role end, every channel of the server records the
  // revocation and publishes access_revoked on its topic, and a former
  // member's personal log gets server_removed. Returns whether anything
  // changed, and the server's channels (for the caller's caches).
  struct ModerateResult {
    bool changed = false;
    std::vector<std::string> channels;
  };
  virtual void Moderate(const std::string& actor, const std::string& server,
                        const std::string& user, ModerateAction action,
                        Done<ModerateResult> done) = 0;
  // SetSlowMode sets a channel's slow mode (0: off); kNotFound for no such
  // channel.
  virtual void SetSlowMode(const std::string& server, const std::string& channel, int seconds,
                           Done<bool> done) = 0;
  // SetRole gives a member role (kRoleOwner, kRoleModerator or "" for none);
  // a new owner demotes the previous one to moderator. Returns whether it
  // changed; kNotFound (reason not_member) for a non-member.
  virtual void SetRole(const std::string& server, const std::string& user, const std::string& role,
                       Done<bool> done) = 0;

  // UserState: the user's profile, servers with channels, head seqs, read
  // markers, unread and mention counts (per channel and per server), and the
  // head of the personal log. kNotFound for an unknown user.
  virtual void GetUserState(const std::string& user, Done<UserState> done) = 0;

  // Admin. UpsertUser creates or updates; GetUser: kNotFound if unknown.
  virtual void UpsertUser(const User& user, Done<User> done) = 0;
  virtual void GetUser(const std::string& id, Done<User> done) = 0;
  // CreateServer/CreateChannel return the existing record when the id exists.
  // A new server with an owner (an existing user: else kNotFound) has them
  // as its owner and first member.
  virtual void CreateServer(const std::string& id, const std::string& name,
                            const std::string& owner, Done<Server> done) = 0;
  // A channel that did not exist reaches every member as channel_created.
  virtual void CreateChannel(const std::string& server, const std::string& id,
                             const std::string& name, Done<Channel> done) = 0;
  // AddMember: true if added, false if already a member; kNotFound if the
  // server or user does not exist, kFailedPrecondition (reason banned) if
  // the user is banned from it. Clears the user's revocations in its
  // channels, then appends server_joined to the user's personal log
  // (published on their topic).
  virtual void AddMember(const std::string& server, const std::string& user, Done<bool> done) = 0;
};

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_CHAT_STORE_H_
