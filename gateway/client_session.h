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
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/async.h"
#include "common/fifo.h"
#include "common/request_context.h"
#include "gateway/auth.h"
#include "gateway/channel_sequencer.h"
#include "gateway/delivery_watch.h"
#include "gateway/encoded_event.h"
#include "gateway/identify.h"
#include "gateway/rate_limiter.h"
#include "gateway/seed_endpoints.h"
#include "gateway/session_limits.h"
#include "proto/chat.pb.h"
#include "proto/client.pb.h"

namespace chat::gateway {

class Gateway;
class Upstream;
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
  // OnWritten: a queued frame went out; history requests waiting for room
  // in the outbound queue may start.
  void OnWritten();

  // requests_in_flight: upstream requests whose replies are still to come.
  int requests_in_flight() const { return inflight_; }

  // binary: the client speaks binary protobuf (decided by its identify).
  bool binary() const { return binary_; }

 private:
  // OnStrand wraps f into a Done<T> that runs f(result) on the strand,
  // keeping the socket (and so this object) alive until then.
  template <typename T, typename F>
  Done<T> OnStrand(F f);

  void Dispatch(ClientFrame frame);
  void Identify(const std::string& token);
  // ArmTokenTimer closes the session with 4003 when the token expires.
  void ArmTokenTimer();
  void OnIdentifyData(IdentifyData& data);
  void OnTopicLive();
  // PassedHeads: ready's streams, each at the highest seq the topic registry
  // has passed on (for RaiseHeads).
  UserState PassedHeads(const Ready& ready) const;
  // DropRemovedServers takes out of ready (and unsubscribes) each server
  // the re-read state `now` no longer lists.
  void DropRemovedServers(const UserState& now, Ready* ready);
  // RecheckSeedMembership reads the user's state once a seed chat socket's
  // topic is live and closes it (kRemoved) if the channel is no longer theirs.
  void RecheckSeedMembership();
  void FinishIdentify();
  void OnSendChat(SendChat frame);
  // Edits and deletes go to the chat service; the reply is an ack (with the
  // event's seq) or an error frame. Revise runs either call.
  void OnEditMessage(EditMessage frame);
  void OnDeleteMessage(const DeleteMessage& frame);
  // Moderation frames go to the chat service as the token's user; the
  // reply is an ack (seq 0) or an error frame.
  void OnModerate(const char* action, const ModerateFrame& frame);
  void OnSetSlowMode(const SlowModeFrame& frame);
  void Revise(std::string id, std::string server, std::string channel,
              absl::AnyInvocable<void(Upstream&, Done<RevisionResponse>)> call);
  void OnGetHistory(const GetHistory& frame);
  void OnInvitationFrame(ClientFrame::FrameCase kind, const InvitationFrame& frame);
  void OnTyping(const TypingFrame& frame);
  void OnStatus(const StatusFrame& frame);
  void OnRead(const ReadFrame& frame);
  void OnRefresh(const RefreshFrame& frame);
  // SetWatchFloors tells the delivery watch what the client holds at ready.
  void SetWatchFloors(const Ready& ready);
  // OnHeartbeat judges the client's watermarks (delivery_watch.h).
  void OnHeartbeat(const HeartbeatFrame& frame);
  // Watch judges one stream's watermark; refills it when stalled, probes
  // its log head now and then when it looks current.
  void Watch(const std::string& topic, int64_t watermark, const std::string& server,
             const std::string& channel, absl::Time now);
  // Refill sends a stalled stream again from watermark: through the
  // gateway's own sequencer when the gateway never passed missing_to on,
  // else through a catch-up of this session.
  void Refill(const std::string& topic, int64_t watermark, int64_t missing_to,
              const std::string& server, const std::string& channel);
  // HistoryFits: a history reply that may take need bytes can start now.
  bool HistoryFits(size_t need) const;
  // StartHistory runs a history request whose reply bytes fit the budget.
  void StartHistory(GetHistory frame);
  // StartWaitingHistory starts waiting history requests, in order, while
  // they fit.
  void StartWaitingHistory();
  void OnServerJoined(const Server& server);
  // OnAccessRevoked ends the session's following of every topic of server
  // (the user was removed or banned): access_revoked on one of its channel
  // topics, or server_removed on the user's.
  void OnAccessRevoked(const std::string& server);
  void OnChannelCreated(const Channel& channel);
  void OnInvitationEvent(const Invitation& invitation);
  SessionRef PresenceRef() const;

