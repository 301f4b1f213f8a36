#include "gateway/client_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/keys.h"
#include "common/logging.h"
#include "gateway/errors.h"
#include "gateway/frame_codec.h"
#include "gateway/gateway.h"
#include "gateway/requests.h"
#include "gateway/websocket_session.h"

namespace chat::gateway {

namespace net = boost::asio;

namespace {

std::string NewSessionId() {
  absl::BitGen gen;  // Seeded from a shared pool: cheap, and no thread_local state.
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

// ParseErrorCode names a frame that could not be decoded.
const char* ParseErrorCode(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnimplemented ? "unknown_type" : "bad_frame";
}

}  // namespace

ClientSession::ClientSession(WebsocketSession* socket, Gateway* gateway, SessionRoute route)
    : socket_(socket),
      gateway_(gateway),
      route_(std::move(route)),
      identify_timer_(socket->executor()),
      token_timer_(socket->executor()),
      session_id_(NewSessionId()),
      frame_bucket_(gateway->options().frame_rate, gateway->options().frame_burst),
      abuse_bucket_(gateway->options().abuse_rate, gateway->options().abuse_burst),
      // Bounded by what the session follows (0: no limit, and no bound).
      watch_(gateway->options().watermark_grace,
             gateway->options().max_topics_per_session > 0
                 ? static_cast<size_t>(gateway->options().max_topics_per_session)
                 : 0) {}

ClientSession::~ClientSession() = default;

template <typename T, typename F>
Done<T> ClientSession::OnStrand(F f) {
  // The reply is handled as part of the request that made the call.
  return [self = socket_->shared_from_this(), f = std::move(f),
          tags = CurrentRequest()](absl::StatusOr<T> r) mutable {
    auto executor = self->executor();
    net::post(executor, [self = std::move(self), f = std::move(f), r = std::move(r),
                         tags = std::move(tags)]() mutable {
      ScopedRequest scope(std::move(tags));
      f(std::move(r));
    });
  };
}

void ClientSession::OnOpen() {
  if (route_.mode != SessionMode::kNative) return Identify(route_.token);
  identify_timer_.expires_after(absl::ToChronoNanoseconds(gateway_->options().identify_timeout));
  identify_timer_.async_wait(
      [this, weak = socket_->weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || identifying_ || identified_) return;
        socket_->Close(close_code::kIdentifyTimeout, "identify timeout");
      });
}

void ClientSession::OnClosing() {
  identify_timer_.cancel();
  token_timer_.cancel();
}

void ClientSession::Leave() {
  if (PresenceReporter* presence = gateway_->presence()) presence->Offline(socket_);
  for (const std::string& topic : topics_) gateway_->topics().Remove(topic, socket_);
}

void ClientSession::OnFrame(absl::string_view data, bool text) {
  // Everything this frame starts is logged, and sent upstream, with these.
  ScopedRequest scope(
      RequestTags{identity_.user.id(), absl::StrCat(session_id_, ".", ++frames_received_)});
  absl::Duration retry;
  if (!frame_bucket_.Take(absl::Now(), &retry)) return Reject("", retry);
  if (route_.mode != SessionMode::kNative) {
    if (!identified_) return SendError("not_identified", "authentication in progress", "");
    absl::StatusOr<ClientFrame> frame = SeedFrameToClient(route_, data);
    if (!frame.ok()) {
      gateway_->metrics().frames_in.Inc(0);
      return SendError(ParseErrorCode(frame.status()), std::string(frame.status().message()), "");
    }
    return Dispatch(*std::move(frame));
  }
  absl::StatusOr<ClientFrame> frame = text ? ParseClientJson(data) : ParseClientBinary(data);
  if (!frame.ok()) {
    gateway_->metrics().frames_in.Inc(0);
    return SendError(ParseErrorCode(frame.status()), std::string(frame.status().message()), "");
  }
  if (!text && !identified_ && !identifying_) binary_ = true;
  Dispatch(*std::move(frame));
}

void ClientSession::Dispatch(ClientFrame frame) {
  gateway_->metrics().frames_in.Inc(frame.frame_case());
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
    if (frame.identify().has_resume()) resume_ = frame.identify().resume();
    return Identify(frame.identify().token());
  }
  if (!identified_) return SendError("not_identified", "send identify first", "");
  switch (frame.frame_case()) {
    case ClientFrame::kChatMessage:
      return OnSendChat(std::move(*frame.mutable_chat_message()));
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
    case ClientFrame::kRead:
      return OnRead(frame.read());
    case ClientFrame::kRefresh:
      return OnRefresh(frame.refresh());
    case ClientFrame::kHeartbeat:
      return OnHeartbeat(frame.heartbeat());
    case ClientFrame::kEditMessage:
      return OnEditMessage(std::move(*frame.mutable_edit_message()));
    case ClientFrame::kDeleteMessage:
      return OnDeleteMessage(frame.delete_message());
    case ClientFrame::kRemoveMember:
      return OnModerate("remove", frame.remove_member());
    case ClientFrame::kBanMember:
      return OnModerate("ban", frame.ban_member());
    case ClientFrame::kUnbanMember:
      return OnModerate("unban", frame.unban_member());
    case ClientFrame::kSetSlowMode:
      return OnSetSlowMode(frame.set_slow_mode());
    default:
      return SendError("unknown_type", "unsupported frame", "");
  }
}

// ---- identify -------------------------------------------------------------

