#include "common/redis_connection.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace chat::redis {

namespace asio = boost::asio;

absl::StatusOr<Reply> ConvertReply(const redisReply* r) {
  if (r == nullptr) return absl::UnavailableError("redis: connection lost");
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_ERROR:
      return absl::InternalError(absl::StrCat("redis: ", absl::string_view(r->str, r->len)));
    case REDIS_REPLY_NIL:
      out.type = Reply::Type::kNil;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        absl::StatusOr<Reply> e = ConvertReply(r->element[i]);
        if (!e.ok()) return e.status();
        out.elements.push_back(*std::move(e));
      }
      break;
    default:
      return absl::InternalError("redis: unexpected reply type");
  }
  return out;
}

Connection::Connection(asio::any_io_executor executor, Options options)
    : strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      reconnect_timer_(strand_) {}

Connection::~Connection() {
  if (ac_ != nullptr) {
    ac_->data = nullptr;
    ac_->onDisconnect = nullptr;
    redisAsyncFree(ac_);
  }
}

void Connection::Start() {
  asio::post(strand_, [self = shared_from_this()] { self->DoConnect(); });
}

void Connection::Stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->reconnect_timer_.cancel();
    if (self->ac_ != nullptr) redisAsyncDisconnect(self->ac_);
  });
}

void Connection::Reconnect() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopped_ || self->ac_ == nullptr) return;
    spdlog::warn("event=redis_forced_reconnect host={} port={}", self->options_.host,
                 self->options_.port);
    // Shutting the socket down makes hiredis read EOF: pending callbacks get
    // kUnavailable and the usual reconnect follows, even on a connection
    // whose peer has gone silent (a disconnect would wait for its replies).
    ::shutdown(self->ac_->c.fd, SHUT_RDWR);
  });
}

void Connection::DoConnect() {
  if (stopped_ || ac_ != nullptr) return;
  redisAsyncContext* ac = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (ac == nullptr || ac->err) {
    spdlog::warn("event=redis_connect_failed host={} port={} error=\"{}\"", options_.host,
                 options_.port, ac ? ac->errstr : "alloc");
    if (ac != nullptr) redisAsyncFree(ac);
    ScheduleReconnect();
    return;
  }
  ac_ = ac;
  ac->data = this;
  ac->ev.data = this;
  ac->ev.addRead = &Connection::AddRead;
  ac->ev.delRead = &Connection::DelRead;
  ac->ev.addWrite = &Connection::AddWrite;
  ac->ev.delWrite = &Connection::DelWrite;
  ac->ev.cleanup = &Connection::Cleanup;
  redisAsyncSetConnectCallback(ac, &Connection::ConnectTrampoline);
  redisAsyncSetDisconnectCallback(ac, &Connection::DisconnectTrampoline);
  socket_ = std::make_unique<asio::posix::stream_descriptor>(strand_, ac->c.fd);
  // The connect completes when the socket first becomes writable.
  want_write_ = true;
  ArmWrite();
}

void Connection::ScheduleReconnect() {
  connected_ = false;
  if (stopped_) return;
  reconnect_timer_.expires_after(absl::ToChronoNanoseconds(options_.reconnect_delay));
  reconnect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->DoConnect();
  });
}

void Connection::ConnectTrampoline(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<Connection*>(ac->data);
  if (self == nullptr) return;
  if (status != REDIS_OK) {
    self->stats_.connect_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=redis_connect_failed host={} port={} error=\"{}\"", self->options_.host,
                 self->options_.port, ac->errstr);
    self->ac_ = nullptr;  // hiredis frees it after this returns.
    self->ScheduleReconnect();
    return;
  }
  self->connected_ = true;
  self->stats_.connects.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("event=redis_connected host={} port={}", self->options_.host, self->options_.port);
  self->OnConnected();
  if (self->on_state_) self->on_state_(true);
}

void Connection::DisconnectTrampoline(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<Connection*>(ac->data);
  if (self == nullptr) return;
  self->ac_ = nullptr;  // hiredis frees it after this returns.
  self->connected_ = false;
  if (!self->stopped_) self->stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
  self->OnDisconnected();
  if (self->on_state_) self->on_state_(false);
  if (!self->stopped_) {
    spdlog::warn("event=redis_disconnected host={} port={} error=\"{}\"", self->options_.host,
                 self->options_.port, ac->errstr ? ac->errstr : "");
  }
  self->ScheduleReconnect();
}

