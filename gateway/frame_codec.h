// Conversions between WebSocket frames and the protobuf messages of
// proto/client.proto: the proto3 JSON mapping (original field names, every
// field printed) for browsers, binary protobuf for native clients, and the
// seed's exact JSON for the seed-compatible endpoints. Pure functions.
#ifndef CHATSUITE_GATEWAY_FRAME_CODEC_H_
#define CHATSUITE_GATEWAY_FRAME_CODEC_H_

#include <google/protobuf/message.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/json.h"
#include "proto/client.pb.h"
#include "proto/common.pb.h"
#include "proto/invite.pb.h"

namespace chat::gateway {

// ParseClientJson parses a text frame, once: the top-level "type" is found by
// a scan of the text, then only the message it names is parsed (a frame the
// scan cannot read falls back to parsing "type" first). kInvalidArgument: not
// a JSON object, or a field of the wrong type (message says which).
// kUnimplemented: "type" is missing or names no client frame. Unknown fields
// are ignored.
absl::StatusOr<ClientFrame> ParseClientJson(absl::string_view text);

// ScanFrameType returns the value of the top-level "type" key of a JSON
// object when it is a string without escapes; nullopt when there is none or
// the text is not such an object (the caller then parses it in full).
std::optional<absl::string_view> ScanFrameType(absl::string_view text);

// ParseClientBinary parses a binary frame holding a ClientFrame.
// kInvalidArgument when undecodable, kUnimplemented when no frame is set.
absl::StatusOr<ClientFrame> ParseClientBinary(absl::string_view bytes);

// FrameJson is a server frame as browsers receive it: the JSON of the message
// set in its oneof (every one carries its own "type").
std::string FrameJson(const ServerFrame& frame);

// ChatEventJson is the chat_message event as browsers receive it.
std::string ChatEventJson(const ChatMessage& message);

// ChatEventBinary is the chat_message event as native clients receive it.
std::string ChatEventBinary(const ChatMessage& message);

// SeedChat is what a seed frontend's chat frame asks for.
struct SeedChat {
  std::string message;
  std::string nonce;  // The seed's numeric Date.now() id, printed as an integer.
};

// ParseSeedChat parses a frame from /ws/chat/<server>/<channel>/. Author,
// image, server and channel in it are ignored. kInvalidArgument when it is not
// a chat_message with a message string.
absl::StatusOr<SeedChat> ParseSeedChat(absl::string_view text);

// SeedChatJson is a chat message in exactly the seed's shape: type, message,
// author, image, server, channel, id (a JSON number when the nonce is a
// decimal integer of up to 15 digits, as the seed's Date.now() ids are).
std::string SeedChatJson(const ChatMessage& message);

// ParseSeedInvitation parses a frame from /ws/personal/<user>/: the seed's
// invitation, cancel_invitation or accept_invitation with invited/inviting
// (strings or numbers). kInvalidArgument when malformed, kUnimplemented for
// another type.
absl::StatusOr<InvitationFrame> ParseSeedInvitation(absl::string_view text);

// SeedInvitationJson is an invitation event in the seed's shape: type,
// invited, invited_img, inviting, inviting_img. Empty for event types the
// seed does not know (invitation_expired).
std::string SeedInvitationJson(const Invitation& invitation);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_FRAME_CODEC_H_