void ClientSession::Identify(const std::string& token) {
  absl::StatusOr<Identity> id = gateway_->verifier().Verify(token);
  if (!id.ok()) {
    return socket_->Close(CloseCodeForToken(id.status()), std::string(id.status().message()));
  }
  user_slot_ = gateway_->limits().AdmitUser(id->user.id());
  if (user_slot_ == nullptr) {
    return socket_->Close(close_code::kTooManySessions,
                          "too many sessions for this user on this gateway");
  }
  identifying_ = true;
  identity_ = *std::move(id);
  ArmTokenTimer();
  chat_budget_ = gateway_->chat_budgets().For(identity_.user.id());
  // The services are asked in parallel; their answers meet on the strand.
  auto data = std::make_shared<IdentifyData>();
  auto arrive = [this, data](auto apply) {
    return [this, data, apply = std::move(apply)](auto result) mutable {
      apply(*data, std::move(result));
      if (--data->remaining == 0) OnIdentifyData(*data);
    };
  };
  const bool native = route_.mode == SessionMode::kNative;
  data->remaining = native ? 4 : 1;
  GetUserStateRequest req;
  req.set_user_id(identity_.user.id());
  gateway_->upstream().GetUserState(
      std::move(req), OnStrand<UserState>(arrive([](IdentifyData& d, absl::StatusOr<UserState> r) {
        d.state = std::move(r);
      })));
  if (!native) return;
  ListRequest list;
  list.set_user_id(identity_.user.id());
  // Friends and invitations degrade to empty when the invite service is down.
  gateway_->upstream().ListFriends(
      list, OnStrand<Friends>(arrive([](IdentifyData& d, absl::StatusOr<Friends> r) {
        if (r.ok()) d.friends = *std::move(r);
      })));
  gateway_->upstream().ListPending(
      std::move(list), OnStrand<PendingInvitations>(
                           arrive([](IdentifyData& d, absl::StatusOr<PendingInvitations> r) {
                             if (r.ok()) d.invitations = *std::move(r);
                           })));
  // Presence of friends and fellow members: online ones first, at most 1000.
  QueryRequest query;
  query.set_viewer_id(identity_.user.id());
  gateway_->upstream().PresenceQuery(
      std::move(query),
      OnStrand<QueryResponse>(arrive([](IdentifyData& d, absl::StatusOr<QueryResponse> r) {
        if (r.ok()) d.presences = *std::move(r);
      })));
}

void ClientSession::OnIdentifyData(IdentifyData& data) {
  if (socket_->closing()) return;
  absl::StatusOr<UserState>& state = data.state;
  if (!state.ok()) {
    if (state.status().code() != absl::StatusCode::kNotFound) {
      gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
      return socket_->Close(close_code::kTryAgainLater, "chat service unavailable; retry");
    }
    state = UserState();  // Known to the token issuer but to no server yet.
  }
  // Until every topic is live, identification is still in progress; a Redis
  // that never confirms ends it with kTryAgainLater.
  identify_timer_.expires_after(absl::ToChronoNanoseconds(gateway_->options().upstream_deadline));
  identify_timer_.async_wait(
      [this, weak = socket_->weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || identified_) return;
        socket_->Close(close_code::kTryAgainLater, "event stream unavailable; retry");
      });
  ++awaiting_topics_;  // Held until every Subscribe below has been issued.
  if (route_.mode == SessionMode::kSeedPersonal) {
    Subscribe(keys::UserTopic(identity_.user.id()), /*await_live=*/true);
    return OnTopicLive();
  }
  if (route_.mode == SessionMode::kSeedChat) {
    if (!IsChannelMember(*state, route_.server, route_.channel)) {
      return socket_->Close(close_code::kForbidden, "not a member of this channel");
    }
    Subscribe(keys::ChannelTopic(route_.server, route_.channel), /*await_live=*/true);
    return OnTopicLive();
  }
  Subscribe(keys::UserTopic(identity_.user.id()), /*await_live=*/true);
  for (const Server& s : state->servers()) {
    for (const Channel& c : s.channels()) {
      Subscribe(keys::ChannelTopic(s.id(), c.id()), /*await_live=*/true);
    }
    if (gateway_->presence_enabled()) {
      Subscribe(keys::ServerPresenceTopic(s.id()), /*await_live=*/true);
    }
  }
  const GatewayOptions& o = gateway_->options();
  pending_ready_ = std::make_unique<ServerFrame>(BuildReady(
      session_id_, identity_.user, *std::move(state), data,
      ReadySettings{o.heartbeat_interval, static_cast<int>(o.max_frame_bytes), o.max_message_chars,
                    o.chat_rate, static_cast<int>(o.chat_burst), identity_.expires}));
  OnTopicLive();
}

void ClientSession::OnTopicLive() {
  if (--awaiting_topics_ > 0 || socket_->closing() || identified_) return;
  if (route_.mode == SessionMode::kSeedChat) return RecheckSeedMembership();
  if (!pending_ready_) return FinishIdentify();  // Seed endpoints have no ready.
  // Every topic is live now, so any message stored from here on arrives live.
  // Reading the heads again makes ready's head_seq cover everything before;
  // without that read, what was stored in between would be missed (a resume
  // would replay too little), so its failure fails the identify.
  GetUserStateRequest req;
  req.set_user_id(identity_.user.id());
  gateway_->upstream().GetUserState(
      std::move(req), OnStrand<UserState>([this](absl::StatusOr<UserState> state) {
        if (socket_->closing() || identified_ || !pending_ready_) return;
        Ready* ready = pending_ready_->mutable_ready();
        // NotFound is fine only for a user in no server: a user is never
        // deleted, so one the first read found and this one does not is a
        // read gone wrong (a node restarting, say), not a removal.
        if (!state.ok() &&
            (state.status().code() != absl::StatusCode::kNotFound || ready->servers_size() > 0)) {
          gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
          return socket_->Close(close_code::kTryAgainLater, "chat service unavailable; retry");
        }
        if (state.ok()) {
          DropRemovedServers(*state, ready);
          RaiseHeads(*state, ready, RaisedCounts::kLaterCounts);
        }
        RaiseHeads(PassedHeads(*ready), ready);
        FinishIdentify();
      }));
}

