#include "gateway/websocket_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/keys.h"
#include "common/status.h"
#include "gateway/frame_codec.h"
#include "gateway/gateway.h"

namespace chat::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {

std::string NewSessionId() {
  absl::BitGen gen;  // Seeded from a shared pool: cheap, and no thread_local state.
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

// Inner returns the message set in a ServerFrame's oneof (every one carries
// its own "type"), for the JSON form.
const google::protobuf::Message& Inner(const ServerFrame& frame) {
  const auto* oneof = frame.GetDescriptor()->oneof_decl(0);
  const auto* field = frame.GetReflection()->GetOneofFieldDescriptor(frame, oneof);
  return frame.GetReflection()->GetMessage(frame, field);
}

bool IsPresenceStatus(const std::string& s) {
  return s == "online" || s == "idle" || s == "dnd" || s == "invisible";
}

}  // namespace

WebsocketSession::WebsocketSession(net::ip::tcp::socket&& socket, Gateway* gateway,
                                   SessionRoute route)
    : ws_(std::move(socket)),
      gateway_(gateway),
      route_(std::move(route)),
      identify_timer_(ws_.get_executor()),
      close_timer_(ws_.get_executor()),
      session_id_(NewSessionId()),
      frame_bucket_(gateway->options().frame_rate, gateway->options().frame_burst),
      abuse_bucket_(gateway->options().abuse_rate, gateway->options().abuse_burst) {}

WebsocketSession::~WebsocketSession() {
  // A gateway that stops without draining says nothing: like a crash, its
  // sessions' presence then expires by TTL in the presence service.
  if (!gateway_->stopping()) {
    gateway_->PresenceOffline(this);
    for (const std::string& topic : topics_) gateway_->topics().Remove(topic, this);
    gateway_->RemoveSession(this);
  }
  gateway_->metrics().connections.fetch_sub(1, std::memory_order_relaxed);
}

void WebsocketSession::Run(http::request<http::string_body> req) {
  gateway_->metrics().connections.fetch_add(1, std::memory_order_relaxed);
  gateway_->metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
  const GatewayOptions& o = gateway_->options();
  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = std::chrono::seconds(10);
  // Beast pings after half the idle timeout and closes after all of it.
  timeout.idle_timeout = absl::ToChronoNanoseconds(2 * o.heartbeat_interval);
  timeout.keep_alive_pings = true;
  ws_.set_option(timeout);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "chatsuite-gateway"); }));
  ws_.read_message_max(o.max_frame_bytes);
  upgrade_ = std::move(req);
  ws_.async_accept(upgrade_,
                   beast::bind_front_handler(&WebsocketSession::OnAccept, shared_from_this()));
}

void WebsocketSession::OnAccept(beast::error_code ec) {
  upgrade_ = {};
  if (ec) return;
  if (route_.mode != SessionMode::kNative) {
    Identify(route_.token);
  } else {
    identify_timer_.expires_after(absl::ToChronoNanoseconds(gateway_->options().identify_timeout));
    identify_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->identifying_ || self->identified_) return;
      self->DoClose(close_code::kIdentifyTimeout, "identify timeout");
    });
  }
  DoRead();
}

void WebsocketSession::DoRead() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WebsocketSession::OnRead, shared_from_this()));
}

void WebsocketSession::OnRead(beast::error_code ec, size_t) {
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      // Beast has already sent close 1009; count it like our own closes.
      gateway_->metrics().closes.Inc(std::to_string(close_code::kTooBig));
    }
    return;  // The session ends when the last handler holding it returns.
  }
  gateway_->metrics().frames_in.fetch_add(1, std::memory_order_relaxed);
  std::string data = beast::buffers_to_string(buffer_.data());
  const bool text = ws_.got_text();
  buffer_.consume(buffer_.size());
  // An idle socket should not pin the largest frame it ever received.
  if (buffer_.capacity() > 8192) buffer_.shrink_to_fit();
  if (!closing_) {
    absl::Duration retry;
    if (!frame_bucket_.Take(absl::Now(), &retry)) {
      Reject("", retry);
    } else if (route_.mode != SessionMode::kNative) {
      HandleSeed(data);
    } else {
      absl::StatusOr<ClientFrame> frame = text ? ParseClientJson(data) : ParseClientBinary(data);
      if (!frame.ok()) {
        SendError(frame.status().code() == absl::StatusCode::kUnimplemented ? "unknown_type"
                                                                            : "bad_frame",
                  std::string(frame.status().message()), "");
      } else {
        if (!text && !identified_ && !identifying_) binary_ = true;
        HandleNative(*frame);
      }
    }
  }
  DoRead();
}

