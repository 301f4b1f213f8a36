// Fuzzes what a native /ws socket accepts: a text frame (the JSON decoder and
// its type scan) and a binary frame (the protobuf decoder), then what the
// session does with a decoded frame (the upstream request it builds).
// Besides not crashing, it checks that a decoded frame always names a frame,
// that a binary frame survives a round trip, and that no frame can choose
// the author or inviter of the request it becomes.
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>

#include "fuzz/check.h"
#include "gateway/frame_codec.h"
#include "gateway/requests.h"

namespace {

using chat::ClientFrame;
using chat::User;

using chat::fuzz::Check;

const User& Me() {
  static const User* me = [] {
    auto* u = new User;
    u->set_id("alice");
    u->set_name("Alice");
    return u;
  }();
  return *me;
}

void BuildRequests(const ClientFrame& frame) {
  namespace gw = chat::gateway;
  Check(frame.frame_case() != ClientFrame::FRAME_NOT_SET);
  switch (frame.frame_case()) {
    case ClientFrame::kChatMessage: {
      auto send = gw::BuildSend(Me(), frame.chat_message(), 2000);
      if (send.ok()) Check(send->author().id() == "alice" && send->author().name() == "Alice");
      break;
    }
    case ClientFrame::kHistory:
      Check(gw::BuildHistory("alice", frame.history()).user_id() == "alice");
      break;
    case ClientFrame::kRead:
      Check(gw::BuildMarkRead("alice", frame.read()).user_id() == "alice");
      break;
    case ClientFrame::kInvitation: {
      auto call = gw::BuildInvitation(frame.frame_case(), Me(), frame.invitation(), "bob");
      Check(call.invite.inviter().id() == "alice");
      break;
    }
    case ClientFrame::kAcceptInvitation:
    case ClientFrame::kCancelInvitation: {
      const auto& f = frame.frame_case() == ClientFrame::kAcceptInvitation
                          ? frame.accept_invitation()
                          : frame.cancel_invitation();
      auto call = gw::BuildInvitation(frame.frame_case(), Me(), f, "bob");
      const auto& t = call.transition;
      Check(t.actor().id() == "alice" && (t.inviting() == "alice" || t.invited() == "alice"));
      break;
    }
    case ClientFrame::kTyping:
      Check(gw::BuildTyping(Me(), frame.typing()).user().id() == "alice");
      break;
    case ClientFrame::kStatus:
      (void)gw::IsPresenceStatus(frame.status().status());
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace gw = chat::gateway;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  (void)gw::ScanFrameType(input);
  if (auto text = gw::ParseClientJson(input); text.ok()) BuildRequests(*text);
  if (auto binary = gw::ParseClientBinary(input); binary.ok()) {
    BuildRequests(*binary);
    auto again = gw::ParseClientBinary(binary->SerializeAsString());
    Check(again.ok() && google::protobuf::util::MessageDifferencer::Equals(*binary, *again));
  }
  return 0;
}