void ClientSession::DropRemovedServers(const UserState& now, Ready* ready) {
  // A server of the first read that the second one lacks was taken from the
  // user in between: its access_revoked may have been published before the
  // subscriptions went live, so this read is what stops them.
  absl::flat_hash_set<std::string> kept;
  for (const Server& s : now.servers()) kept.insert(s.id());
  auto* servers = ready->mutable_servers();
  for (int i = servers->size() - 1; i >= 0; --i) {
    if (kept.contains(servers->Get(i).id())) continue;
    OnAccessRevoked(servers->Get(i).id());
    servers->DeleteSubrange(i, 1);
  }
}

void ClientSession::RecheckSeedMembership() {
  // As DropRemovedServers for a seed socket: a removal between the first
  // read and the subscription going live would otherwise go unnoticed.
  GetUserStateRequest req;
  req.set_user_id(identity_.user.id());
  gateway_->upstream().GetUserState(
      std::move(req), OnStrand<UserState>([this](absl::StatusOr<UserState> state) {
        if (socket_->closing() || identified_) return;
        // NotFound too: the first read found the user, who is never deleted.
        if (!state.ok()) {
          gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
          return socket_->Close(close_code::kTryAgainLater, "chat service unavailable; retry");
        }
        if (!IsChannelMember(*state, route_.server, route_.channel)) {
          return socket_->Close(close_code::kRemoved, "removed from this server");
        }
        FinishIdentify();
      }));
}

UserState ClientSession::PassedHeads(const Ready& ready) const {
  // What this gateway passed on before the session's subscriptions went
  // live will not come again live, however stale the read above was (a
  // failed-over master's old log, say): the replay must cover it too.
  const TopicRegistry& registry = gateway_->topics();
  UserState passed;
  passed.set_user_seq(registry.SeenSeq(keys::UserTopic(identity_.user.id())));
  for (const Server& s : ready.servers()) {
    Server* server = passed.add_servers();
    server->set_id(s.id());
    for (const Channel& c : s.channels()) {
      Channel* channel = server->add_channels();
      channel->set_id(c.id());
      channel->set_head_seq(registry.SeenSeq(keys::ChannelTopic(s.id(), c.id())));
    }
  }
  return passed;
}

void ClientSession::FinishIdentify() {
  identifying_ = false;
  identified_ = true;
  identify_timer_.cancel();
  if (PresenceReporter* presence = gateway_->presence()) presence->Online(socket_, PresenceRef());
  if (pending_ready_) {
    const Ready& ready = pending_ready_->ready();
    // Every subscription is live and ready tells its heads: from them on,
    // the registry passes everything (filling a moved subscription's gap).
    std::vector<TopicRegistry::BaseNote> bases;
    bases.push_back({keys::UserTopic(identity_.user.id()), ready.user_seq(), "", ""});
    for (const Server& s : ready.servers()) {
      for (const Channel& c : s.channels()) {
        bases.push_back({keys::ChannelTopic(s.id(), c.id()), c.head_seq(), s.id(), c.id()});
      }
    }
    gateway_->topics().NoteBases(std::move(bases));
    SetWatchFloors(pending_ready_->ready());
    SendFrame(*pending_ready_);
    StartResume();  // Before the held events, so they pass its sequencers.
    pending_ready_.reset();
  }
  // Events that arrived while identifying follow ready; clients de-duplicate
  // by seq whatever history also returns.
  std::vector<std::shared_ptr<const EncodedEvent>> early;
  early.swap(early_events_);
  for (const auto& e : early) OnEvent(e);
}

void ClientSession::ArmTokenTimer() {
  const absl::Duration left = identity_.deadline - absl::Now();
  if (identity_.deadline == absl::InfiniteFuture()) return;
  token_timer_.expires_after(absl::ToChronoNanoseconds(std::max(left, absl::ZeroDuration())));
  token_timer_.async_wait([this, weak = socket_->weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    socket_->Close(close_code::kTokenExpired, "token expired: send refresh before exp");
  });
}

void ClientSession::OnRefresh(const RefreshFrame& frame) {
  absl::StatusOr<Identity> id = gateway_->verifier().Verify(frame.token());
  if (!id.ok()) {
    return SendError("invalid_token", std::string(id.status().message()), frame.id());
  }
  if (id->user.id() != identity_.user.id()) {
    return SendError("invalid_token", "the token is for another user", frame.id());
  }
  gateway_->metrics().token_refreshes.fetch_add(1, std::memory_order_relaxed);
  identity_ = *std::move(id);  // Name and image may have changed too.
  ArmTokenTimer();
}

// ---- resume ---------------------------------------------------------------

ChannelSequencer::FetchTail ClientSession::ChannelFetch(const std::string& server,
                                                        const std::string& channel) {
  return [this, weak = socket_->weak_from_this(), server, channel](int64_t after,
                                                                   Done<TailPage> done) {
    if (weak.expired()) return;
    // The reply reaches the sequencer on the strand, with the socket alive.
    gateway_->log_readers().channel(server, channel, after, OnStrand<TailPage>(std::move(done)));
  };
}

ChannelSequencer::FetchTail ClientSession::PersonalFetch() {
  return [this, weak = socket_->weak_from_this(), user = identity_.user.id()](int64_t after,
                                                                              Done<TailPage> done) {
    if (weak.expired()) return;
    gateway_->log_readers().personal(user, after, OnStrand<TailPage>(std::move(done)));
  };
}

