// Identification's pure parts: what the services answer when a session
// identifies, and how the ready frame is assembled from it.
#ifndef CHATSUITE_GATEWAY_IDENTIFY_H_
#define CHATSUITE_GATEWAY_IDENTIFY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/chat.pb.h"
#include "proto/client.pb.h"
#include "proto/invite.pb.h"
#include "proto/presence.pb.h"

namespace chat::gateway {

// IdentifyData is what identification gathers from the services, asked in
// parallel. Friends, invitations and presences stay empty when their service
// is down (those features degrade; chat does not).
struct IdentifyData {
  absl::StatusOr<UserState> state = UserState();
  Friends friends;
  PendingInvitations invitations;
  QueryResponse presences;
  int remaining = 0;  // Answers still to come.
};

// ReadySettings are the limits ready announces.
struct ReadySettings {
  absl::Duration heartbeat_interval;
  int max_frame_bytes = 0;
  int max_message_chars = 0;
  double chat_rate = 0;
  int chat_burst = 0;
  absl::Time token_expires = absl::InfinitePast();
};

// BuildReady assembles the ready frame, moving the servers, friends,
// invitations and presences out of state and data. The user is the token's.
ServerFrame BuildReady(const std::string& session_id, const User& user, UserState state,
                       IdentifyData& data, const ReadySettings& settings);

// RaiseHeads raises every channel's head_seq in ready to what later reports,
// and the personal head (user_seq) too: heads read once the subscriptions
// were live, so seq <= head_seq is in history and seq > head_seq arrives
// live. kLaterCounts: later is a full state, whose marker, unread and
// mention counts replace ready's for a channel it raises (edits and deletes
// take seqs but are not unread). kDifference: later has heads only, and the
// difference counts as unread.
enum class RaisedCounts { kDifference, kLaterCounts };
void RaiseHeads(const UserState& later, Ready* ready,
                RaisedCounts counts = RaisedCounts::kDifference);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_IDENTIFY_H_
