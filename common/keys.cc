#include "common/keys.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace chat::keys {

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string UserProfile(absl::string_view u) { return absl::StrCat("{u:", u, "}:profile"); }
std::string UserServers(absl::string_view u) { return absl::StrCat("{u:", u, "}:servers"); }
std::string UserTopic(absl::string_view u) { return absl::StrCat("{u:", u, "}:events"); }
std::string UserFriends(absl::string_view u) { return absl::StrCat("{u:", u, "}:friends"); }
std::string UserPresence(absl::string_view u) { return absl::StrCat("{u:", u, "}:presence"); }
std::string UserSessions(absl::string_view u) { return absl::StrCat("{u:", u, "}:sessions"); }
std::string UserLog(absl::string_view u) { return absl::StrCat("{u:", u, "}:log"); }
std::string UserLogSeq(absl::string_view u) { return absl::StrCat("{u:", u, "}:logseq"); }
std::string UserRollback(absl::string_view u) { return absl::StrCat("{u:", u, "}:rolledback"); }
std::string UserReadState(absl::string_view u) { return absl::StrCat("{u:", u, "}:read"); }
std::string ParseUserTopic(absl::string_view topic) {
  constexpr absl::string_view kPrefix = "{u:", kSuffix = "}:events";
  if (!absl::ConsumePrefix(&topic, kPrefix) || !absl::ConsumeSuffix(&topic, kSuffix)) return "";
  return IsValidId(topic) ? std::string(topic) : "";
}

std::string ServerMeta(absl::string_view s) { return absl::StrCat("{s:", s, "}:meta"); }
std::string ServerChannels(absl::string_view s) { return absl::StrCat("{s:", s, "}:channels"); }
std::string ServerMembers(absl::string_view s) { return absl::StrCat("{s:", s, "}:members"); }
std::string ServerRoles(absl::string_view s) { return absl::StrCat("{s:", s, "}:roles"); }
std::string ServerBans(absl::string_view s) { return absl::StrCat("{s:", s, "}:bans"); }
std::string ServerPresenceTopic(absl::string_view s) {
  return absl::StrCat("{s:", s, "}:presence");
}

std::string ChannelTag(absl::string_view s, absl::string_view c) {
  return absl::StrCat("{c:", s, ":", c, "}");
}
std::string ChannelLog(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":log");
}
std::string ChannelSeq(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":seq");
}
std::string ChannelRollback(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":rolledback");
}
std::string ChannelNonce(absl::string_view s, absl::string_view c, absl::string_view u,
                         absl::string_view nonce) {
  return absl::StrCat(ChannelTag(s, c), ":nonce:", u, ":", nonce);
}
std::string ChannelTyping(absl::string_view s, absl::string_view c, absl::string_view u) {
  return absl::StrCat(ChannelTag(s, c), ":typing:", u);
}
std::string ChannelMentions(absl::string_view s, absl::string_view c, absl::string_view u) {
  return absl::StrCat(ChannelTag(s, c), ":mentions:", u);
}
std::string ChannelRevoked(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":revoked");
}
std::string ChannelSlowMode(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":slowmode");
}
std::string ChannelSlowUser(absl::string_view s, absl::string_view c, absl::string_view u) {
  return absl::StrCat(ChannelTag(s, c), ":slow:", u);
}
std::string ChannelRevised(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":revised");
}
std::string ChannelUncounted(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":uncounted");
}
std::string ReadField(absl::string_view s, absl::string_view c) { return absl::StrCat(s, "/", c); }
std::string ChannelTopic(absl::string_view s, absl::string_view c) {
  return absl::StrCat(ChannelTag(s, c), ":events");
}

std::string PairTag(absl::string_view a, absl::string_view b) {
  if (b < a) std::swap(a, b);
  return absl::StrCat("{p:", a, ":", b, "}");
}
std::string PairInvitation(absl::string_view a, absl::string_view b, absl::string_view server) {
  return absl::StrCat(PairTag(a, b), ":inv:", server.empty() ? "-" : server);
}
std::string PairThrottle(absl::string_view a, absl::string_view b, absl::string_view actor,
                         absl::string_view action) {
  return absl::StrCat(PairTag(a, b), ":throttle:", actor, ":", action);
}
std::string UserInvitations(absl::string_view u) { return absl::StrCat("{u:", u, "}:invitations"); }
std::string UserSentInvitations(absl::string_view u) {
  return absl::StrCat("{u:", u, "}:invitations:sent");
}
std::string UserInviteRate(absl::string_view u) {
  return absl::StrCat("{u:", u, "}:invitations:rate");
}

}  // namespace chat::keys