void WebsocketSession::HandleNative(const ClientFrame& frame) {
  if (frame.has_identify()) {
    if (identifying_ || identified_) {
      return SendError("already_identified", "this connection is already identified", "");
    }
    if (!frame.identify().status().empty()) {
      if (!IsPresenceStatus(frame.identify().status())) {
        return SendError("invalid_argument", "status must be online, idle, dnd or invisible", "");
      }
      presence_status_ = frame.identify().status();
    }
    return Identify(frame.identify().token());
  }
  if (!identified_) {
    return SendError("not_identified", "send identify first", "");
  }
  switch (frame.frame_case()) {
    case ClientFrame::kChatMessage:
      return OnSendChat(frame.chat_message());
    case ClientFrame::kHistory:
      return OnGetHistory(frame.history());
    case ClientFrame::kTyping:
      return OnTyping(frame.typing());
    case ClientFrame::kStatus:
      return OnStatus(frame.status());
    case ClientFrame::kInvitation:
      return OnInvitationFrame(frame.frame_case(), frame.invitation());
    case ClientFrame::kCancelInvitation:
      return OnInvitationFrame(frame.frame_case(), frame.cancel_invitation());
    case ClientFrame::kAcceptInvitation:
      return OnInvitationFrame(frame.frame_case(), frame.accept_invitation());
    default:
      return SendError("unknown_type", "unsupported frame", "");
  }
}

void WebsocketSession::HandleSeed(absl::string_view text) {
  if (!identified_) return SendError("not_identified", "authentication in progress", "");
  if (route_.mode == SessionMode::kSeedPersonal) {
    absl::StatusOr<InvitationFrame> f = ParseSeedInvitation(text);
    if (!f.ok()) {
      return SendError(
          f.status().code() == absl::StatusCode::kUnimplemented ? "unknown_type" : "bad_frame",
          std::string(f.status().message()), "");
    }
    ClientFrame::FrameCase kind = f->type() == "invitation" ? ClientFrame::kInvitation
                                  : f->type() == "accept_invitation"
                                      ? ClientFrame::kAcceptInvitation
                                      : ClientFrame::kCancelInvitation;
    return OnInvitationFrame(kind, *std::move(f));
  }
  absl::StatusOr<SeedChat> seed = ParseSeedChat(text);
  if (!seed.ok()) return SendError("bad_frame", std::string(seed.status().message()), "");
  chat::SendChat f;
  f.set_server(route_.server);
  f.set_channel(route_.channel);
  f.set_message(seed->message);
  f.set_id(seed->nonce);
  OnSendChat(f);
}

void WebsocketSession::Identify(const std::string& token) {
  absl::StatusOr<Identity> id = gateway_->verifier().Verify(token);
  if (!id.ok()) {
    bool expired = id.status().code() == absl::StatusCode::kDeadlineExceeded;
    return DoClose(expired ? close_code::kTokenExpired : close_code::kInvalidToken,
                   std::string(id.status().message()));
  }
  identifying_ = true;
  identity_ = *std::move(id);
  chat_budget_ = gateway_->ChatBudget(identity_.user.id());
  // The services are asked in parallel; their answers meet on the strand.
  auto data = std::make_shared<IdentifyData>();
  auto self = shared_from_this();
  auto arrive = [self, data](auto apply) {
    return [self, data, apply = std::move(apply)](auto result) mutable {
      net::post(self->ws_.get_executor(),
                [self, data, apply = std::move(apply), result = std::move(result)]() mutable {
                  apply(*data, std::move(result));
                  if (--data->remaining == 0) self->OnIdentifyData(*data);
                });
    };
  };
  const bool native = route_.mode == SessionMode::kNative;
  data->remaining = native ? 4 : 1;
  GetUserStateRequest req;
  req.set_user_id(identity_.user.id());
  gateway_->upstream().GetUserState(
      req, arrive([](IdentifyData& d, absl::StatusOr<UserState> r) { d.state = std::move(r); }));
  if (!native) return;
  ListRequest list;
  list.set_user_id(identity_.user.id());
  // Friends and invitations degrade to empty when the invite service is down.
  gateway_->upstream().ListFriends(list, arrive([](IdentifyData& d, absl::StatusOr<Friends> r) {
                                     if (r.ok()) d.friends = *std::move(r);
                                   }));
  gateway_->upstream().ListPending(
      list, arrive([](IdentifyData& d, absl::StatusOr<PendingInvitations> r) {
        if (r.ok()) d.invitations = *std::move(r);
      }));
  // Presence of friends and fellow members: online ones first, at most 1000.
  QueryRequest query;
  query.set_viewer_id(identity_.user.id());
  gateway_->upstream().PresenceQuery(query,
                                     arrive([](IdentifyData& d, absl::StatusOr<QueryResponse> r) {
                                       if (r.ok()) d.presences = *std::move(r);
                                     }));
}

