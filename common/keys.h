// The Redis key and pub/sub topic layout, in one place. Every key and topic
// of one channel carries the hash tag {c:<server>:<channel>}, of one server
// {s:<server>}, of one user {u:<user>}, so that all keys a single operation
// touches hash to one slot: the layout can later be spread over several Redis
// instances or a Redis Cluster without migrating data. docs/architecture.md
// lists every key.
#ifndef CHATSUITE_COMMON_KEYS_H_
#define CHATSUITE_COMMON_KEYS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace chat::keys {

// IsValidId reports whether id may name a user, server or channel:
// 1..64 characters of [A-Za-z0-9_-]. Ids are embedded in keys, so this is
// what keeps a client from addressing a key it should not.
bool IsValidId(absl::string_view id);

// Per user.
std::string UserProfile(absl::string_view user);    // hash: name, image
std::string UserServers(absl::string_view user);    // set of server ids
std::string UserTopic(absl::string_view user);      // topic: events for the user
std::string UserFriends(absl::string_view user);    // set of user ids (invite_service)
std::string UserPresence(absl::string_view user);   // hash: status, last_seen (presence)
std::string UserSessions(absl::string_view user);   // hash: session -> status|gateway|expiry
std::string UserLog(absl::string_view user);        // stream: personal events, id <user_seq>-0
std::string UserLogSeq(absl::string_view user);     // counter: the personal log's user_seq
std::string UserRollback(absl::string_view user);   // string "<from>:<to>": user_seqs lost
std::string UserReadState(absl::string_view user);  // hash: "<server>/<channel>" -> read seq
// ParseUserTopic returns the user id of a UserTopic, or "" for another topic.
std::string ParseUserTopic(absl::string_view topic);

// Per server.
std::string ServerMeta(absl::string_view server);      // hash: name
std::string ServerChannels(absl::string_view server);  // hash: channel id -> name
std::string ServerMembers(absl::string_view server);   // set of user ids
std::string ServerRoles(absl::string_view server);     // hash: user id -> "owner" | "moderator"
std::string ServerBans(absl::string_view server);      // set of banned user ids
std::string ServerPresenceTopic(absl::string_view server);  // topic: members' presence

// Per channel.
std::string ChannelTag(absl::string_view server, absl::string_view channel);
std::string ChannelLog(absl::string_view server, absl::string_view channel);  // stream
std::string ChannelSeq(absl::string_view server, absl::string_view channel);  // counter
// string "<from>:<to>": the last range of seqs Redis lost (see HighWater).
std::string ChannelRollback(absl::string_view server, absl::string_view channel);
std::string ChannelNonce(absl::string_view server, absl::string_view channel,
                         absl::string_view user, absl::string_view nonce);  // dedup
std::string ChannelTopic(absl::string_view server, absl::string_view channel);
std::string ChannelTyping(absl::string_view server, absl::string_view channel,
                          absl::string_view user);  // throttle, expires by itself
// sorted set: seqs of the channel's messages that mention user (newest kept).
std::string ChannelMentions(absl::string_view server, absl::string_view channel,
                            absl::string_view user);
// sorted set: the latest state of each edited or deleted message (score: its
// seq; member "<seq>:<ChatMessage bytes>"), whose stream entry was removed.
std::string ChannelRevised(absl::string_view server, absl::string_view channel);
// sorted set: seqs unread counts skip (edit and delete events, deleted messages).
std::string ChannelUncounted(absl::string_view server, absl::string_view channel);
// hash: user id -> ms since the epoch: users whose access to the channel was
// revoked (removed or banned), checked by every script that posts or reads
// there, so that no replica's cached access grant outlives a removal.
std::string ChannelRevoked(absl::string_view server, absl::string_view channel);
// string: the channel's slow mode in seconds (absent: off).
std::string ChannelSlowMode(absl::string_view server, absl::string_view channel);
// The user's slow-mode throttle in the channel; expires by itself.
std::string ChannelSlowUser(absl::string_view server, absl::string_view channel,
                            absl::string_view user);
// ReadField is the UserReadState field of a channel.
std::string ReadField(absl::string_view server, absl::string_view channel);

// Per pair of users (ids sorted, so both directions share one tag): the live
// invitation of the pair in a scope (a server id, or "-" for friendship), and
// the anti-spam throttle of one actor's action ("invitation" or
// "cancel_invitation", throttled separately as the seed's buttons were).
std::string PairTag(absl::string_view a, absl::string_view b);
std::string PairInvitation(absl::string_view a, absl::string_view b, absl::string_view server);
std::string PairThrottle(absl::string_view a, absl::string_view b, absl::string_view actor,
                         absl::string_view action);
std::string UserInvitations(absl::string_view user);  // set of PairInvitation keys
// The user's pending sent invitations (zset: PairInvitation key -> expires_at
// ms) and their creations this minute (a counter): the inviter's quota.
std::string UserSentInvitations(absl::string_view user);
std::string UserInviteRate(absl::string_view user);

// Global: invitation keys scored by expiry (ms), for the invite sweeper.
inline constexpr absl::string_view kInvitationExpiry = "invitations:expiry";

// Global: the set of all user ids (for the admin CLI and dev login).
inline constexpr absl::string_view kUsers = "users";
// Global: sorted set of user ids scored by their earliest session expiry (ms),
// so the presence sweeper finds users whose gateway died.
inline constexpr absl::string_view kPresenceExpiry = "presence:expiry";

}  // namespace chat::keys

#endif  // CHATSUITE_COMMON_KEYS_H_
