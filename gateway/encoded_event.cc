#include "gateway/encoded_event.h"

#include "absl/strings/numbers.h"
#include "common/json.h"
#include "gateway/frame_codec.h"
#include "proto/client.pb.h"

namespace chat::gateway {

EncodedEvent::EncodedEvent(std::string topic, Event event)
    : topic_(std::move(topic)), event_(std::move(event)) {}

std::shared_ptr<const EncodedEvent> EncodedEvent::ForMessage(std::string topic,
                                                             ChatMessage message) {
  message.set_type("chat_message");
  Event event;
  *event.mutable_chat_message() = std::move(message);
  return std::make_shared<const EncodedEvent>(std::move(topic), std::move(event));
}

const std::string& EncodedEvent::Json() const {
  absl::call_once(json_once_, [this] {
    switch (event_.event_case()) {
      case Event::kChatMessage:
        json_ = ChatEventJson(event_.chat_message());
        break;
      case Event::kServerJoined: {
        ServerJoined joined;
        joined.set_type("server_joined");
        *joined.mutable_server() = event_.server_joined();
        json_ = ToJson(joined);
        break;
      }
      case Event::kInvitation:
        json_ = ToJson(event_.invitation());
        break;
      case Event::kPresence:
        json_ = ToJson(event_.presence());
        break;
      case Event::kTyping:
        json_ = ToJson(event_.typing());
        break;
      default:
        break;
    }
  });
  return json_;
}

const std::string& EncodedEvent::Binary() const {
  absl::call_once(binary_once_, [this] {
    switch (event_.event_case()) {
      case Event::kChatMessage:
        binary_ = ChatEventBinary(event_.chat_message());
        break;
      case Event::kServerJoined: {
        ServerFrame frame;
        frame.mutable_server_joined()->set_type("server_joined");
        *frame.mutable_server_joined()->mutable_server() = event_.server_joined();
        binary_ = frame.SerializeAsString();
        break;
      }
      case Event::kInvitation: {
        ServerFrame frame;
        *frame.mutable_invitation() = event_.invitation();
        binary_ = frame.SerializeAsString();
        break;
      }
      case Event::kPresence: {
        ServerFrame frame;
        *frame.mutable_presence() = event_.presence();
        binary_ = frame.SerializeAsString();
        break;
      }
      case Event::kTyping: {
        ServerFrame frame;
        *frame.mutable_typing() = event_.typing();
        binary_ = frame.SerializeAsString();
        break;
      }
      default:
        break;
    }
  });
  return binary_;
}

const std::string& EncodedEvent::SeedJson() const {
  absl::call_once(seed_once_, [this] {
    if (event_.has_chat_message()) seed_ = SeedChatJson(event_.chat_message());
    if (event_.has_invitation()) seed_ = SeedInvitationJson(event_.invitation());
  });
  return seed_;
}

absl::StatusOr<Event> ParseTopicPayload(absl::string_view payload) {
  size_t space = payload.find(' ');
  int64_t seq = 0;
  if (space == absl::string_view::npos || !absl::SimpleAtoi(payload.substr(0, space), &seq)) {
    return absl::InvalidArgumentError("topic payload has no seq prefix");
  }
  Event event;
  if (!event.ParseFromArray(payload.data() + space + 1,
                            static_cast<int>(payload.size() - space - 1))) {
    return absl::InvalidArgumentError("undecodable event");
  }
  if (event.has_chat_message()) {
    event.mutable_chat_message()->set_seq(seq);
    event.mutable_chat_message()->set_type("chat_message");
  }
  return event;
}

}  // namespace chat::gateway
