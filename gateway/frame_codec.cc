#include "gateway/frame_codec.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace chat::gateway {

namespace pbu = google::protobuf::util;

namespace {

absl::Status ParseJsonInto(absl::string_view text, google::protobuf::Message* out) {
  pbu::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = pbu::JsonStringToMessage(google::protobuf::StringPiece(text.data(), text.size()),
                                         out, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed frame: ", status.message().ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

size_t SkipSpace(absl::string_view t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}

// SkipString returns the index after the string starting at t[i] == '"'
// (npos if unterminated) and whether it held an escape.
size_t SkipString(absl::string_view t, size_t i, bool* escaped) {
  *escaped = false;
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      *escaped = true;
      ++i;
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  return absl::string_view::npos;
}

// SkipValue returns the index after the JSON value starting at t[i] (npos if
// it does not end). Only as strict as finding the value's end requires.
size_t SkipValue(absl::string_view t, size_t i) {
  int depth = 0;
  bool escaped;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '"') {
      i = SkipString(t, i, &escaped);
      if (i == absl::string_view::npos) return i;
      if (depth == 0) return i;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;  // The enclosing object's end: a scalar ended.
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      return i;
    }
    ++i;
  }
  return depth == 0 ? i : absl::string_view::npos;
}

// FrameMessage returns the ClientFrame field that a frame type names, null
// for an unknown type.
google::protobuf::Message* FrameMessage(absl::string_view type, ClientFrame* frame) {
  if (type == "chat_message") return frame->mutable_chat_message();
  if (type == "typing") return frame->mutable_typing();
  if (type == "history") return frame->mutable_history();
  if (type == "identify") return frame->mutable_identify();
  if (type == "status") return frame->mutable_status();
  if (type == "invitation") return frame->mutable_invitation();
  if (type == "cancel_invitation") return frame->mutable_cancel_invitation();
  if (type == "accept_invitation") return frame->mutable_accept_invitation();
  if (type == "read") return frame->mutable_read();
  if (type == "refresh") return frame->mutable_refresh();
  if (type == "heartbeat") return frame->mutable_heartbeat();
  if (type == "edit_message") return frame->mutable_edit_message();
  if (type == "delete_message") return frame->mutable_delete_message();
  if (type == "remove_member") return frame->mutable_remove_member();
  if (type == "ban_member") return frame->mutable_ban_member();
  if (type == "unban_member") return frame->mutable_unban_member();
  if (type == "set_slow_mode") return frame->mutable_set_slow_mode();
  return nullptr;
}

absl::StatusOr<ClientFrame> ParseTyped(absl::string_view type, absl::string_view text) {
  if (type.empty()) return absl::UnimplementedError("frame has no type");
  ClientFrame frame;
  google::protobuf::Message* message = FrameMessage(type, &frame);
  if (message == nullptr) {
    return absl::UnimplementedError(absl::StrCat("unknown frame type '", type, "'"));
  }
  if (absl::Status s = ParseJsonInto(text, message); !s.ok()) return s;
  return frame;
}

}  // namespace