ChannelSequencer* ClientSession::CatchUp(const std::string& topic,
                                         ChannelSequencer::FetchTail fetch, int64_t from,
                                         ResyncRequired lost_template) {
  auto sequencer = std::make_unique<ChannelSequencer>(
      socket_->executor(), topic, std::move(fetch),
      [this](const std::shared_ptr<const EncodedEvent>& e) {
        if (resume_pending_ > 0) ++replayed_;
        Deliver(e);
      },
      &gateway_->metrics(), from);
  sequencer->SetLost([this, lost_template](const ChannelSequencer::LostRange& lost) {
    gateway_->metrics().resync_required.fetch_add(1, std::memory_order_relaxed);
    ServerFrame frame;
    ResyncRequired* resync = frame.mutable_resync_required();
    *resync = lost_template;
    resync->set_type("resync_required");
    resync->set_from_seq(lost.from);
    if (lost.rolled_back) {
      resync->set_reason("rolled_back");
      resync->set_to_seq(lost.to);
    } else {
      resync->set_reason("trimmed");
      resync->set_oldest_seq(lost.to + 1);
    }
    SendFrame(frame);
  });
  ChannelSequencer* raw = sequencer.get();
  catch_ups_[topic] = std::move(sequencer);
  return raw;
}

void ClientSession::EndCatchUp(const std::string& topic) {
  // Later: the sequencer is still on the stack of the call that ended the
  // fill. Once caught up, the registry's own sequencing suffices.
  net::post(socket_->executor(), [this, topic, self = socket_->shared_from_this()] {
    auto it = catch_ups_.find(topic);
    if (it != catch_ups_.end() && !it->second->filling()) catch_ups_.erase(it);
  });
}

void ClientSession::StartResume() {
  if (!resume_) return;
  gateway_->metrics().resumes.fetch_add(1, std::memory_order_relaxed);
  const Ready& ready = pending_ready_->ready();
  resume_pending_ = 1;  // Held until every stream below has started.
  for (const ChannelCursor& cursor : resume_->channels()) {
    for (const Server& s : ready.servers()) {
      if (s.id() != cursor.server()) continue;
      for (const Channel& c : s.channels()) {
        // Nothing missed, or a channel the user no longer has: no replay.
        if (c.id() != cursor.channel() || cursor.seq() >= c.head_seq() || cursor.seq() < 0) {
          continue;
        }
        const std::string topic = keys::ChannelTopic(s.id(), c.id());
        if (catch_ups_.contains(topic)) continue;  // Named twice.
        ResyncRequired lost;
        lost.set_scope("channel");
        lost.set_server(s.id());
        lost.set_channel(c.id());
        ++resume_pending_;
        CatchUp(topic, ChannelFetch(s.id(), c.id()), cursor.seq(), std::move(lost))
            ->CatchUpFrom(cursor.seq(), [this, topic] {
              EndCatchUp(topic);
              OnResumeStreamDone();
            });
      }
    }
  }
  if (resume_->user_seq() >= 0 && resume_->user_seq() < ready.user_seq()) {
    ResyncRequired lost;
    lost.set_scope("personal");
    ++resume_pending_;
    const std::string topic = keys::UserTopic(identity_.user.id());
    CatchUp(topic, PersonalFetch(), resume_->user_seq(), std::move(lost))
        ->CatchUpFrom(resume_->user_seq(), [this, topic] {
          EndCatchUp(topic);
          OnResumeStreamDone();
        });
  }
  OnResumeStreamDone();
}

void ClientSession::OnResumeStreamDone() {
  if (--resume_pending_ > 0) return;
  ServerFrame frame;
  Resumed* r = frame.mutable_resumed();
  r->set_type("resumed");
  r->set_session_id(session_id_);
  r->set_replayed(replayed_);
  SendFrame(frame);
}

// ---- delivery watch -------------------------------------------------------

void ClientSession::SetWatchFloors(const Ready& ready) {
  // What the client holds by definition: ready's heads, or the resume
  // cursors below them (the replay brings the rest).
  auto cursor = [this](const std::string& server, const std::string& channel) -> int64_t {
    if (!resume_) return -1;
    for (const ChannelCursor& c : resume_->channels()) {
      if (c.server() == server && c.channel() == channel) return c.seq();
    }
    return -1;
  };
  for (const Server& s : ready.servers()) {
    for (const Channel& c : s.channels()) {
      const int64_t from = cursor(s.id(), c.id());
      watch_.SetFloor(keys::ChannelTopic(s.id(), c.id()),
                      from >= 0 && from < c.head_seq() ? from : c.head_seq());
    }
  }
  const int64_t from = resume_ ? resume_->user_seq() : -1;
  watch_.SetFloor(keys::UserTopic(identity_.user.id()),
                  from >= 0 && from < ready.user_seq() ? from : ready.user_seq());
}

void ClientSession::OnHeartbeat(const HeartbeatFrame& frame) {
  // Checked whole first: a refused heartbeat changes nothing.
  if (static_cast<size_t>(frame.channels_size()) > topics_.size()) {
    return SendError("invalid_argument", "a heartbeat names more channels than the session follows",
                     "");
  }
  for (const ChannelCursor& c : frame.channels()) {
    if (!keys::IsValidId(c.server()) || !keys::IsValidId(c.channel())) {
      return SendError("invalid_argument", "a watermark names an invalid server or channel id", "");
    }
    if (c.seq() < 0) return SendError("invalid_argument", "a watermark is never negative", "");
  }
  if (frame.has_user_seq() && frame.user_seq() < 0) {
    return SendError("invalid_argument", "a watermark is never negative", "");
  }
  const absl::Time now = absl::Now();
  for (const ChannelCursor& c : frame.channels()) {
    Watch(keys::ChannelTopic(c.server(), c.channel()), c.seq(), c.server(), c.channel(), now);
  }
  if (frame.has_user_seq())
    Watch(keys::UserTopic(identity_.user.id()), frame.user_seq(), "", "", now);
}