void WebsocketSession::OnIdentifyData(IdentifyData& data) {
  if (closing_) return;
  absl::StatusOr<UserState>& state = data.state;
  if (!state.ok()) {
    if (state.status().code() != absl::StatusCode::kNotFound) {
      gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
      return DoClose(close_code::kTryAgainLater, "chat service unavailable; retry");
    }
    state = UserState();  // Known to the token issuer but to no server yet.
  }
  // Until every topic is live, identification is still in progress; a Redis
  // that never confirms ends it with kTryAgainLater.
  identify_timer_.expires_after(absl::ToChronoNanoseconds(gateway_->options().upstream_deadline));
  identify_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->identified_) return;
    self->DoClose(close_code::kTryAgainLater, "event stream unavailable; retry");
  });
  ++awaiting_topics_;  // Held until every Subscribe below has been issued.
  if (route_.mode == SessionMode::kSeedPersonal) {
    Subscribe(keys::UserTopic(identity_.user.id()), /*await_live=*/true);
    return OnTopicLive();
  }
  if (route_.mode == SessionMode::kSeedChat) {
    bool member = false;
    for (const Server& s : state->servers()) {
      if (s.id() != route_.server) continue;
      for (const Channel& c : s.channels()) member = member || c.id() == route_.channel;
    }
    if (!member) return DoClose(close_code::kForbidden, "not a member of this channel");
    Subscribe(keys::ChannelTopic(route_.server, route_.channel), /*await_live=*/true);
    return OnTopicLive();
  }
  pending_ready_ = std::make_unique<ServerFrame>();
  Ready* ready = pending_ready_->mutable_ready();
  ready->set_type("ready");
  ready->set_session_id(session_id_);
  *ready->mutable_user() = identity_.user;  // The token is authoritative.
  Subscribe(keys::UserTopic(identity_.user.id()), /*await_live=*/true);
  for (Server& s : *state->mutable_servers()) {
    for (const Channel& c : s.channels()) {
      Subscribe(keys::ChannelTopic(s.id(), c.id()), /*await_live=*/true);
    }
    if (gateway_->presence_enabled()) {
      Subscribe(keys::ServerPresenceTopic(s.id()), /*await_live=*/true);
    }
    *ready->add_servers() = std::move(s);
  }
  *ready->mutable_friends() = std::move(*data.friends.mutable_friends());
  *ready->mutable_presences() = std::move(*data.presences.mutable_presences());
  *ready->mutable_invitations() = std::move(*data.invitations.mutable_invitations());
  const GatewayOptions& o = gateway_->options();
  ready->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(o.heartbeat_interval)));
  ready->set_max_frame_bytes(static_cast<int32_t>(o.max_frame_bytes));
  ready->set_max_message_chars(o.max_message_chars);
  OnTopicLive();
}

