#include "gateway/encoded_event.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "common/json.h"
#include "gateway/frame_codec.h"
#include "proto/client.pb.h"

namespace chat::gateway {

bool IsChannelLogEvent(const Event& event) {
  return event.has_chat_message() || event.has_message_update() || event.has_message_delete();
}

EncodedEvent::EncodedEvent(std::string topic, Event event, int64_t seq)
    : topic_(std::move(topic)), event_(std::move(event)), seq_(seq) {}

std::shared_ptr<const EncodedEvent> EncodedEvent::ForMessage(std::string topic,
                                                             ChatMessage message) {
  message.set_type("chat_message");
  const int64_t seq = message.seq();
  Event event;
  *event.mutable_chat_message() = std::move(message);
  return std::make_shared<const EncodedEvent>(std::move(topic), std::move(event), seq);
}

bool EncodedEvent::ToFrame(ServerFrame* frame) const {
  switch (event_.event_case()) {
    case Event::kChatMessage:
      *frame->mutable_chat_message() = event_.chat_message();
      frame->mutable_chat_message()->set_type("chat_message");
      return true;
    case Event::kServerJoined: {
      ServerJoined* joined = frame->mutable_server_joined();
      joined->set_type("server_joined");
      *joined->mutable_server() = event_.server_joined();
      joined->set_user_seq(seq_);
      return true;
    }
    case Event::kChannelCreated: {
      ChannelCreated* created = frame->mutable_channel_created();
      created->set_type("channel_created");
      *created->mutable_channel() = event_.channel_created();
      created->set_user_seq(seq_);
      return true;
    }
    case Event::kInvitation:
      *frame->mutable_invitation() = event_.invitation();
      frame->mutable_invitation()->set_user_seq(seq_);
      return true;
    case Event::kReadState:
      *frame->mutable_read_state() = event_.read_state();
      frame->mutable_read_state()->set_type("read_state");
      frame->mutable_read_state()->set_user_seq(seq_);
      return true;
    case Event::kPresence:
      *frame->mutable_presence() = event_.presence();
      return true;
    case Event::kMessageUpdate:
      *frame->mutable_message_update() = event_.message_update();
      frame->mutable_message_update()->set_type("message_update");
      return true;
    case Event::kMessageDelete:
      *frame->mutable_message_delete() = event_.message_delete();
      frame->mutable_message_delete()->set_type("message_delete");
      return true;
    case Event::kTyping:
      *frame->mutable_typing() = event_.typing();
      return true;
    case Event::kServerRemoved:
      *frame->mutable_server_removed() = event_.server_removed();
      frame->mutable_server_removed()->set_type("server_removed");
      frame->mutable_server_removed()->set_user_seq(seq_);
      return true;
    case Event::kLogRollback: {
      const LogRollback& r = event_.log_rollback();
      ResyncRequired* resync = frame->mutable_resync_required();
      resync->set_type("resync_required");
      resync->set_scope(r.user_id().empty() ? "channel" : "personal");
      resync->set_server(r.server());
      resync->set_channel(r.channel());
      resync->set_from_seq(r.from_seq());
      resync->set_to_seq(r.to_seq());
      resync->set_reason("rolled_back");
      return true;
    }
    default:
      return false;
  }
}

const std::string& EncodedEvent::Json() const {
  absl::call_once(json_once_, [this] {
    // The hot path: a chat message prints without the frame around it.
    if (event_.has_chat_message()) {
      json_ = ChatEventJson(event_.chat_message());
      return;
    }
    ServerFrame frame;
    if (ToFrame(&frame)) json_ = FrameJson(frame);
  });
  return json_;
}

const std::string& EncodedEvent::Binary() const {
  absl::call_once(binary_once_, [this] {
    ServerFrame frame;
    if (ToFrame(&frame)) binary_ = frame.SerializeAsString();
  });
  return binary_;
}

const std::string& EncodedEvent::SeedJson() const {
  absl::call_once(seed_once_, [this] {
    // A deleted message (a tombstone a gap fill read) is nothing the seed shows.
    if (event_.has_chat_message() && !event_.chat_message().deleted()) {
      seed_ = SeedChatJson(event_.chat_message());
    }
    if (event_.has_invitation()) seed_ = SeedInvitationJson(event_.invitation());
  });
  return seed_;
}

absl::StatusOr<std::shared_ptr<const EncodedEvent>> DecodeTopicPayload(std::string topic,
                                                                       absl::string_view payload) {
  size_t space = payload.find(' ');
  int64_t seq = 0;
  if (space == absl::string_view::npos || !absl::SimpleAtoi(payload.substr(0, space), &seq) ||
      seq < 0) {
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
  if (event.has_message_update()) event.mutable_message_update()->set_seq(seq);
  if (event.has_message_delete()) event.mutable_message_delete()->set_seq(seq);
  return std::make_shared<const EncodedEvent>(std::move(topic), std::move(event), seq);
}

TailPage PageOfMessages(const std::string& topic, HistoryResponse reply) {
  TailPage page;
  page.head_seq = reply.head_seq();
  page.oldest_seq = reply.oldest_seq();
  page.lost_from = reply.lost_from();
  page.lost_to = reply.lost_to();
  page.events.reserve(reply.messages_size() + reply.updates_size() + reply.deletes_size());
  for (ChatMessage& m : *reply.mutable_messages()) {
    page.events.push_back(EncodedEvent::ForMessage(topic, std::move(m)));
  }
  if (reply.updates_size() + reply.deletes_size() == 0) return page;
  for (MessageUpdate& u : *reply.mutable_updates()) {
    Event e;
    const int64_t seq = u.seq();
    *e.mutable_message_update() = std::move(u);
    page.events.push_back(std::make_shared<const EncodedEvent>(topic, std::move(e), seq));
  }
  for (MessageDelete& d : *reply.mutable_deletes()) {
    Event e;
    const int64_t seq = d.seq();
    *e.mutable_message_delete() = std::move(d);
    page.events.push_back(std::make_shared<const EncodedEvent>(topic, std::move(e), seq));
  }
  std::stable_sort(page.events.begin(), page.events.end(),
                   [](const auto& a, const auto& b) { return a->seq() < b->seq(); });
  return page;
}

TailPage PageOfPersonal(const std::string& topic, PersonalTailResponse reply) {
  TailPage page;
  page.head_seq = reply.head_seq();
  page.oldest_seq = reply.oldest_seq();
  page.lost_from = reply.lost_from();
  page.lost_to = reply.lost_to();
  page.events.reserve(reply.events_size());
  for (PersonalEvent& e : *reply.mutable_events()) {
    page.events.push_back(
        std::make_shared<const EncodedEvent>(topic, std::move(*e.mutable_event()), e.user_seq()));
  }
  return page;
}

}  // namespace chat::gateway
