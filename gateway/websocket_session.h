// WebsocketSession: one client socket. Runs on its own strand; reads one frame
// at a time, keeps exactly one write in flight from a bounded outbound queue,
// forwards requests upstream asynchronously and receives topic events from the
// TopicRegistry. Close codes are the protocol's (docs/protocol.md).
#ifndef CHATSUITE_GATEWAY_WEBSOCKET_SESSION_H_
#define CHATSUITE_GATEWAY_WEBSOCKET_SESSION_H_

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gateway/auth.h"
#include "gateway/rate_limiter.h"
#include "gateway/topic_registry.h"
#include "proto/chat.pb.h"
#include "proto/client.pb.h"
#include "proto/invite.pb.h"

namespace chat::gateway {

class Gateway;

// Close codes this gateway sends; docs/protocol.md says what a client does.
namespace close_code {
inline constexpr uint16_t kTooBig = 1009;         // Frame over the size limit.
inline constexpr uint16_t kTryAgainLater = 1013;  // Upstream unavailable at identify.
inline constexpr uint16_t kIdentifyTimeout = 4001;
inline constexpr uint16_t kInvalidToken = 4002;
inline constexpr uint16_t kTokenExpired = 4003;
inline constexpr uint16_t kForbidden = 4004;     // Seed endpoint: not a member.
inline constexpr uint16_t kRateLimited = 4008;   // Sustained abuse.
inline constexpr uint16_t kSlowConsumer = 4009;  // Outbound queue overflow: resume.
inline constexpr uint16_t kDraining = 4010;      // Gateway shutting down: reconnect.
}  // namespace close_code

enum class SessionMode {
  kNative,        // /ws: the full protocol, JSON or binary frames.
  kSeedChat,      // /ws/chat/<server>/<channel>/?token=: the seed's chat JSON.
  kSeedPersonal,  // /ws/personal/<user>/?token=: the seed's invitation JSON.
};

struct SessionRoute {
  SessionMode mode = SessionMode::kNative;
  std::string server, channel;  // kSeedChat
  // kSeedPersonal: the <user> of the path. The seed connects to the other
  // party's path to reach them, so it only serves as the default counterparty;
  // the socket itself only ever receives its token user's events.
  std::string path_user;
  std::string token;  // Seed endpoints: from ?token=
};

class WebsocketSession : public Subscriber, public std::enable_shared_from_this<WebsocketSession> {
 public:
  WebsocketSession(boost::asio::ip::tcp::socket&& socket, Gateway* gateway, SessionRoute route);
  ~WebsocketSession() override;

  // Run accepts the upgrade request and starts the session.
  void Run(boost::beast::http::request<boost::beast::http::string_body> req);

  // Deliver queues a topic event. Thread-safe; never blocks.
  void Deliver(const std::shared_ptr<const EncodedEvent>& event) override;

  // CloseAfter closes the session with code after delay. Thread-safe.
  void CloseAfter(absl::Duration delay, uint16_t code, std::string reason);

 private:
  struct Outgoing {
    std::shared_ptr<const std::string> bytes;
    bool binary;
  };

  void OnAccept(boost::beast::error_code ec);
  void DoRead();
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void HandleNative(const ClientFrame& frame);
  void HandleSeed(absl::string_view text);

  // IdentifyData is what identification gathers from the services.
  struct IdentifyData {
    absl::StatusOr<UserState> state = UserState();
    Friends friends;
    PendingInvitations invitations;
    QueryResponse presences;
    int remaining = 0;
  };
  void Identify(const std::string& token);
  void OnIdentifyData(IdentifyData& data);
  void OnInvitationFrame(ClientFrame::FrameCase kind, InvitationFrame f);
  void OnTyping(const TypingFrame& f);
  void OnStatus(const StatusFrame& f);
  void OnInvitationEvent(const Invitation& inv);
  // CatchUp sends the channel's messages after a seq from its log (at most
  // pages pages of 100): what a new subscription missed.
  void CatchUp(const std::string& server, const std::string& channel, int64_t after, int pages);
  SessionRef PresenceRef() const;
  void OnSendChat(const SendChat& frame);
  void OnGetHistory(const GetHistory& frame);

  // Subscribe adds the session to topic. With await_live, the pending ready
  // (or seed identification) waits until Redis has confirmed the topic.
  void Subscribe(const std::string& topic, bool await_live = false);
  void OnTopicLive();
  // FinishIdentify marks the session identified, sends ready, then the events
  // that arrived meanwhile.
  void FinishIdentify();
  void OnEvent(const std::shared_ptr<const EncodedEvent>& event);

  // SendFrame encodes frame in the session's format and queues it.
  void SendFrame(const ServerFrame& frame);
  // SendError queues an error frame (code as in docs/protocol.md).
  void SendError(const std::string& code, const std::string& message, const std::string& id,
                 absl::Duration retry_after = absl::ZeroDuration());
  // SendStatusError maps an upstream status to an error frame.
  void SendStatusError(const absl::Status& status, const std::string& id);
  // Reject answers a frame refused by a rate limit; sustained abuse closes.
  void Reject(const std::string& id, absl::Duration retry_after);
  // Enqueue queues bytes; droppable frames are shed first under pressure, and
  // an overflowing queue closes the session with kSlowConsumer.
  void Enqueue(std::shared_ptr<const std::string> bytes, bool binary, bool droppable);
  void DoWrite();
  void OnWrite(boost::beast::error_code ec, size_t bytes);
  void DoClose(uint16_t code, const std::string& reason);

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  Gateway* gateway_;
  SessionRoute route_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> upgrade_;
  boost::asio::steady_timer identify_timer_;
  boost::asio::steady_timer close_timer_;

  // All below: on the strand only.
  std::deque<Outgoing> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
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
  // Last typing relay per "server/channel": typing is dropped, not queued,
  // within the interval. Bounded by the channels the user is in.
  absl::flat_hash_map<std::string, absl::Time> last_typing_;
  TokenBucket frame_bucket_, abuse_bucket_;
  std::shared_ptr<SharedTokenBucket> chat_budget_;  // Per user, shared by their sessions.
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_WEBSOCKET_SESSION_H_
