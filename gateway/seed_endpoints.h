// The seed-compatible endpoints, /ws/chat/<server>/<channel>/ and
// /ws/personal/<user>/, and the native /ws: routing an upgrade to its mode,
// and turning the seed's frames into the native ClientFrame the session
// handles, so both protocols share one request path. Pure functions.
#ifndef CHATSUITE_GATEWAY_SEED_ENDPOINTS_H_
#define CHATSUITE_GATEWAY_SEED_ENDPOINTS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/chat.pb.h"
#include "proto/client.pb.h"

namespace chat::gateway {

enum class SessionMode {
  kNative,        // /ws: the full protocol, JSON or binary frames.
  kSeedChat,      // /ws/chat/<server>/<channel>/?token=: the seed's chat JSON.
  kSeedPersonal,  // /ws/personal/<user>/?token=: the seed's invitation JSON.
};

struct SessionRoute {
  SessionMode mode = SessionMode::kNative;
  std::string server, channel;  // kSeedChat
  // kSeedPersonal: the <user> of the path. The seed connects to the other
  // party's path to reach them, so it only serves as the default counterparty;
  // the socket itself only ever receives its token user's events.
  std::string path_user;
  std::string token;  // Seed endpoints: from ?token=
};

// ParseRoute maps an upgrade's request target (path and query) to its route;
// nullopt for a path that is no WebSocket endpoint or names an invalid id.
std::optional<SessionRoute> ParseRoute(absl::string_view target);

// QueryParam returns the URL-decoded value of name in target's query string;
// empty when absent.
std::string QueryParam(absl::string_view target, absl::string_view name);

// SeedFrameToClient turns a frame received on a seed endpoint into the
// native frame with the same meaning: a chat_message to the route's channel
// (whatever server or channel the frame names), or an invitation frame.
// kInvalidArgument when malformed, kUnimplemented for an unknown type.
absl::StatusOr<ClientFrame> SeedFrameToClient(const SessionRoute& route, absl::string_view text);

// IsChannelMember: state lists channel among server's channels.
bool IsChannelMember(const UserState& state, const std::string& server, const std::string& channel);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_SEED_ENDPOINTS_H_