void ClientSession::Watch(const std::string& topic, int64_t watermark, const std::string& server,
                          const std::string& channel, absl::Time now) {
  DeliveryStats& stats = gateway_->metrics().delivery;
  if (!topics_.contains(topic)) return stats.CountUnknown();
  TopicRegistry& registry = gateway_->topics();
  const int64_t head = registry.KnownHead(topic);
  // Being read from the log right now: what it lacks is on its way.
  if (catch_ups_.contains(topic)) return watch_.Restart(topic, head, now);
  const WatermarkVerdict v = watch_.Report(topic, watermark, head, now);
  const bool personal = server.empty();
  if (personal) {
    stats.RecordPersonal(v);
  } else {
    stats.RecordChannel(absl::StrCat(server, "/", channel), v, now);
  }
  if (v.outcome == WatermarkVerdict::Outcome::kStalled) {
    return Refill(topic, watermark, v.missing_to, server, channel);
  }
  // A client level with the gateway may be level with a subscription that
  // brings nothing: the log's head says. Rate-limited by the registry.
  if (v.outcome != WatermarkVerdict::Outcome::kCurrent || !registry.TakeProbe(topic, now)) return;
  auto noted = OnStrand<TailPage>([this, topic](absl::StatusOr<TailPage> page) {
    gateway_->metrics().head_probes.Inc(page.ok() ? "ok" : "error");
    if (page.ok()) gateway_->topics().NoteHead(topic, page->head_seq);
  });
  if (personal) {
    gateway_->log_readers().personal(identity_.user.id(), head, std::move(noted));
  } else {
    gateway_->log_readers().channel(server, channel, head, std::move(noted));
  }
}

void ClientSession::Refill(const std::string& topic, int64_t watermark, int64_t missing_to,
                           const std::string& server, const std::string& channel) {
  TopicRegistry& registry = gateway_->topics();
  const bool gateway_behind = registry.SeenSeq(topic) < missing_to;
  static LogLimiter limiter(20);
  uint64_t suppressed = 0;
  if (limiter.Allow(&suppressed)) {
    spdlog::warn(
        "event=watermark_stalled topic={} watermark={} missing_to={} refill={} suppressed={}",
        topic, watermark, missing_to, gateway_behind ? "gateway" : "session", suppressed);
  }
  gateway_->metrics().delivery.CountRefill(gateway_behind);
  if (gateway_behind) {
    // Every local subscriber lacks them: the gateway's own stream is re-read
    // from the last event it passed on.
    LogRollback named;
    if (server.empty()) {
      named.set_user_id(identity_.user.id());
    } else {
      named.set_server(server);
      named.set_channel(channel);
    }
    const LogReaders& readers = gateway_->log_readers();
    registry.Repair(topic,
                    server.empty() ? readers.PersonalStream(identity_.user.id())
                                   : readers.ChannelStream(server, channel),
                    std::move(named), watermark);
    // What this client lacks below that is its own to re-read (its
    // catch-up drops what the repair brings as well).
    if (watermark >= registry.SeenSeq(topic)) return;
  }
  ResyncRequired lost;
  if (server.empty()) {
    lost.set_scope("personal");
  } else {
    lost.set_scope("channel");
    lost.set_server(server);
    lost.set_channel(channel);
  }
  const bool personal = server.empty();
  CatchUp(topic, personal ? PersonalFetch() : ChannelFetch(server, channel), watermark,
          std::move(lost))
      ->CatchUpFrom(watermark, [this, topic] { EndCatchUp(topic); });
}

// ---- requests -------------------------------------------------------------

void ClientSession::EndRequest() {
  --inflight_;
  // After the handler that called this has queued its reply.
  if (socket_->closing()) {
    net::post(socket_->executor(),
              [self = socket_->shared_from_this()] { self->MaybeFinishClose(); });
  }
}

bool ClientSession::AtRequestLimit() const {
  return inflight_ >= gateway_->options().max_inflight_requests;
}

void ClientSession::OnSendChat(SendChat frame) {
  // A frame refused for the request limit is retried: it spends no budget.
  if (AtRequestLimit()) return Reject(frame.id(), absl::Milliseconds(100));
  absl::Duration retry;
  if (!chat_budget_->Take(absl::Now(), &retry)) return Reject(frame.id(), retry);
  std::string id = frame.id();
  std::string server = frame.server(), channel = frame.channel();
  absl::StatusOr<SendRequest> req =
      BuildSend(identity_.user, std::move(frame), gateway_->options().max_message_chars);
  if (!req.ok()) return SendStatusError(req.status(), id);
  std::string topic = keys::ChannelTopic(server, channel);
  req->set_seen_seq(gateway_->topics().SeenSeq(topic));
  ++inflight_;
  gateway_->upstream().Send(
      *std::move(req),
      OnStrand<SendResponse>([this, id = std::move(id), server = std::move(server),
                              channel = std::move(channel),
                              topic = std::move(topic)](absl::StatusOr<SendResponse> r) {
        EndRequest();
        if (!r.ok()) return SendStatusError(r.status(), id);
        // Its seq is part of the head this gateway knows, received or not.
        gateway_->topics().NoteHead(topic, r->seq());
        if (route_.mode == SessionMode::kSeedChat) return;  // The seed has no acks.
        SendFrame(AckFrame(id, server, channel, r->seq(), r->sent_at()));
      }));
}

void ClientSession::OnEditMessage(EditMessage frame) {
  std::string id = frame.id(), server = frame.server(), channel = frame.channel();
  absl::StatusOr<EditRequest> req =
      BuildEdit(identity_.user, std::move(frame), gateway_->options().max_message_chars);
  if (!req.ok()) return SendStatusError(req.status(), id);
  std::string topic = keys::ChannelTopic(server, channel);
  req->set_seen_seq(gateway_->topics().SeenSeq(topic));
  Revise(std::move(id), std::move(server), std::move(channel),
         [req = *std::move(req)](Upstream& up, Done<RevisionResponse> done) mutable {
           up.Edit(std::move(req), std::move(done));
         });
}