  // Subscribe adds the session to topic. With await_live, the pending ready
  // (or seed identification) waits until Redis has confirmed the topic.
  void Subscribe(const std::string& topic, bool await_live = false);
  // TakeTopic records topic as followed; false when it already is, or when
  // the session is at --max_topics_per_session (then it is closed with 4012).
  bool TakeTopic(const std::string& topic);
  // Deliver acts on an event in stream order (new servers and channels are
  // subscribed) and forwards it.
  void Deliver(const std::shared_ptr<const EncodedEvent>& event);
  // Forward queues an event's bytes in the session's wire form.
  void Forward(const std::shared_ptr<const EncodedEvent>& event);
  // CatchUp makes topic's sequenced events pass through a sequencer of this
  // session that starts after `from` and reads what it lacks from fetch; the
  // caller starts the read (CatchUpFrom) once the topic is live. Events the
  // log no longer holds are reported with lost_template's resync_required.
  ChannelSequencer* CatchUp(const std::string& topic, ChannelSequencer::FetchTail fetch,
                            int64_t from, ResyncRequired lost_template);
  ChannelSequencer::FetchTail ChannelFetch(const std::string& server, const std::string& channel);
  ChannelSequencer::FetchTail PersonalFetch();
  // StartResume starts the catch-up of every stream the resume cursors name;
  // "resumed" follows once all have caught up.
  void StartResume();
  void OnResumeStreamDone();
  // EndCatchUp drops topic's sequencer once it has caught up, so later
  // events of that topic go straight through.
  void EndCatchUp(const std::string& topic);
  // SendFrame encodes frame in the session's format and queues it.
  void SendFrame(const ServerFrame& frame);
  // SendError queues an error frame (code as in docs/protocol.md).
  void SendError(const std::string& code, const std::string& message, const std::string& id,
                 absl::Duration retry_after = absl::ZeroDuration());
  // SendStatusError maps a failed request's status to its error frame.
  void SendStatusError(const absl::Status& status, const std::string& id);
  // Reject answers a frame refused by a rate limit; sustained abuse closes.
  void Reject(const std::string& id, absl::Duration retry_after);
  // EndRequest counts a reply in; a closing socket may be waiting for it.
  void EndRequest();
  // AtRequestLimit: as many upstream requests in flight as allowed.
  bool AtRequestLimit() const;

  WebsocketSession* socket_;
  Gateway* gateway_;
  SessionRoute route_;
  boost::asio::steady_timer identify_timer_;
  boost::asio::steady_timer token_timer_;

  bool identifying_ = false;
  bool identified_ = false;
  bool binary_ = false;  // The client spoke binary protobuf.
  int inflight_ = 0;
  // History replies may be large: the bytes they may take are reserved up
  // front, and a request starts only while the outbound queue plus the
  // reservations stay within half the outbound limit (one at a time when
  // the queue is at most half full); requests beyond wait, in order, until
  // replies are written out.
  size_t reserved_reply_bytes_ = 0;
  Fifo<GetHistory> history_waiting_;
  // Resume: the cursors the client sent, and the streams still catching up.
  std::optional<Resume> resume_;
  int resume_pending_ = 0;
  int64_t replayed_ = 0;
  int awaiting_topics_ = 0;
  std::unique_ptr<ServerFrame> pending_ready_;  // Sent once topics are live.
  static constexpr size_t kMaxEarlyEvents = 1024;
  std::vector<std::shared_ptr<const EncodedEvent>> early_events_;  // Before ready.
  Identity identity_;
  std::unique_ptr<SessionLimits::Slot> user_slot_;  // Held while identified.
  std::string presence_status_ = "online";
  std::string session_id_;
  uint64_t frames_received_ = 0;  // Numbers the session's requests (RequestTags).
  absl::flat_hash_set<std::string> topics_;
  // Topics of servers the user was removed from during the session: events
  // of them still on their way are dropped. Cleared for a server joined again.
  absl::flat_hash_set<std::string> revoked_topics_;
  // Streams catching up (a channel joined or created during the session, a
  // stream resumed from a cursor) pass through a sequencer of their own
  // until they have caught up.
  absl::flat_hash_map<std::string, std::unique_ptr<ChannelSequencer>> catch_ups_;
  // Last typing relay per "server/channel": typing is dropped, not queued,
  // within the interval. Bounded by kMaxTypingChannels.
  absl::flat_hash_map<std::string, absl::Time> last_typing_;
  static constexpr size_t kMaxTypingChannels = 1024;
  TokenBucket frame_bucket_, abuse_bucket_;
  // Status changes fan out to every friend and fellow member: at most one a
  // second, after a burst of five.
  TokenBucket status_bucket_{1.0, 5.0};
  std::shared_ptr<SharedTokenBucket> chat_budget_;  // Per user, shared by their sessions.
  DeliveryWatch watch_;                             // The client's watermarks (heartbeat frames).
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_CLIENT_SESSION_H_