void WebsocketSession::OnTopicLive() {
  if (--awaiting_topics_ > 0 || closing_ || identified_) return;
  if (!pending_ready_) return FinishIdentify();  // Seed endpoints have no ready.
  // Every topic is live now, so any message stored from here on arrives live.
  // Reading the heads again makes ready's head_seq cover everything before:
  // seq <= head_seq is in history, seq > head_seq arrives on this socket.
  GetUserStateRequest req;
  req.set_user_id(identity_.user.id());
  gateway_->upstream().GetUserState(
      req, [self = shared_from_this()](absl::StatusOr<UserState> state) mutable {
        net::post(self->ws_.get_executor(), [self, state = std::move(state)] {
          if (self->closing_ || self->identified_ || !self->pending_ready_) return;
          if (state.ok()) {
            absl::flat_hash_map<std::string, int64_t> heads;
            for (const Server& s : state->servers()) {
              for (const Channel& c : s.channels()) {
                heads[absl::StrCat(s.id(), "/", c.id())] = c.head_seq();
              }
            }
            for (Server& s : *self->pending_ready_->mutable_ready()->mutable_servers()) {
              for (Channel& c : *s.mutable_channels()) {
                auto it = heads.find(absl::StrCat(s.id(), "/", c.id()));
                if (it == heads.end() || it->second <= c.head_seq()) continue;
                c.set_unread(c.unread() + it->second - c.head_seq());
                c.set_head_seq(it->second);
              }
            }
          }
          self->FinishIdentify();
        });
      });
}

void WebsocketSession::FinishIdentify() {
  identifying_ = false;
  identified_ = true;
  identify_timer_.cancel();
  gateway_->PresenceOnline(this, PresenceRef());
  if (pending_ready_) {
    SendFrame(*pending_ready_);
    pending_ready_.reset();
  }
  // Events that arrived while identifying follow ready; clients de-duplicate
  // by seq whatever history also returns.
  std::vector<std::shared_ptr<const EncodedEvent>> early;
  early.swap(early_events_);
  for (const auto& e : early) OnEvent(e);
}

void WebsocketSession::OnSendChat(const chat::SendChat& f) {
  absl::Duration retry;
  if (!chat_budget_->Take(absl::Now(), &retry)) return Reject(f.id(), retry);
  if (f.id().empty()) return SendError("invalid_argument", "id (client nonce) is required", "");
  if (static_cast<int>(f.message().size()) > 4 * gateway_->options().max_message_chars) {
    return SendError("too_long",
                     absl::StrCat("message is longer than ", gateway_->options().max_message_chars,
                                  " characters"),
                     f.id());
  }
  if (inflight_ >= gateway_->options().max_inflight_requests) {
    return Reject(f.id(), absl::Milliseconds(100));
  }
  SendRequest req;
  *req.mutable_author() = identity_.user;  // Never what the client claims.
  req.set_server(f.server());
  req.set_channel(f.channel());
  req.set_message(f.message());
  req.set_nonce(f.id());
  ++inflight_;
  gateway_->upstream().Send(req, [self = shared_from_this(), id = f.id(), server = f.server(),
                                  channel = f.channel()](absl::StatusOr<SendResponse> r) mutable {
    net::post(self->ws_.get_executor(), [self, r = std::move(r), id = std::move(id),
                                         server = std::move(server), channel = std::move(channel)] {
      --self->inflight_;
      if (!r.ok()) return self->SendStatusError(r.status(), id);
      if (self->route_.mode == SessionMode::kSeedChat) return;  // The seed has no acks.
      ServerFrame frame;
      Ack* ack = frame.mutable_ack();
      ack->set_type("ack");
      ack->set_id(id);
      ack->set_seq(r->seq());
      ack->set_server(server);
      ack->set_channel(channel);
      ack->set_sent_at(r->sent_at());
      self->SendFrame(frame);
    });
  });
}

void WebsocketSession::OnGetHistory(const chat::GetHistory& f) {
  if (inflight_ >= gateway_->options().max_inflight_requests) {
    return Reject(f.id(), absl::Milliseconds(100));
  }
  HistoryRequest req;
  req.set_user_id(identity_.user.id());
  req.set_server(f.server());
  req.set_channel(f.channel());
  req.set_before(f.before());
  req.set_after(f.after());
  req.set_limit(f.limit());
  ++inflight_;
  gateway_->upstream().History(
      req, [self = shared_from_this(), f](absl::StatusOr<HistoryResponse> r) mutable {
        net::post(self->ws_.get_executor(), [self, r = std::move(r), f = std::move(f)]() mutable {
          --self->inflight_;
          if (!r.ok()) return self->SendStatusError(r.status(), f.id());
          ServerFrame frame;
          History* h = frame.mutable_history();
          h->set_type("history");
          h->set_id(f.id());
          h->set_server(f.server());
          h->set_channel(f.channel());
          h->set_head_seq(r->head_seq());
          h->set_oldest_seq(r->oldest_seq());
          for (ChatMessage& m : *r->mutable_messages()) {
            m.set_type("chat_message");
            *h->add_messages() = std::move(m);
          }
          self->SendFrame(frame);
        });
      });
}