void ClientSession::OnDeleteMessage(const DeleteMessage& frame) {
  DeleteRequest req = BuildDelete(identity_.user, frame);
  req.set_seen_seq(gateway_->topics().SeenSeq(keys::ChannelTopic(frame.server(), frame.channel())));
  Revise(frame.id(), frame.server(), frame.channel(),
         [req = std::move(req)](Upstream& up, Done<RevisionResponse> done) mutable {
           up.Delete(std::move(req), std::move(done));
         });
}

void ClientSession::Revise(std::string id, std::string server, std::string channel,
                           absl::AnyInvocable<void(Upstream&, Done<RevisionResponse>)> call) {
  // Edits and deletes spend the chat budget: each is an event for every
  // member. One refused for the request limit spends none.
  if (AtRequestLimit()) return Reject(id, absl::Milliseconds(100));
  absl::Duration retry;
  if (!chat_budget_->Take(absl::Now(), &retry)) return Reject(id, retry);
  ++inflight_;
  call(gateway_->upstream(),
       OnStrand<RevisionResponse>(
           [this, id = std::move(id), server = std::move(server),
            channel = std::move(channel)](absl::StatusOr<RevisionResponse> r) {
             EndRequest();
             if (!r.ok()) return SendStatusError(r.status(), id);
             if (r->seq() > 0)
               gateway_->topics().NoteHead(keys::ChannelTopic(server, channel), r->seq());
             SendFrame(AckFrame(id, server, channel, r->seq(), r->at()));
           }));
}

void ClientSession::OnModerate(const char* action, const ModerateFrame& frame) {
  if (AtRequestLimit()) return Reject(frame.id(), absl::Milliseconds(100));
  ModerateRequest req;
  req.set_actor_id(identity_.user.id());  // Never empty: that is the operator's call.
  req.set_server(frame.server());
  req.set_user_id(frame.user_id());
  req.set_action(action);
  ++inflight_;
  gateway_->upstream().Moderate(
      std::move(req), OnStrand<ModerateResponse>([this, id = frame.id(), server = frame.server()](
                                                     absl::StatusOr<ModerateResponse> r) {
        EndRequest();
        if (!r.ok()) return SendStatusError(r.status(), id);
        SendFrame(AckFrame(id, server, "", 0, 0));
      }));
}

void ClientSession::OnSetSlowMode(const SlowModeFrame& frame) {
  if (AtRequestLimit()) return Reject(frame.id(), absl::Milliseconds(100));
  SlowModeRequest req;
  req.set_actor_id(identity_.user.id());
  req.set_server(frame.server());
  req.set_channel(frame.channel());
  req.set_seconds(frame.seconds());
  ++inflight_;
  gateway_->upstream().SetSlowMode(
      std::move(req),
      OnStrand<SlowModeResponse>([this, id = frame.id(), server = frame.server(),
                                  channel = frame.channel()](absl::StatusOr<SlowModeResponse> r) {
        EndRequest();
        if (!r.ok()) return SendStatusError(r.status(), id);
        SendFrame(AckFrame(id, server, channel, 0, 0));
      }));
}

namespace {

// ReplyReserve is the most bytes a history reply for frame can take.
size_t ReplyReserve(const GetHistory& frame, int max_message_chars) {
  const int limit = frame.limit() <= 0 ? 50 : std::min(frame.limit(), 100);
  return static_cast<size_t>(limit) * (4 * static_cast<size_t>(max_message_chars) + 512) + 512;
}

}  // namespace

void ClientSession::OnGetHistory(const GetHistory& frame) {
  if (AtRequestLimit() ||
      history_waiting_.size() >= static_cast<size_t>(gateway_->options().max_inflight_requests)) {
    return Reject(frame.id(), absl::Milliseconds(100));
  }
  const size_t need = ReplyReserve(frame, gateway_->options().max_message_chars);
  if (!history_waiting_.empty() || !HistoryFits(need)) {
    history_waiting_.push_back(frame);  // Starts when earlier replies are out.
    return;
  }
  StartHistory(frame);
}

bool ClientSession::HistoryFits(size_t need) const {
  const size_t budget = gateway_->options().max_outbound_bytes / 2;
  const size_t queued = socket_->queued_bytes();
  if (reserved_reply_bytes_ == 0) return queued <= budget;  // Always one may run.
  return queued + reserved_reply_bytes_ + need <= budget;
}

void ClientSession::StartWaitingHistory() {
  while (
      !history_waiting_.empty() && !socket_->closing() &&
      HistoryFits(ReplyReserve(history_waiting_.front(), gateway_->options().max_message_chars))) {
    GetHistory waiting = std::move(history_waiting_.front());
    history_waiting_.pop_front();
    StartHistory(std::move(waiting));
  }
}

void ClientSession::OnWritten() {
  if (!history_waiting_.empty()) StartWaitingHistory();
}

void ClientSession::StartHistory(GetHistory frame) {
  const size_t need = ReplyReserve(frame, gateway_->options().max_message_chars);
  reserved_reply_bytes_ += need;
  ++inflight_;
  HistoryRequest req = BuildHistory(identity_.user.id(), frame);
  gateway_->upstream().History(
      std::move(req), OnStrand<HistoryResponse>([this, need, frame = std::move(frame)](
                                                    absl::StatusOr<HistoryResponse> r) mutable {
        EndRequest();
        reserved_reply_bytes_ -= need;
        if (!r.ok()) {
          SendStatusError(r.status(), frame.id());
        } else {
          SendFrame(HistoryFrame(frame, *std::move(r)));
        }
        StartWaitingHistory();
      }));
}

