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

absl::StatusOr<ClientFrame> ParseClientJson(absl::string_view text) {
  FrameType type;
  if (absl::Status s = ParseJsonInto(text, &type); !s.ok()) return s;
  ClientFrame frame;
  absl::Status s;
  if (type.type() == "identify") {
    s = ParseJsonInto(text, frame.mutable_identify());
  } else if (type.type() == "chat_message") {
    s = ParseJsonInto(text, frame.mutable_chat_message());
  } else if (type.type() == "history") {
    s = ParseJsonInto(text, frame.mutable_history());
  } else if (type.type() == "typing") {
    s = ParseJsonInto(text, frame.mutable_typing());
  } else if (type.type() == "status") {
    s = ParseJsonInto(text, frame.mutable_status());
  } else if (type.type() == "invitation") {
    s = ParseJsonInto(text, frame.mutable_invitation());
  } else if (type.type() == "cancel_invitation") {
    s = ParseJsonInto(text, frame.mutable_cancel_invitation());
  } else if (type.type() == "accept_invitation") {
    s = ParseJsonInto(text, frame.mutable_accept_invitation());
  } else if (type.type().empty()) {
    return absl::UnimplementedError("frame has no type");
  } else {
    return absl::UnimplementedError(absl::StrCat("unknown frame type '", type.type(), "'"));
  }
  if (!s.ok()) return s;
  return frame;
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

std::string ToJson(const google::protobuf::Message& message) {
  pbu::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)pbu::MessageToJsonString(message, &out, options);
  return out;
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
