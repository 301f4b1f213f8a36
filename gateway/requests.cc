#include "gateway/requests.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace chat::gateway {

namespace {

// CheckTextBytes: a character is at most 4 bytes of UTF-8, so a longer text
// cannot fit (the chat service counts characters exactly).
absl::Status CheckTextBytes(const std::string& text, int max_message_chars) {
  if (text.size() <= 4 * static_cast<size_t>(max_message_chars)) return absl::OkStatus();
  return WithReason(absl::InvalidArgumentError(
                        absl::StrCat("message is longer than ", max_message_chars, " characters")),
                    "too_long");
}

}  // namespace

absl::StatusOr<SendRequest> BuildSend(const User& author, SendChat frame, int max_message_chars) {
  if (frame.id().empty()) {
    return WithReason(absl::InvalidArgumentError("id (client nonce) is required"),
                      "invalid_argument");
  }
  if (absl::Status s = CheckTextBytes(frame.message(), max_message_chars); !s.ok()) return s;
  SendRequest req;
  *req.mutable_author() = author;  // Never what the client claims.
  req.set_allocated_server(frame.release_server());
  req.set_allocated_channel(frame.release_channel());
  req.set_allocated_message(frame.release_message());
  req.set_allocated_nonce(frame.release_id());
  return req;
}

absl::StatusOr<EditRequest> BuildEdit(const User& user, EditMessage frame, int max_message_chars) {
  if (absl::Status s = CheckTextBytes(frame.message(), max_message_chars); !s.ok()) return s;
  EditRequest req;
  *req.mutable_user() = user;
  req.set_allocated_server(frame.release_server());
  req.set_allocated_channel(frame.release_channel());
  req.set_message_seq(frame.seq());
  req.set_allocated_message(frame.release_message());
  return req;
}

DeleteRequest BuildDelete(const User& user, const DeleteMessage& frame) {
  DeleteRequest req;
  *req.mutable_user() = user;
  req.set_server(frame.server());
  req.set_channel(frame.channel());
  req.set_message_seq(frame.seq());
  return req;
}

HistoryRequest BuildHistory(const std::string& user_id, const GetHistory& frame) {
  HistoryRequest req;
  req.set_user_id(user_id);
  req.set_server(frame.server());
  req.set_channel(frame.channel());
  req.set_before(frame.before());
  if (frame.has_after()) req.set_after(frame.after());  // "0" pages from the start.
  req.set_limit(frame.limit());
  return req;
}

MarkReadRequest BuildMarkRead(const std::string& user_id, const ReadFrame& frame) {
  MarkReadRequest req;
  req.set_user_id(user_id);
  req.set_server(frame.server());
  req.set_channel(frame.channel());
  req.set_seq(frame.seq());
  return req;
}

InvitationCall BuildInvitation(ClientFrame::FrameCase kind, const User& me,
                               const InvitationFrame& f, const std::string& fallback) {
  InvitationCall call;
  if (kind == ClientFrame::kInvitation) {
    call.kind = InvitationCall::Kind::kInvite;
    *call.invite.mutable_inviter() = me;  // Never what the client claims.
    call.invite.set_invited(f.invited().empty() ? fallback : f.invited());
    call.invite.set_server(f.server());
    return call;
  }
  call.kind = kind == ClientFrame::kAcceptInvitation ? InvitationCall::Kind::kAccept
                                                     : InvitationCall::Kind::kCancel;
  TransitionRequest& req = call.transition;
  *req.mutable_actor() = me;
  req.set_server(f.server());
  const bool as_invitee =
      kind == ClientFrame::kAcceptInvitation || ((f.invited() == me.id() || f.invited().empty()) &&
                                                 !f.inviting().empty() && f.inviting() != me.id());
  if (as_invitee) {  // Accept, or cancel by the invitee (decline).
    req.set_inviting(f.inviting().empty() ? fallback : f.inviting());
    req.set_invited(me.id());
  } else {  // Cancel by the inviter.
    req.set_inviting(me.id());
    req.set_invited(f.invited().empty() ? fallback : f.invited());
  }
  return call;
}

TypingRequest BuildTyping(const User& user, const TypingFrame& frame) {
  TypingRequest req;
  *req.mutable_user() = user;
  req.set_server(frame.server());
  req.set_channel(frame.channel());
  return req;
}

bool IsPresenceStatus(const std::string& s) {
  return s == "online" || s == "idle" || s == "dnd" || s == "invisible";
}

ServerFrame AckFrame(const std::string& id, const std::string& server, const std::string& channel,
                     int64_t seq, int64_t sent_at) {
  ServerFrame frame;
  Ack* ack = frame.mutable_ack();
  ack->set_type("ack");
  ack->set_id(id);
  ack->set_seq(seq);
  ack->set_server(server);
  ack->set_channel(channel);
  ack->set_sent_at(sent_at);
  return frame;
}

ServerFrame HistoryFrame(const GetHistory& request, HistoryResponse reply) {
  ServerFrame frame;
  History* h = frame.mutable_history();
  h->set_type("history");
  h->set_id(request.id());
  h->set_server(request.server());
  h->set_channel(request.channel());
  h->set_head_seq(reply.head_seq());
  h->set_oldest_seq(reply.oldest_seq());
  h->set_next(reply.next());
  h->mutable_messages()->Swap(reply.mutable_messages());
  for (ChatMessage& m : *h->mutable_messages()) m.set_type("chat_message");
  return frame;
}

ServerFrame ErrorFrame(const std::string& code, const std::string& message, const std::string& id,
                       absl::Duration retry_after) {
  ServerFrame frame;
  Error* e = frame.mutable_error();
  e->set_type("error");
  e->set_code(code);
  e->set_message(message);
  e->set_id(id);
  e->set_retry_after_ms(absl::ToInt64Milliseconds(retry_after));
  return frame;
}

}  // namespace chat::gateway