void ClientSession::OnRead(const ReadFrame& frame) {
  if (AtRequestLimit()) return Reject(frame.id(), absl::Milliseconds(100));
  ++inflight_;
  // Success shows as the read_state event every session of the user receives.
  gateway_->upstream().MarkRead(
      BuildMarkRead(identity_.user.id(), frame),
      OnStrand<MarkReadResponse>([this, id = frame.id()](absl::StatusOr<MarkReadResponse> r) {
        EndRequest();
        if (!r.ok()) SendStatusError(r.status(), id);
      }));
}

void ClientSession::OnInvitationFrame(ClientFrame::FrameCase kind, const InvitationFrame& frame) {
  if (AtRequestLimit()) return Reject(frame.id(), absl::Milliseconds(100));
  InvitationCall call = BuildInvitation(kind, identity_.user, frame, route_.path_user);
  // Success is reported by the event both parties receive.
  auto reply =
      OnStrand<InvitationResponse>([this, id = frame.id()](absl::StatusOr<InvitationResponse> r) {
        EndRequest();
        if (!r.ok()) SendStatusError(r.status(), id);
      });
  ++inflight_;
  switch (call.kind) {
    case InvitationCall::Kind::kInvite:
      return gateway_->upstream().Invite(std::move(call.invite), std::move(reply));
    case InvitationCall::Kind::kAccept:
      return gateway_->upstream().AcceptInvitation(std::move(call.transition), std::move(reply));
    case InvitationCall::Kind::kCancel:
      return gateway_->upstream().CancelInvitation(std::move(call.transition), std::move(reply));
  }
}

void ClientSession::OnTyping(const TypingFrame& frame) {
  // Typing is best-effort: repeats within the interval and overload drop it.
  const absl::Time now = absl::Now();
  if (AtRequestLimit()) return;
  // Only channels the session is subscribed to are remembered, so names the
  // client makes up take no memory here; the service refuses those (its
  // error comes back as usual).
  if (topics_.contains(keys::ChannelTopic(frame.server(), frame.channel()))) {
    std::string key = absl::StrCat(frame.server(), "/", frame.channel());
    if (last_typing_.size() >= kMaxTypingChannels && !last_typing_.contains(key)) return;
    absl::Time& last = last_typing_[key];
    if (now - last < gateway_->options().typing_interval) return;
    last = now;
  }
  ++inflight_;
  gateway_->upstream().Typing(BuildTyping(identity_.user, frame),
                              OnStrand<TypingResponse>([this](absl::StatusOr<TypingResponse> r) {
                                EndRequest();
                                if (!r.ok()) SendStatusError(r.status(), "");
                              }));
}

void ClientSession::OnStatus(const StatusFrame& frame) {
  if (!IsPresenceStatus(frame.status())) {
    return SendError("invalid_argument", "status must be online, idle, dnd or invisible", "");
  }
  if (frame.status() == presence_status_) return;
  absl::Duration retry;
  if (!status_bucket_.Take(absl::Now(), &retry)) return Reject("", retry);
  presence_status_ = frame.status();
  if (PresenceReporter* presence = gateway_->presence()) presence->Status(socket_, PresenceRef());
}

SessionRef ClientSession::PresenceRef() const {
  SessionRef ref;
  ref.set_user_id(identity_.user.id());
  ref.set_session_id(session_id_);
  ref.set_gateway_id(gateway_->gateway_id());
  ref.set_status(presence_status_);
  return ref;
}

// ---- events ---------------------------------------------------------------

bool ClientSession::TakeTopic(const std::string& topic) {
  if (topics_.contains(topic)) return false;
  const int limit = gateway_->options().max_topics_per_session;
  if (limit > 0 && topics_.size() >= static_cast<size_t>(limit)) {
    socket_->Close(close_code::kTooManyTopics,
                   "member of more channels than one session may follow");
    return false;
  }
  topics_.insert(topic);
  return true;
}

void ClientSession::Subscribe(const std::string& topic, bool await_live) {
  if (socket_->closing() || !TakeTopic(topic)) return;
  if (!await_live) return gateway_->topics().Add(topic, socket_->shared_from_this());
  ++awaiting_topics_;
  gateway_->topics().Add(topic, socket_->shared_from_this(),
                         [this, weak = socket_->weak_from_this()] {
                           auto self = weak.lock();
                           if (!self) return;
                           net::post(self->executor(), [this, self] { OnTopicLive(); });
                         });
}

void ClientSession::OnEvent(const std::shared_ptr<const EncodedEvent>& event) {
  if (socket_->closing()) return;
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
  // The hot path: almost every session has no catch-up under way.
  if (!catch_ups_.empty() && event->seq() > 0) {
    auto it = catch_ups_.find(event->topic());
    if (it != catch_ups_.end()) return it->second->Offer(event);
  }
  Deliver(event);
}

void ClientSession::Deliver(const std::shared_ptr<const EncodedEvent>& event) {
  const Event& e = event->event();
  if (e.has_access_revoked() || e.has_server_removed()) {
    const std::string& user =
        e.has_access_revoked() ? e.access_revoked().user_id() : identity_.user.id();
    if (user == identity_.user.id()) {
      OnAccessRevoked(e.has_access_revoked() ? e.access_revoked().server()
                                             : e.server_removed().server());
    }
  }
  if (!revoked_topics_.empty() && revoked_topics_.contains(event->topic())) return;
  if (route_.mode == SessionMode::kNative) {
    if (e.has_server_joined()) OnServerJoined(e.server_joined());
    if (e.has_channel_created()) OnChannelCreated(e.channel_created());
    if (e.has_invitation()) OnInvitationEvent(e.invitation());
  }
  Forward(event);
}