void WebsocketSession::OnInvitationFrame(ClientFrame::FrameCase kind, InvitationFrame f) {
  if (inflight_ >= gateway_->options().max_inflight_requests) {
    return Reject(f.id(), absl::Milliseconds(100));
  }
  const std::string& me = identity_.user.id();
  // The other party: named in the frame, or (seed personal socket) the path.
  const std::string& fallback = route_.path_user;
  auto reply = [self = shared_from_this(), id = f.id()](absl::StatusOr<InvitationResponse> r) {
    net::post(self->ws_.get_executor(), [self, id, r = std::move(r)] {
      --self->inflight_;
      // Success is reported by the event both parties receive.
      if (!r.ok()) self->SendStatusError(r.status(), id);
    });
  };
  ++inflight_;
  if (kind == ClientFrame::kInvitation) {
    InviteRequest req;
    *req.mutable_inviter() = identity_.user;  // Never what the client claims.
    req.set_invited(f.invited().empty() ? fallback : f.invited());
    req.set_server(f.server());
    return gateway_->upstream().Invite(req, std::move(reply));
  }
  TransitionRequest req;
  *req.mutable_actor() = identity_.user;
  req.set_server(f.server());
  const bool as_invitee =
      kind == ClientFrame::kAcceptInvitation ||
      ((f.invited() == me || f.invited().empty()) && !f.inviting().empty() && f.inviting() != me);
  if (as_invitee) {  // Accept, or cancel by the invitee (decline).
    req.set_inviting(f.inviting().empty() ? fallback : f.inviting());
    req.set_invited(me);
  } else {  // Cancel by the inviter.
    req.set_inviting(me);
    req.set_invited(f.invited().empty() ? fallback : f.invited());
  }
  if (kind == ClientFrame::kAcceptInvitation) {
    gateway_->upstream().AcceptInvitation(req, std::move(reply));
  } else {
    gateway_->upstream().CancelInvitation(req, std::move(reply));
  }
}

void WebsocketSession::CatchUp(const std::string& server, const std::string& channel, int64_t after,
                               int pages) {
  if (closing_ || pages <= 0) return;  // Beyond that, the client pages history.
  TailRequest req;
  req.set_server(server);
  req.set_channel(channel);
  req.set_after(after);
  gateway_->upstream().Tail(req, [self = shared_from_this(), server, channel,
                                  pages](absl::StatusOr<HistoryResponse> r) mutable {
    net::post(self->ws_.get_executor(), [self, server, channel, pages, r = std::move(r)]() mutable {
      if (!r.ok() || self->closing_) return;
      int64_t last = 0;
      for (ChatMessage& m : *r->mutable_messages()) {
        last = m.seq();
        ServerFrame frame;
        *frame.mutable_chat_message() = std::move(m);
        frame.mutable_chat_message()->set_type("chat_message");
        self->SendFrame(frame);  // Live copies may repeat these: clients de-duplicate by seq.
      }
      if (last > 0 && last < r->head_seq()) self->CatchUp(server, channel, last, pages - 1);
    });
  });
}

void WebsocketSession::OnInvitationEvent(const Invitation& inv) {
  // A new friend may share no server with the user, so no presence topic
  // brings their status: fetch it once, as ready would have.
  if (inv.type() != "accept_invitation" || !inv.server().empty() || !gateway_->presence_enabled()) {
    return;
  }
  const std::string& me = identity_.user.id();
  QueryRequest q;
  q.set_viewer_id(me);
  q.add_user_ids(inv.inviting() == me ? inv.invited() : inv.inviting());
  gateway_->upstream().PresenceQuery(
      q, [self = shared_from_this()](absl::StatusOr<QueryResponse> r) {
        if (!r.ok()) return;
        net::post(self->ws_.get_executor(), [self, r = std::move(r)] {
          for (const Presence& p : r->presences()) {
            ServerFrame frame;
            *frame.mutable_presence() = p;
            frame.mutable_presence()->set_type("presence");
            self->SendFrame(frame);
          }
        });
      });
}

SessionRef WebsocketSession::PresenceRef() const {
  SessionRef ref;
  ref.set_user_id(identity_.user.id());
  ref.set_session_id(session_id_);
  ref.set_gateway_id(gateway_->gateway_id());
  ref.set_status(presence_status_);
  return ref;
}