std::optional<absl::string_view> ScanFrameType(absl::string_view t) {
  size_t i = SkipSpace(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  i = SkipSpace(t, i + 1);
  while (i < t.size() && t[i] == '"') {
    bool escaped;
    const size_t key_end = SkipString(t, i, &escaped);
    if (key_end == absl::string_view::npos) return std::nullopt;
    const absl::string_view key = t.substr(i + 1, key_end - i - 2);
    i = SkipSpace(t, key_end);
    if (i >= t.size() || t[i] != ':') return std::nullopt;
    i = SkipSpace(t, i + 1);
    if (!escaped && key == "type") {
      if (i >= t.size() || t[i] != '"') return std::nullopt;
      const size_t value_end = SkipString(t, i, &escaped);
      if (value_end == absl::string_view::npos || escaped) return std::nullopt;
      return t.substr(i + 1, value_end - i - 2);
    }
    i = SkipValue(t, i);
    if (i == absl::string_view::npos) return std::nullopt;
    i = SkipSpace(t, i);
    if (i >= t.size() || t[i] != ',') return std::nullopt;
    i = SkipSpace(t, i + 1);
  }
  return std::nullopt;
}

absl::StatusOr<ClientFrame> ParseClientJson(absl::string_view text) {
  if (std::optional<absl::string_view> type = ScanFrameType(text)) {
    return ParseTyped(*type, text);
  }
  // The scan could not tell (no "type", escapes, or malformed JSON): parse
  // "type" the slow way, which also reports what is malformed.
  FrameType type;
  if (absl::Status s = ParseJsonInto(text, &type); !s.ok()) return s;
  return ParseTyped(type.type(), text);
}

absl::StatusOr<ClientFrame> ParseClientBinary(absl::string_view bytes) {
  ClientFrame frame;
  if (!frame.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("malformed binary frame");
  }
  if (frame.frame_case() == ClientFrame::FRAME_NOT_SET) {
    return absl::UnimplementedError("binary frame holds no known frame");
  }
  return frame;
}

std::string FrameJson(const ServerFrame& frame) {
  const auto* oneof = frame.GetDescriptor()->oneof_decl(0);
  const auto* field = frame.GetReflection()->GetOneofFieldDescriptor(frame, oneof);
  if (field == nullptr) return "";
  return ToJson(frame.GetReflection()->GetMessage(frame, field));
}

std::string ChatEventJson(const ChatMessage& message) {
  if (message.type() == "chat_message") return ToJson(message);
  ChatMessage copy = message;
  copy.set_type("chat_message");
  return ToJson(copy);
}

std::string ChatEventBinary(const ChatMessage& message) {
  ServerFrame frame;
  *frame.mutable_chat_message() = message;
  frame.mutable_chat_message()->set_type("chat_message");
  return frame.SerializeAsString();
}

absl::StatusOr<SeedChat> ParseSeedChat(absl::string_view text) {
  SeedChatIn in;
  if (absl::Status s = ParseJsonInto(text, &in); !s.ok()) return s;
  if (!in.type().empty() && in.type() != "chat_message") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported type '", in.type(), "'"));
  }
  SeedChat out;
  out.message = in.message();
  switch (in.id().kind_case()) {
    case google::protobuf::Value::kNumberValue: {
      double v = in.id().number_value();
      if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
        out.nonce = absl::StrFormat("%.0f", v);
      } else {
        out.nonce = absl::StrFormat("%.17g", v);
      }
      break;
    }
    case google::protobuf::Value::kStringValue:
      out.nonce = in.id().string_value();
      break;
    default:
      return absl::InvalidArgumentError("id must be a number or a string");
  }
  return out;
}

namespace {

// ValueText renders a lenient id field: strings as they are, integral numbers
// without a fraction. Empty for null, missing or other kinds.
std::string ValueText(const google::protobuf::Value& v) {
  if (v.kind_case() == google::protobuf::Value::kStringValue) return v.string_value();
  if (v.kind_case() == google::protobuf::Value::kNumberValue) {
    return absl::StrFormat("%.0f", v.number_value());
  }
  return "";
}

}  // namespace

absl::StatusOr<InvitationFrame> ParseSeedInvitation(absl::string_view text) {
  SeedInvitationIn in;
  if (absl::Status s = ParseJsonInto(text, &in); !s.ok()) return s;
  if (in.type() != "invitation" && in.type() != "cancel_invitation" &&
      in.type() != "accept_invitation") {
    return absl::UnimplementedError(absl::StrCat("unknown frame type '", in.type(), "'"));
  }
  InvitationFrame out;
  out.set_type(in.type());
  out.set_invited(ValueText(in.invited()));
  out.set_inviting(ValueText(in.inviting()));
  out.set_server(ValueText(in.server()));
  return out;
}

std::string SeedInvitationJson(const Invitation& invitation) {
  const std::string& type = invitation.type();
  if (type != "invitation" && type != "cancel_invitation" && type != "accept_invitation") {
    return "";
  }
  SeedInvitationOut out;
  out.set_type(type);
  out.set_invited(invitation.invited());
  out.set_invited_img(invitation.invited_img());
  out.set_inviting(invitation.inviting());
  out.set_inviting_img(invitation.inviting_img());
  return ToJson(out);
}

std::string SeedChatJson(const ChatMessage& message) {
  SeedChatOut out;
  out.set_type("chat_message");
  out.set_message(message.message());
  out.set_author(message.author());
  out.set_image(message.image());
  out.set_server(message.server());
  out.set_channel(message.channel());
  const std::string& id = message.id();
  bool numeric = !id.empty() && id.size() <= 15 && (id[0] != '0' || id.size() == 1);
  for (char c : id) numeric = numeric && absl::ascii_isdigit(static_cast<unsigned char>(c));
  double v;
  if (numeric && absl::SimpleAtod(id, &v)) {
    out.mutable_id()->set_number_value(v);
  } else {
    out.mutable_id()->set_string_value(id);
  }
  return ToJson(out);
}

}  // namespace chat::gateway
