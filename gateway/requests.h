// Request building: pure functions from a client frame (and the identity the
// token proved) to the request proto a service receives, and from a service's
// reply to the frame the client receives. Identity fields always come from
// the token, never from the frame. No I/O; unit-tested in requests_test.cc.
#ifndef CHATSUITE_GATEWAY_REQUESTS_H_
#define CHATSUITE_GATEWAY_REQUESTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/chat.pb.h"
#include "proto/client.pb.h"
#include "proto/invite.pb.h"

namespace chat::gateway {

// BuildSend turns a chat_message frame into the chat service's request,
// moving the text. kInvalidArgument with reason "invalid_argument" when the
// nonce (id) is missing, with reason "too_long" when the text has more bytes
// than max_message_chars characters could take (the service counts
// characters exactly).
absl::StatusOr<SendRequest> BuildSend(const User& author, SendChat frame, int max_message_chars);

// BuildEdit and BuildDelete turn edit_message and delete_message frames into
// the chat service's requests; the user is the token's. BuildEdit: reason
// "too_long" as for BuildSend.
absl::StatusOr<EditRequest> BuildEdit(const User& user, EditMessage frame, int max_message_chars);
DeleteRequest BuildDelete(const User& user, const DeleteMessage& frame);

// BuildHistory turns a history frame into the chat service's request.
HistoryRequest BuildHistory(const std::string& user_id, const GetHistory& frame);

// BuildMarkRead turns a read frame into the chat service's request.
MarkReadRequest BuildMarkRead(const std::string& user_id, const ReadFrame& frame);

// InvitationCall is the invite service call one invitation frame asks for.
struct InvitationCall {
  enum class Kind { kInvite, kAccept, kCancel };
  Kind kind = Kind::kInvite;
  InviteRequest invite;          // kInvite
  TransitionRequest transition;  // kAccept, kCancel
};

// BuildInvitation turns an invitation, accept_invitation or cancel_invitation
// frame (kind) from user me into its call. The other party is the one the
// frame names, or fallback when it names none (a seed personal socket's path
// user). A cancel names the invitee when the sender is the inviter, and the
// inviter when the sender is the invitee (a decline), as in the seed.
InvitationCall BuildInvitation(ClientFrame::FrameCase kind, const User& me,
                               const InvitationFrame& frame, const std::string& fallback);

// BuildTyping turns a typing frame into the chat service's request.
TypingRequest BuildTyping(const User& user, const TypingFrame& frame);

// IsPresenceStatus: one of "online", "idle", "dnd", "invisible".
bool IsPresenceStatus(const std::string& status);

// AckFrame is the ack for a stored chat message (its seq and sent_at), or
// for an edit or delete (the seq of the event it appended, 0 for an edit
// that changed nothing, and when: sent_at carries edited_at or deleted_at).
ServerFrame AckFrame(const std::string& id, const std::string& server, const std::string& channel,
                     int64_t seq, int64_t sent_at);

// HistoryFrame is the reply to a history frame, moving the messages.
ServerFrame HistoryFrame(const GetHistory& request, HistoryResponse reply);

// ErrorFrame is an error frame (codes in docs/protocol.md).
ServerFrame ErrorFrame(const std::string& code, const std::string& message, const std::string& id,
                       absl::Duration retry_after = absl::ZeroDuration());

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_REQUESTS_H_