void WebsocketSession::OnStatus(const StatusFrame& f) {
  if (!IsPresenceStatus(f.status())) {
    return SendError("invalid_argument", "status must be online, idle, dnd or invisible", "");
  }
  if (f.status() == presence_status_) return;
  presence_status_ = f.status();
  gateway_->PresenceStatus(this, PresenceRef());
}

void WebsocketSession::OnTyping(const TypingFrame& f) {
  // Typing is best-effort: repeats within the interval and overload drop it.
  const absl::Time now = absl::Now();
  absl::Time& last = last_typing_[absl::StrCat(f.server(), "/", f.channel())];
  if (now - last < gateway_->options().typing_interval ||
      inflight_ >= gateway_->options().max_inflight_requests || last_typing_.size() > 1024) {
    return;
  }
  last = now;
  TypingRequest req;
  *req.mutable_user() = identity_.user;
  req.set_server(f.server());
  req.set_channel(f.channel());
  ++inflight_;
  gateway_->upstream().Typing(req, [self = shared_from_this()](absl::StatusOr<TypingResponse> r) {
    net::post(self->ws_.get_executor(), [self, r = std::move(r)] {
      --self->inflight_;
      if (!r.ok()) self->SendStatusError(r.status(), "");
    });
  });
}

void WebsocketSession::Subscribe(const std::string& topic, bool await_live) {
  if (!topics_.insert(topic).second) return;
  if (!await_live) return gateway_->topics().Add(topic, shared_from_this());
  ++awaiting_topics_;
  gateway_->topics().Add(topic, shared_from_this(), [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      net::post(self->ws_.get_executor(), [self] { self->OnTopicLive(); });
    }
  });
}

void WebsocketSession::Deliver(const std::shared_ptr<const EncodedEvent>& event) {
  net::post(ws_.get_executor(), [self = shared_from_this(), event] { self->OnEvent(event); });
}