void Connection::AddRead(void* p) noexcept {
  auto* self = static_cast<Connection*>(p);
  self->want_read_ = true;
  self->ArmRead();
}
void Connection::DelRead(void* p) noexcept { static_cast<Connection*>(p)->want_read_ = false; }
void Connection::AddWrite(void* p) noexcept {
  auto* self = static_cast<Connection*>(p);
  self->want_write_ = true;
  self->ArmWrite();
}
void Connection::DelWrite(void* p) noexcept { static_cast<Connection*>(p)->want_write_ = false; }

void Connection::Cleanup(void* p) noexcept {
  auto* self = static_cast<Connection*>(p);
  self->want_read_ = self->want_write_ = false;
  if (self->socket_) {
    boost::system::error_code ignored;
    self->socket_->cancel(ignored);
    self->socket_->release();  // hiredis closes the descriptor itself.
    self->socket_.reset();
  }
  self->ac_ = nullptr;
}

void Connection::ArmRead() {
  if (!want_read_ || reading_ || !socket_) return;
  reading_ = true;
  socket_->async_wait(
      asio::posix::stream_descriptor::wait_read,
      asio::bind_executor(
          strand_, [self = shared_from_this(), sock = socket_.get()](boost::system::error_code ec) {
            self->reading_ = false;
            if (ec || self->socket_.get() != sock || self->ac_ == nullptr) return;
            if (self->want_read_) self->HandleReadable();
            self->ArmRead();
          }));
}

void Connection::HandleReadable() { redisAsyncHandleRead(ac_); }

void Connection::ArmWrite() {
  if (!want_write_ || writing_ || !socket_) return;
  writing_ = true;
  socket_->async_wait(
      asio::posix::stream_descriptor::wait_write,
      asio::bind_executor(
          strand_, [self = shared_from_this(), sock = socket_.get()](boost::system::error_code ec) {
            self->writing_ = false;
            if (ec || self->socket_.get() != sock || self->ac_ == nullptr) return;
            if (self->want_write_) redisAsyncHandleWrite(self->ac_);
            self->ArmWrite();
          }));
}

void AppendRedisMetrics(const std::vector<std::pair<std::string, const Connection*>>& connections,
                        std::string* out) {
  using metrics::AppendHeader;
  AppendHeader(out, "chat_redis_connected", "gauge", "1 while the Redis connection is up.");
  for (const auto& [name, c] : connections) {
    absl::StrAppend(out, "chat_redis_connected{connection=\"", name, "\"} ", c->connected() ? 1 : 0,
                    "\n");
  }
  AppendHeader(out, "chat_redis_commands_total", "counter", "Commands written to Redis.");
  for (const auto& [name, c] : connections) {
    absl::StrAppend(out, "chat_redis_commands_total{connection=\"", name, "\"} ",
                    c->stats().commands.load(std::memory_order_relaxed), "\n");
  }
  AppendHeader(out, "chat_redis_reconnects_total", "counter",
               "Redis connections lost after being established.");
  for (const auto& [name, c] : connections) {
    absl::StrAppend(out, "chat_redis_reconnects_total{connection=\"", name, "\"} ",
                    c->stats().disconnects.load(std::memory_order_relaxed), "\n");
  }
  AppendHeader(out, "chat_redis_errors_total", "counter",
               "Failed Redis commands and connection attempts, by kind: connect_failed, "
               "not_connected and overloaded (failed at once), connection_lost (before the "
               "reply), error_reply (Redis refused the command).");
  for (const auto& [name, c] : connections) {
    const ConnectionStats& s = c->stats();
    const std::pair<const char*, uint64_t> kinds[] = {
        {"connect_failed", s.connect_failures.load(std::memory_order_relaxed)},
        {"not_connected", s.not_connected.load(std::memory_order_relaxed)},
        {"overloaded", s.overloaded.load(std::memory_order_relaxed)},
        {"connection_lost", s.connection_lost.load(std::memory_order_relaxed)},
        {"error_reply", s.error_replies.load(std::memory_order_relaxed)},
    };
    for (const auto& [kind, n] : kinds) {
      absl::StrAppend(out, "chat_redis_errors_total{connection=\"", name, "\",kind=\"", kind,
                      "\"} ", n, "\n");
    }
  }
}

void AppendRedisMetrics(
    const std::vector<std::pair<std::string, std::shared_ptr<const Connection>>>& connections,
    std::string* out) {
  std::vector<std::pair<std::string, const Connection*>> raw;
  raw.reserve(connections.size());
  for (const auto& [name, c] : connections) raw.emplace_back(name, c.get());
  AppendRedisMetrics(raw, out);
}

}  // namespace chat::redis