void ClientSession::OnAccessRevoked(const std::string& server) {
  spdlog::info("event=access_revoked user={} server={}", identity_.user.id(), server);
  // Every topic of the server ends here, in each topic's order: nothing
  // published on it after the revocation reaches this session, live or
  // from a catch-up already under way (their sequencers stay, idle).
  // Ids hold no ':', so "{c:<server>:" names exactly this server's channels.
  const std::string tag = keys::ChannelTag(server, "");
  const absl::string_view of_server = absl::string_view(tag).substr(0, tag.size() - 1);
  const std::string events = keys::ChannelTopic(server, "").substr(tag.size());
  const std::string presence = keys::ServerPresenceTopic(server);
  std::vector<std::string> dropped;
  for (const std::string& topic : topics_) {
    if (topic == presence ||
        (absl::StartsWith(topic, of_server) && absl::EndsWith(topic, events))) {
      dropped.push_back(topic);
    }
  }
  for (const std::string& topic : dropped) {
    topics_.erase(topic);
    revoked_topics_.insert(topic);
    gateway_->topics().Remove(topic, socket_);
  }
  // A seed socket follows one channel of one server: it has nothing left.
  if (route_.mode == SessionMode::kSeedChat && route_.server == server) {
    socket_->Close(close_code::kRemoved, "removed from this server", /*flush=*/true);
  }
}

void ClientSession::OnServerJoined(const Server& server) {
  for (const Channel& c : server.channels()) {
    revoked_topics_.erase(keys::ChannelTopic(c.server(), c.id()));
  }
  revoked_topics_.erase(keys::ServerPresenceTopic(server.id()));
  for (const Channel& c : server.channels()) OnChannelCreated(c);
  if (gateway_->presence_enabled()) Subscribe(keys::ServerPresenceTopic(server.id()));
}

void ClientSession::OnChannelCreated(const Channel& c) {
  std::string topic = keys::ChannelTopic(c.server(), c.id());
  if (socket_->closing() || !TakeTopic(topic)) return;
  // The event's head was read before this subscription: once it is live,
  // whatever came in between is read from the log, before later messages.
  watch_.SetFloor(topic, c.head_seq());  // Held by definition: it starts there.
  ResyncRequired lost;
  lost.set_scope("channel");
  lost.set_server(c.server());
  lost.set_channel(c.id());
  ChannelSequencer* sequencer =
      CatchUp(topic, ChannelFetch(c.server(), c.id()), c.head_seq(), std::move(lost));
  gateway_->topics().Add(
      topic, socket_->shared_from_this(),
      [this, sequencer, topic, head = c.head_seq(), weak = socket_->weak_from_this()] {
        auto self = weak.lock();
        if (!self) return;
        net::post(self->executor(), [this, sequencer, topic, head, self] {
          if (socket_->closing()) return;
          sequencer->CatchUpFrom(head, [this, topic] { EndCatchUp(topic); });
        });
      });
}

void ClientSession::OnInvitationEvent(const Invitation& inv) {
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
      std::move(q), OnStrand<QueryResponse>([this](absl::StatusOr<QueryResponse> r) {
        if (!r.ok()) return;
        for (const Presence& p : r->presences()) {
          ServerFrame frame;
          *frame.mutable_presence() = p;
          frame.mutable_presence()->set_type("presence");
          SendFrame(frame);
        }
      }));
}

void ClientSession::Forward(const std::shared_ptr<const EncodedEvent>& event) {
  const Event& e = event->event();
  // Nobody is shown their own typing; typing and presence are shed first.
  if (e.has_typing() && e.typing().user_id() == identity_.user.id()) return;
  const bool droppable = e.has_typing() || e.has_presence();
  const std::string* bytes;
  if (route_.mode != SessionMode::kNative) {
    bytes = &event->SeedJson();  // Empty for events the seed does not know.
  } else {
    bytes = binary_ ? &event->Binary() : &event->Json();
  }
  if (bytes->empty()) return;
  gateway_->metrics().deliveries.fetch_add(1, std::memory_order_relaxed);
  gateway_->metrics().frames_out.Inc(ServerFrameCaseOf(e));
  // Aliasing pointer: the bytes live as long as the shared event.
  socket_->Send(std::shared_ptr<const std::string>(event, bytes), binary_, droppable);
}

// ---- replies --------------------------------------------------------------

void ClientSession::SendFrame(const ServerFrame& frame) {
  gateway_->metrics().frames_out.Inc(frame.frame_case());
  auto bytes =
      std::make_shared<const std::string>(binary_ ? frame.SerializeAsString() : FrameJson(frame));
  socket_->Send(std::move(bytes), binary_, /*droppable=*/false);
}

void ClientSession::SendError(const std::string& code, const std::string& message,
                              const std::string& id, absl::Duration retry_after) {
  gateway_->metrics().errors.Inc(code);
  SendFrame(ErrorFrame(code, message, id, retry_after));
}

void ClientSession::SendStatusError(const absl::Status& status, const std::string& id) {
  ErrorFrameFields f = ErrorFrameFor(status);
  if (f.rate_limited) gateway_->metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
  if (f.upstream_failure) {
    gateway_->metrics().upstream_errors.fetch_add(1, std::memory_order_relaxed);
    // One failing service fails every request: the log keeps a sample.
    static LogLimiter limiter(20);
    uint64_t suppressed = 0;
    if (limiter.Allow(&suppressed)) {
      spdlog::warn("event=upstream_error code={} error=\"{}\" suppressed={}",
                   absl::StatusCodeToString(status.code()), std::string(status.message()),
                   suppressed);
    }
  }
  SendError(f.code, f.message, id, f.retry_after);
}

void ClientSession::Reject(const std::string& id, absl::Duration retry_after) {
  gateway_->metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
  if (!abuse_bucket_.Take(absl::Now(), nullptr)) {
    // Whatever was answered before (acks above all) still reaches the client.
    return socket_->Close(close_code::kRateLimited, "rate limit exceeded persistently",
                          /*flush=*/true);
  }
  SendError("rate_limited", "slow down", id, retry_after);
}

}  // namespace chat::gateway
