// ClientSession: the client protocol of one WebSocket (docs/protocol.md), on
// top of its transport (WebsocketSession). It identifies the client, turns
// each frame into an upstream request (requests.h) and each reply into a
// frame, keeps the session's topic subscriptions, and filters and encodes the
// events that reach it. The seed endpoints run through the same paths, their
// frames translated (seed_endpoints.h) and their events in the seed's shape.
//
// Everything runs on the socket's strand; upstream replies are posted back
// to it, holding the socket alive until they have been handled.
#ifndef CHATSUITE_GATEWAY_CLIENT_SESSION_H_
#define CHATSUITE_GATEWAY_CLIENT_SESSION_H_

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/async.h"
#include "gateway/auth.h"
#include "gateway/channel_sequencer.h"
#include "gateway/encoded_event.h"
#include "gateway/identify.h"
#include "gateway/rate_limiter.h"
#include "gateway/seed_endpoints.h"
#include "proto/client.pb.h"

namespace chat::gateway {

class Gateway;
class WebsocketSession;

class ClientSession {
 public:
  // socket owns this object; gateway outlives both.
  ClientSession(WebsocketSession* socket, Gateway* gateway, SessionRoute route);
  ~ClientSession();

  // OnOpen runs once the upgrade is accepted.
  void OnOpen();
  // OnFrame handles one received frame; data is valid during the call only.
  void OnFrame(absl::string_view data, bool text);
  // OnEvent handles one event of a subscribed topic.
  void OnEvent(const std::shared_ptr<const EncodedEvent>& event);
  // Leave undoes the session's registrations (topics, presence) when its
  // socket ends while the gateway keeps running.
  void Leave();
  // OnClosing: the socket is closing; timers stop.
  void OnClosing();

  // binary: the client speaks binary protobuf (decided by its identify).
  bool binary() const { return binary_; }

 private:
  // OnStrand wraps f into a Done<T> that runs f(result) on the strand,
  // keeping the socket (and so this object) alive until then.
  template <typename T, typename F>
  Done<T> OnStrand(F f);

  void Dispatch(ClientFrame frame);
  void Identify(const std::string& token);
  void OnIdentifyData(IdentifyData& data);
  void OnTopicLive();
  void FinishIdentify();
  void OnSendChat(SendChat frame);
  void OnGetHistory(const GetHistory& frame);
  void OnInvitationFrame(ClientFrame::FrameCase kind, const InvitationFrame& frame);
  void OnTyping(const TypingFrame& frame);
  void OnStatus(const StatusFrame& frame);
  void OnServerJoined(const Server& server);
  void OnInvitationEvent(const Invitation& invitation);
  SessionRef PresenceRef() const;

  // Subscribe adds the session to topic. With await_live, the pending ready
  // (or seed identification) waits until Redis has confirmed the topic.
  void Subscribe(const std::string& topic, bool await_live = false);
  // Forward queues an event's bytes in the session's wire form.
  void Forward(const std::shared_ptr<const EncodedEvent>& event);
  // SendFrame encodes frame in the session's format and queues it.
  void SendFrame(const ServerFrame& frame);
  // SendError queues an error frame (code as in docs/protocol.md).
  void SendError(const std::string& code, const std::string& message, const std::string& id,
                 absl::Duration retry_after = absl::ZeroDuration());
  // SendStatusError maps a failed request's status to its error frame.
  void SendStatusError(const absl::Status& status, const std::string& id);
  // Reject answers a frame refused by a rate limit; sustained abuse closes.
  void Reject(const std::string& id, absl::Duration retry_after);
  // AtRequestLimit: as many upstream requests in flight as allowed.
  bool AtRequestLimit() const;

  WebsocketSession* socket_;
  Gateway* gateway_;
  SessionRoute route_;
  boost::asio::steady_timer identify_timer_;

  bool identifying_ = false;
  bool identified_ = false;
  bool binary_ = false;  // The client spoke binary protobuf.
  int inflight_ = 0;
  int awaiting_topics_ = 0;
  std::unique_ptr<ServerFrame> pending_ready_;  // Sent once topics are live.
  static constexpr size_t kMaxEarlyEvents = 1024;
  std::vector<std::shared_ptr<const EncodedEvent>> early_events_;  // Before ready.
  Identity identity_;
  std::string presence_status_ = "online";
  std::string session_id_;
  absl::flat_hash_set<std::string> topics_;
  // Channels joined during the session catch up from the head they were
  // announced with: their messages pass through a sequencer of their own.
  absl::flat_hash_map<std::string, std::unique_ptr<ChannelSequencer>> catch_ups_;
  // Last typing relay per "server/channel": typing is dropped, not queued,
  // within the interval. Bounded by kMaxTypingChannels.
  absl::flat_hash_map<std::string, absl::Time> last_typing_;
  static constexpr size_t kMaxTypingChannels = 1024;
  TokenBucket frame_bucket_, abuse_bucket_;
  std::shared_ptr<SharedTokenBucket> chat_budget_;  // Per user, shared by their sessions.
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_CLIENT_SESSION_H_
