// WebsocketSession: the transport of one client socket. Runs on its own
// strand; reads one message at a time (at most 512 bytes per read, so an idle
// socket holds little), keeps exactly one write in flight from a
// bounded outbound queue, and closes with a code. What the frames mean is the
// ClientSession's business: it receives every frame and every topic event.
// Close codes are the protocol's (errors.h, docs/protocol.md).
#ifndef CHATSUITE_GATEWAY_WEBSOCKET_SESSION_H_
#define CHATSUITE_GATEWAY_WEBSOCKET_SESSION_H_

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/time/time.h"
#include "common/fifo.h"
#include "gateway/client_session.h"
#include "gateway/client_stream.h"
#include "gateway/seed_endpoints.h"
#include "gateway/topic_registry.h"

namespace chat::gateway {

class Gateway;

class WebsocketSession : public Subscriber, public std::enable_shared_from_this<WebsocketSession> {
 public:
  // stream: the upgraded connection (TLS already handshaken, with tls its
  // context, kept alive for the session's life).
  WebsocketSession(ClientStream&& stream, std::shared_ptr<boost::asio::ssl::context> tls,
                   Gateway* gateway, SessionRoute route);
  ~WebsocketSession() override;

  // Run accepts the upgrade request and starts the session.
  void Run(boost::beast::http::request<boost::beast::http::string_body> req);

  // Deliver queues a topic event for the client session. Thread-safe; never blocks.
  void Deliver(const std::shared_ptr<const EncodedEvent>& event) override;

  // CloseAfter closes the session with code after delay. Thread-safe.
  void CloseAfter(absl::Duration delay, uint16_t code, std::string reason);

  // The rest: on the strand only.

  // Send queues bytes for the client. Droppable frames are shed first under
  // pressure (above half of the outbound limit); a queue that would exceed
  // the limit closes the session with kSlowConsumer instead.
  void Send(std::shared_ptr<const std::string> bytes, bool binary, bool droppable);
  // Close sends a close frame with code and ends the session. Frames not yet
  // on the wire are dropped; with flush, the replies to requests still in
  // flight and everything queued are written first (within the 5 s the close
  // gets). Idempotent.
  void Close(uint16_t code, const std::string& reason, bool flush = false);
  // MaybeFinishClose sends a flushing close once nothing is left to write
  // and no request is in flight; the client session calls it as replies land.
  void MaybeFinishClose();
  // closing: no more frames are read or events sent; replies may still be
  // while a flushing close waits.
  bool closing() const { return closing_; }
  // queued_bytes: bytes queued for the client and not yet written.
  size_t queued_bytes() const { return queued_bytes_; }
  boost::asio::any_io_executor executor() { return TcpOf(ws_).get_executor(); }
  // HoldSlot keeps the client address's connection slot for the session's life.
  void HoldSlot(std::unique_ptr<SessionLimits::Slot> slot) { address_slot_ = std::move(slot); }

 private:
  struct Outgoing {
    std::shared_ptr<const std::string> bytes;
    bool binary;
  };

  void OnAccept(boost::beast::error_code ec);
  // DoRead reads the next part of a message, at most limit bytes (0: Beast's choice).
  void DoRead(size_t limit);
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void DoWrite();
  void OnWrite(boost::beast::error_code ec, size_t bytes);
  void DoClose(uint16_t code, const std::string& reason);
  // Ws runs f on the WebSocket stream, whichever transport it is over.
  template <typename F>
  decltype(auto) Ws(F&& f) {
    return std::visit(std::forward<F>(f), ws_);
  }

  using Stream = std::variant<boost::beast::websocket::stream<PlainStream>,
                              boost::beast::websocket::stream<TlsStream>>;
  static Stream Upgrade(ClientStream&& stream);

  std::shared_ptr<boost::asio::ssl::context> tls_;  // Outlives ws_.
  Stream ws_;
  Gateway* gateway_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> upgrade_;
  boost::asio::steady_timer close_timer_;

  // All below: on the strand only.
  Fifo<Outgoing> queue_;  // No memory until first used; 16 slots at most once drained.
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  // A flushing Close waits for the queue to drain: the close to send then.
  std::optional<std::pair<uint16_t, std::string>> close_after_flush_;
  std::unique_ptr<SessionLimits::Slot> address_slot_;
  ClientSession client_;
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_WEBSOCKET_SESSION_H_
