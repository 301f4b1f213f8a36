// EncodedEvent: one event published on a Redis topic, decoded once, with each
// of its wire forms encoded on first use and then shared by every recipient.
#ifndef CHATSUITE_GATEWAY_ENCODED_EVENT_H_
#define CHATSUITE_GATEWAY_ENCODED_EVENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/chat.pb.h"
#include "proto/client.pb.h"
#include "proto/events.pb.h"

namespace chat::gateway {

// IsChannelLogEvent: a kind a channel's log holds (a chat message, an edit
// or a delete), sequenced by the channel's seq.
bool IsChannelLogEvent(const Event& event);

// EncodedEvent is immutable apart from its cache of wire forms; thread-safe.
class EncodedEvent {
 public:
  // seq: the event's place in its stream (a chat message's seq, a personal
  // event's user_seq); 0 for unsequenced events.
  EncodedEvent(std::string topic, Event event, int64_t seq = 0);
  // ForMessage wraps a chat message read from a channel's log (not from pub/sub).
  static std::shared_ptr<const EncodedEvent> ForMessage(std::string topic, ChatMessage message);

  const std::string& topic() const { return topic_; }
  const Event& event() const { return event_; }
  int64_t seq() const { return seq_; }
  // personal: a sequenced event of a user's personal stream.
  bool personal() const { return seq_ > 0 && !IsChannelLogEvent(event_); }

  // ToFrame fills frame with the event as the client protocol sends it
  // (personal events carry their user_seq); false for kinds it has none.
  bool ToFrame(ServerFrame* frame) const;

  // Wire forms. Json and Binary exist for every event kind the client
  // protocol knows (empty for others); SeedJson only for chat messages and the
  // seed's invitation events (empty otherwise, so seed sockets skip them).
  const std::string& Json() const;
  const std::string& Binary() const;
  const std::string& SeedJson() const;

 private:
  std::string topic_;
  Event event_;
  int64_t seq_;
  mutable absl::once_flag json_once_, binary_once_, seed_once_;
  mutable std::string json_, binary_, seed_;
};

// DecodeTopicPayload decodes "<seq> <Event bytes>" published on topic; a chat
// message also gets the seq and its wire "type". kInvalidArgument when
// malformed.
absl::StatusOr<std::shared_ptr<const EncodedEvent>> DecodeTopicPayload(std::string topic,
                                                                       absl::string_view payload);

// TailPage is a slice of a stream's log (a channel's messages or a user's
// personal events), ascending seq, as the sequencers read it.
struct TailPage {
  std::vector<std::shared_ptr<const EncodedEvent>> events;
  int64_t head_seq = 0;
  int64_t oldest_seq = 0;              // 0 when the log is empty.
  int64_t lost_from = 0, lost_to = 0;  // The last range Redis lost (0, 0: none).
};

// PageOfMessages and PageOfPersonal turn the chat service's log reads into
// pages of events of topic; a channel's messages, edits and deletes are
// merged into one seq order.
TailPage PageOfMessages(const std::string& topic, HistoryResponse reply);
TailPage PageOfPersonal(const std::string& topic, PersonalTailResponse reply);

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_ENCODED_EVENT_H_
