#include "gateway/identify.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace chat::gateway {

ServerFrame BuildReady(const std::string& session_id, const User& user, UserState state,
                       IdentifyData& data, const ReadySettings& settings) {
  ServerFrame frame;
  Ready* ready = frame.mutable_ready();
  ready->set_type("ready");
  ready->set_session_id(session_id);
  *ready->mutable_user() = user;  // The token is authoritative.
  ready->mutable_servers()->Swap(state.mutable_servers());
  ready->mutable_friends()->Swap(data.friends.mutable_friends());
  ready->mutable_presences()->Swap(data.presences.mutable_presences());
  ready->mutable_invitations()->Swap(data.invitations.mutable_invitations());
  ready->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(settings.heartbeat_interval)));
  ready->set_max_frame_bytes(settings.max_frame_bytes);
  ready->set_max_message_chars(settings.max_message_chars);
  ready->set_chat_rate(settings.chat_rate);
  ready->set_chat_burst(settings.chat_burst);
  ready->set_user_seq(state.user_seq());
  if (settings.token_expires != absl::InfinitePast()) {
    ready->set_token_expires_at(absl::ToUnixMillis(settings.token_expires));
  }
  return frame;
}

void RaiseHeads(const UserState& later, Ready* ready, RaisedCounts counts) {
  if (later.user_seq() > ready->user_seq()) ready->set_user_seq(later.user_seq());
  absl::flat_hash_map<std::string, const Channel*> heads;
  for (const Server& s : later.servers()) {
    for (const Channel& c : s.channels()) heads[absl::StrCat(s.id(), "/", c.id())] = &c;
  }
  for (Server& s : *ready->mutable_servers()) {
    for (Channel& c : *s.mutable_channels()) {
      auto it = heads.find(absl::StrCat(s.id(), "/", c.id()));
      if (it == heads.end() || it->second->head_seq() <= c.head_seq()) continue;
      const Channel& raised = *it->second;
      if (counts == RaisedCounts::kLaterCounts) {
        s.set_unread(s.unread() + raised.unread() - c.unread());
        s.set_mentions(s.mentions() + raised.mentions() - c.mentions());
        c.set_last_read_seq(raised.last_read_seq());
        c.set_unread(raised.unread());
        c.set_mentions(raised.mentions());
      } else {
        c.set_unread(c.unread() + raised.head_seq() - c.head_seq());
        s.set_unread(s.unread() + raised.head_seq() - c.head_seq());
      }
      c.set_head_seq(raised.head_seq());
    }
  }
}

}  // namespace chat::gateway
