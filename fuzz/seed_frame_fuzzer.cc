// Fuzzes what the seed-compatible endpoints accept: a frame on
// /ws/chat/<server>/<channel>/ and on /ws/personal/<user>/ (the first input
// byte picks the endpoint, the rest is the frame). Besides not crashing, it
// checks that a chat frame can only ever post to its socket's own channel,
// and that a decoded chat text survives the seed's encoding unchanged.
#include <cstdint>

#include "fuzz/check.h"
#include "gateway/frame_codec.h"
#include "gateway/seed_endpoints.h"

namespace {

using chat::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace gw = chat::gateway;
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  gw::SessionRoute route;
  route.mode = data[0] % 2 == 0 ? gw::SessionMode::kSeedChat : gw::SessionMode::kSeedPersonal;
  route.server = "demo";
  route.channel = "general";
  route.path_user = "bob";

  auto frame = gw::SeedFrameToClient(route, text);
  if (frame.ok() && frame->has_chat_message()) {
    Check(route.mode == gw::SessionMode::kSeedChat);
    Check(frame->chat_message().server() == "demo" && frame->chat_message().channel() == "general");
  }
  if (auto chat = gw::ParseSeedChat(text); chat.ok()) {
    chat::ChatMessage m;
    m.set_server("demo");
    m.set_channel("general");
    m.set_message(chat->message);
    m.set_id(chat->nonce);
    auto back = gw::ParseSeedChat(gw::SeedChatJson(m));
    Check(back.ok() && back->message == chat->message);
  }
  if (auto invitation = gw::ParseSeedInvitation(text); invitation.ok()) {
    chat::Invitation event;
    event.set_type("invitation");
    event.set_inviting(invitation->inviting());
    event.set_invited(invitation->invited());
    (void)gw::SeedInvitationJson(event);
  }
  return 0;
}
