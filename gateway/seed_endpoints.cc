#include "gateway/seed_endpoints.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/keys.h"
#include "gateway/frame_codec.h"

namespace chat::gateway {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

std::string UrlDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string QueryParam(absl::string_view target, absl::string_view name) {
  size_t q = target.find('?');
  if (q == absl::string_view::npos) return "";
  for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&')) {
    size_t eq = pair.find('=');
    if (eq != absl::string_view::npos && pair.substr(0, eq) == name) {
      return UrlDecode(pair.substr(eq + 1));
    }
  }
  return "";
}

std::optional<SessionRoute> ParseRoute(absl::string_view target) {
  absl::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  SessionRoute route;
  if (parts.size() == 1 && parts[0] == "ws") {
    route.mode = SessionMode::kNative;
  } else if (parts.size() == 4 && parts[0] == "ws" && parts[1] == "chat" &&
             keys::IsValidId(parts[2]) && keys::IsValidId(parts[3])) {
    route.mode = SessionMode::kSeedChat;
    route.server = parts[2];
    route.channel = parts[3];
    route.token = QueryParam(target, "token");
  } else if (parts.size() == 3 && parts[0] == "ws" && parts[1] == "personal" &&
             keys::IsValidId(parts[2])) {
    route.mode = SessionMode::kSeedPersonal;
    route.path_user = parts[2];
    route.token = QueryParam(target, "token");
  } else {
    return std::nullopt;
  }
  return route;
}

absl::StatusOr<ClientFrame> SeedFrameToClient(const SessionRoute& route, absl::string_view text) {
  ClientFrame frame;
  if (route.mode == SessionMode::kSeedPersonal) {
    absl::StatusOr<InvitationFrame> f = ParseSeedInvitation(text);
    if (!f.ok()) return f.status();
    if (f->type() == "invitation") {
      *frame.mutable_invitation() = *std::move(f);
    } else if (f->type() == "accept_invitation") {
      *frame.mutable_accept_invitation() = *std::move(f);
    } else {
      *frame.mutable_cancel_invitation() = *std::move(f);
    }
    return frame;
  }
  absl::StatusOr<SeedChat> seed = ParseSeedChat(text);
  if (!seed.ok()) return seed.status();
  SendChat* chat = frame.mutable_chat_message();
  chat->set_server(route.server);
  chat->set_channel(route.channel);
  chat->set_message(std::move(seed->message));
  chat->set_id(std::move(seed->nonce));
  return frame;
}

bool IsChannelMember(const UserState& state, const std::string& server,
                     const std::string& channel) {
  for (const Server& s : state.servers()) {
    if (s.id() != server) continue;
    for (const Channel& c : s.channels()) {
      if (c.id() == channel) return true;
    }
  }
  return false;
}

}  // namespace chat::gateway