void WebsocketSession::OnEvent(const std::shared_ptr<const EncodedEvent>& event) {
  if (closing_) return;
  if (!identified_) {
    // Held until ready is out, so nothing published after the subscription
    // went live is lost. Bounded: identification takes milliseconds.
    if (early_events_.size() < kMaxEarlyEvents) {
      early_events_.push_back(event);
    } else {
      gateway_->metrics().dropped_events.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  const Event& e = event->event();
  if (e.has_server_joined() && route_.mode == SessionMode::kNative) {
    for (const Channel& c : e.server_joined().channels()) {
      std::string topic = keys::ChannelTopic(e.server_joined().id(), c.id());
      if (!topics_.insert(topic).second) continue;
      // The event's heads were read before this subscription: once it is
      // live, whatever came in between is read from the log.
      gateway_->topics().Add(topic, shared_from_this(),
                             [weak = weak_from_this(), server = e.server_joined().id(),
                              channel = c.id(), head = c.head_seq()] {
                               if (auto self = weak.lock()) {
                                 net::post(self->ws_.get_executor(), [self, server, channel, head] {
                                   self->CatchUp(server, channel, head, /*pages=*/10);
                                 });
                               }
                             });
    }
    if (gateway_->presence_enabled()) {
      Subscribe(keys::ServerPresenceTopic(e.server_joined().id()));
    }
  }
  if (e.has_invitation() && route_.mode == SessionMode::kNative) OnInvitationEvent(e.invitation());
  // Nobody is shown their own typing; typing and presence are shed first.
  if (e.has_typing() && e.typing().user_id() == identity_.user.id()) return;
  const bool droppable = e.has_typing() || e.has_presence();
  const std::string* bytes;
  if (route_.mode == SessionMode::kSeedChat || route_.mode == SessionMode::kSeedPersonal) {
    bytes = &event->SeedJson();  // Empty for events the seed does not know.
  } else {
    bytes = binary_ ? &event->Binary() : &event->Json();
  }
  if (bytes->empty()) return;
  gateway_->metrics().deliveries.fetch_add(1, std::memory_order_relaxed);
  // Aliasing pointer: the bytes live as long as the shared event.
  Enqueue(std::shared_ptr<const std::string>(event, bytes), binary_, droppable);
}

void WebsocketSession::SendFrame(const ServerFrame& frame) {
  auto bytes = std::make_shared<const std::string>(binary_ ? frame.SerializeAsString()
                                                           : ToJson(Inner(frame)));
  Enqueue(std::move(bytes), binary_, /*droppable=*/false);
}

void WebsocketSession::SendError(const std::string& code, const std::string& message,
                                 const std::string& id, absl::Duration retry_after) {
  gateway_->metrics().errors.Inc(code);
  ServerFrame frame;
  Error* e = frame.mutable_error();
  e->set_type("error");
  e->set_code(code);
  e->set_message(message);
  e->set_id(id);
  e->set_retry_after_ms(absl::ToInt64Milliseconds(retry_after));
  SendFrame(frame);
}

void WebsocketSession::SendStatusError(const absl::Status& status, const std::string& id) {
  if (std::string reason = ReasonOf(status); !reason.empty()) {
    if (reason == "rate_limited") gateway_->metrics().rate_limited.fetch_add(1);
    return SendError(reason, std::string(status.message()), id, RetryAfterOf(status));
  }
  std::string code;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      code = "invalid_argument";
      break;
    case absl::StatusCode::kPermissionDenied:
      code = "not_member";
      break;
    case absl::StatusCode::kNotFound:
      code = "not_found";
      break;
    case absl::StatusCode::kResourceExhausted:
      code = "rate_limited";
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
      code = "unavailable";
      break;
    default:
      gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
      code = "internal";
      break;
  }
  SendError(code, std::string(status.message()), id);
}

void WebsocketSession::Reject(const std::string& id, absl::Duration retry_after) {
  gateway_->metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
  if (!abuse_bucket_.Take(absl::Now(), nullptr)) {
    return DoClose(close_code::kRateLimited, "rate limit exceeded persistently");
  }
  SendError("rate_limited", "slow down", id, retry_after);
}

void WebsocketSession::Enqueue(std::shared_ptr<const std::string> bytes, bool binary,
                               bool droppable) {
  if (closing_) return;
  const size_t limit = gateway_->options().max_outbound_bytes;
  if (droppable && queued_bytes_ + bytes->size() > limit / 2) {
    gateway_->metrics().dropped_events.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (queued_bytes_ + bytes->size() > limit) {
    gateway_->metrics().slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    return DoClose(close_code::kSlowConsumer, "slow consumer: reconnect and resume");
  }
  queued_bytes_ += bytes->size();
  queue_.push_back(Outgoing{std::move(bytes), binary});
  gateway_->metrics().frames_out.fetch_add(1, std::memory_order_relaxed);
  if (!writing_) DoWrite();
}

void WebsocketSession::DoWrite() {
  writing_ = true;
  const Outgoing& front = queue_.front();
  ws_.binary(front.binary);
  ws_.async_write(net::buffer(*front.bytes),
                  beast::bind_front_handler(&WebsocketSession::OnWrite, shared_from_this()));
}

void WebsocketSession::OnWrite(beast::error_code ec, size_t) {
  writing_ = false;
  if (ec) {
    queue_.clear();
    queued_bytes_ = 0;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    return;
  }
  queued_bytes_ -= queue_.front().bytes->size();
  queue_.pop_front();
  if (!queue_.empty() && !closing_) DoWrite();
}

void WebsocketSession::CloseAfter(absl::Duration delay, uint16_t code, std::string reason) {
  net::post(ws_.get_executor(),
            [self = shared_from_this(), delay, code, reason = std::move(reason)] {
              if (self->closing_) return;
              self->close_timer_.expires_after(absl::ToChronoNanoseconds(delay));
              self->close_timer_.async_wait([self, code, reason](beast::error_code ec) {
                if (!ec) self->DoClose(code, reason);
              });
            });
}

void WebsocketSession::DoClose(uint16_t code, const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  gateway_->metrics().closes.Inc(std::to_string(code));
  identify_timer_.cancel();
  // Frames not yet on the wire are dropped; one already being written finishes.
  while (queue_.size() > (writing_ ? 1u : 0u)) {
    queued_bytes_ -= queue_.back().bytes->size();
    queue_.pop_back();
  }
  ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                  [self = shared_from_this()](beast::error_code) {});
  // A peer that never completes the close handshake is cut off.
  close_timer_.expires_after(std::chrono::seconds(5));
  close_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
  });
}

}  // namespace chat::gateway
