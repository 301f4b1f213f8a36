#include "gateway/websocket_session.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <type_traits>

#include "gateway/errors.h"
#include "gateway/gateway.h"

namespace chat::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;

WebsocketSession::Stream WebsocketSession::Upgrade(ClientStream&& stream) {
  return std::visit(
      [](auto&& s) {
        using Next = std::decay_t<decltype(s)>;
        return Stream(std::in_place_type<websocket::stream<Next>>, std::forward<decltype(s)>(s));
      },
      std::move(stream));
}

WebsocketSession::WebsocketSession(ClientStream&& stream, std::shared_ptr<net::ssl::context> tls,
                                   Gateway* gateway, SessionRoute route)
    : tls_(std::move(tls)),
      ws_(Upgrade(std::move(stream))),
      gateway_(gateway),
      close_timer_(TcpOf(ws_).get_executor()),
      client_(this, gateway, std::move(route)) {}

WebsocketSession::~WebsocketSession() {
  // A gateway that stops without draining says nothing: like a crash, its
  // sessions' presence then expires by TTL in the presence service.
  if (!gateway_->stopping()) {
    client_.Leave();
    gateway_->RemoveSession(this);
  }
  gateway_->metrics().connections.fetch_sub(1, std::memory_order_relaxed);
}

// What a waiting read prepares in buffer_ is what an idle socket holds: the
// first read of a message asks for at most this much (Beast's own choice is
// 1536 bytes); the rest of a longer message is read in Beast's sizes.
constexpr size_t kReadChunk = 512;

void WebsocketSession::Run(http::request<http::string_body> req) {
  gateway_->metrics().connections.fetch_add(1, std::memory_order_relaxed);
  gateway_->metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
  const GatewayOptions& o = gateway_->options();
  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = std::chrono::seconds(10);
  // Beast pings after half the idle timeout and closes after all of it.
  timeout.idle_timeout = absl::ToChronoNanoseconds(2 * o.heartbeat_interval);
  timeout.keep_alive_pings = true;
  upgrade_ = std::move(req);
  Ws([&](auto& ws) {
    ws.set_option(timeout);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "chatsuite-gateway"); }));
    ws.read_message_max(o.max_frame_bytes);
    ws.async_accept(upgrade_,
                    beast::bind_front_handler(&WebsocketSession::OnAccept, shared_from_this()));
  });
}

void WebsocketSession::OnAccept(beast::error_code ec) {
  upgrade_ = {};
  if (ec) return;
  client_.OnOpen();
  DoRead(kReadChunk);
}

void WebsocketSession::DoRead(size_t limit) {
  Ws([this, limit](auto& ws) {
    ws.async_read_some(buffer_, limit,
                       beast::bind_front_handler(&WebsocketSession::OnRead, shared_from_this()));
  });
}

void WebsocketSession::OnRead(beast::error_code ec, size_t) {
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      // Beast has already sent close 1009; count it like our own closes.
      gateway_->metrics().closes.Inc(std::to_string(close_code::kTooBig));
    }
    return;  // The session ends when the last handler holding it returns.
  }
  // More to come: 0 lets Beast choose the size.
  if (!Ws([](auto& ws) { return ws.is_message_done(); })) return DoRead(0);
  if (!closing_) {
    // The frame is handled in place: the buffer is one contiguous block.
    const auto data = buffer_.cdata();
    client_.OnFrame(absl::string_view(static_cast<const char*>(data.data()), data.size()),
                    Ws([](auto& ws) { return ws.got_text(); }));
  }
  buffer_.consume(buffer_.size());
  // An idle socket should not pin the largest frame it ever received.
  if (buffer_.capacity() > 2 * kReadChunk) buffer_.shrink_to_fit();
  DoRead(kReadChunk);
}

void WebsocketSession::Deliver(const std::shared_ptr<const EncodedEvent>& event) {
  net::post(executor(), [self = shared_from_this(), event] { self->client_.OnEvent(event); });
}

void WebsocketSession::Send(std::shared_ptr<const std::string> bytes, bool binary, bool droppable) {
  // A flushing close still takes the replies it waits for, nothing else.
  if (closing_ && (!close_after_flush_ || droppable)) return;
  const size_t limit = gateway_->options().max_outbound_bytes;
  if (droppable && queued_bytes_ + bytes->size() > limit / 2) {
    gateway_->metrics().dropped_events.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (queued_bytes_ + bytes->size() > limit) {
    gateway_->metrics().slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    return Close(close_code::kSlowConsumer, "slow consumer: reconnect and resume");
  }
  queued_bytes_ += bytes->size();
  queue_.push_back(Outgoing{std::move(bytes), binary});
  if (!writing_) DoWrite();
}

void WebsocketSession::DoWrite() {
  writing_ = true;
  const Outgoing& front = queue_.front();
  Ws([&](auto& ws) {
    ws.binary(front.binary);
    ws.async_write(net::buffer(*front.bytes),
                   beast::bind_front_handler(&WebsocketSession::OnWrite, shared_from_this()));
  });
}

void WebsocketSession::OnWrite(beast::error_code ec, size_t) {
  writing_ = false;
  if (ec) {
    queue_.clear();
    queued_bytes_ = 0;
    beast::error_code ignored;
    TcpOf(ws_).socket().close(ignored);
    return;
  }
  queued_bytes_ -= queue_.front().bytes->size();
  queue_.pop_front();
  if (!closing_) client_.OnWritten();
  if (writing_) return;  // OnWritten queued a frame, and its write started.
  if (!queue_.empty() && (!closing_ || close_after_flush_)) return DoWrite();
  MaybeFinishClose();
}

void WebsocketSession::MaybeFinishClose() {
  if (!close_after_flush_ || writing_ || !queue_.empty() || client_.requests_in_flight() > 0) {
    return;
  }
  auto [code, reason] = *std::move(close_after_flush_);
  close_after_flush_.reset();
  DoClose(code, reason);
}

void WebsocketSession::CloseAfter(absl::Duration delay, uint16_t code, std::string reason) {
  net::post(executor(), [self = shared_from_this(), delay, code, reason = std::move(reason)] {
    if (self->closing_) return;
    self->close_timer_.expires_after(absl::ToChronoNanoseconds(delay));
    self->close_timer_.async_wait([self, code, reason](beast::error_code ec) {
      if (!ec) self->Close(code, reason, /*flush=*/true);
    });
  });
}

void WebsocketSession::Close(uint16_t code, const std::string& reason, bool flush) {
  if (closing_) return;
  closing_ = true;
  gateway_->metrics().closes.Inc(std::to_string(code));
  client_.OnClosing();
  // A peer that never completes the close handshake (or never reads what is
  // flushed) is cut off.
  close_timer_.expires_after(std::chrono::seconds(5));
  close_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    beast::error_code ignored;
    TcpOf(self->ws_).socket().close(ignored);
  });
  if (flush) {
    close_after_flush_.emplace(code, reason);
    return MaybeFinishClose();
  }
  // Frames not yet on the wire are dropped; one already being written finishes.
  while (queue_.size() > (writing_ ? 1u : 0u)) {
    queued_bytes_ -= queue_.back().bytes->size();
    queue_.pop_back();
  }
  DoClose(code, reason);
}

void WebsocketSession::DoClose(uint16_t code, const std::string& reason) {
  Ws([&](auto& ws) {
    ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                   [self = shared_from_this()](beast::error_code) {});
  });
}

}  // namespace chat::gateway
