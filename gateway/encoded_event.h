// EncodedEvent: one event published on a Redis topic, decoded once, with each
// of its wire forms encoded on first use and then shared by every recipient.
#ifndef CHATSUITE_GATEWAY_ENCODED_EVENT_H_
#define CHATSUITE_GATEWAY_ENCODED_EVENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/events.pb.h"

namespace chat::gateway {

// EncodedEvent is immutable apart from its cache of wire forms; thread-safe.
class EncodedEvent {
 public:
  EncodedEvent(std::string topic, Event event);
  // ForMessage wraps a chat message read from a channel's log (not from pub/sub).
  static std::shared_ptr<const EncodedEvent> ForMessage(std::string topic, ChatMessage message);

  const std::string& topic() const { return topic_; }
  const Event& event() const { return event_; }
  // seq is the chat message's sequence number; 0 for other events.
  int64_t seq() const { return event_.has_chat_message() ? event_.chat_message().seq() : 0; }

  // Wire forms. Json and Binary exist for every event kind the client
  // protocol knows (empty for others); SeedJson only for chat messages and the
  // seed's invitation events (empty otherwise, so seed sockets skip them).
  const std::string& Json() const;
  const std::string& Binary() const;
  const std::string& SeedJson() const;

 private:
  std::string topic_;
  Event event_;
  mutable absl::once_flag json_once_, binary_once_, seed_once_;
  mutable std::string json_, binary_, seed_;
};

// ParseTopicPayload decodes "<seq> <Event bytes>"; the seq goes into the chat
// message, which is also given its wire "type". kInvalidArgument when
// malformed.
absl::StatusOr<Event> ParseTopicPayload(absl::string_view payload);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_ENCODED_EVENT_H_
