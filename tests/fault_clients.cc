#include "tests/fault_clients.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat::testing {

std::string ChatFrame(const std::string& text, const std::string& id) {
  return absl::StrCat(R"({"type":"chat_message","server":"demo","channel":"general","message":")",
                      text, R"(","id":")", id, R"("})");
}

Member::Member(Stack& stack, std::string user, std::vector<int> ports)
    : stack_(stack), user_(std::move(user)), ports_(std::move(ports)) {}

bool Member::Connect() {
  auto ws = std::make_unique<WsClient>();
  if (absl::Status s = ws->Connect(ports_[gw_], "/ws"); !s.ok()) {
    history_.push_back(
        absl::StrCat(absl::FormatTime(absl::Now()), " port ", ports_[gw_], ": ", s.ToString()));
    return false;
  }
  std::string resume;
  if (have_cursor_) {
    resume = absl::StrCat(R"(,"resume":{"channels":[{"server":"demo","channel":"general","seq":")",
                          last_seq_, R"("}],"user_seq":")", last_user_seq_, R"("})");
  }
  ws->Send(
      absl::StrCat(R"({"type":"identify","token":")", stack_.Token(user_), R"(")", resume, "}"));
  auto ready = ws->NextOfType("ready", absl::Seconds(3));
  if (!ready) {
    history_.push_back(absl::StrCat(absl::FormatTime(absl::Now()), " port ", ports_[gw_],
                                    ": no ready, close ", ws->WaitClosed(absl::ZeroDuration())));
    return false;
  }
  history_.push_back(absl::StrCat(
      absl::FormatTime(absl::Now()), " port ", ports_[gw_], ": ready after seq ", last_seq_,
      ready->find(R"("id":"general")") != std::string::npos ? ", lists general" : ", NO general"));
  // Without a cursor, everything up to ready's head is history, not traffic
  // the caller counts; ready's user_seq starts the personal stream.
  if (!have_cursor_) {
    const std::string user_seq = JsonField(*ready, "user_seq");
    last_user_seq_ = user_seq.empty() ? 0 : std::stoll(user_seq);
  }
  have_cursor_ = true;
  ws_ = std::move(ws);
  ++connects_;
  for (const auto& [nonce, text] : pending_) ws_->Send(ChatFrame(text, nonce));  // Resend.
  return true;
}

void Member::Send(const std::string& nonce) {
  pending_[nonce] = "m";
  if (ws_) ws_->Send(ChatFrame("m", nonce));
}

void Member::Pump(absl::Duration timeout) {
  if (!ws_) return Reconnect();
  while (auto f = ws_->Next(timeout)) {
    timeout = absl::ZeroDuration();
    const std::string type = JsonField(*f, "type");
    if (type == "chat_message") {
      const int64_t seq = std::stoll(JsonField(*f, "seq"));
      if (seq <= last_seq_) {
        ++repeats_;  // Allowed (at least once); de-duplicated by seq.
        continue;
      }
      if (last_seq_ > 0 && seq != last_seq_ + 1) gaps_.push_back(seq);
      last_seq_ = seq;
      received_.push_back(seq);
      received_ids_[seq] = JsonField(*f, "id");
    } else if (type == "ack") {
      const std::string nonce = JsonField(*f, "id");
      const int64_t seq = std::stoll(JsonField(*f, "seq"));
      auto [it, fresh] = acked_.emplace(nonce, seq);
      if (!fresh && it->second != seq) ++duplicated_;  // Stored twice under one nonce.
      pending_.erase(nonce);
    } else if (type == "error") {
      retry_ = true;  // unavailable while Redis restarts, rate_limited: resend later.
    }
    if (type == "read_state" || type == "invitation" || type == "server_joined" ||
        type == "channel_created") {
      const std::string field = JsonField(*f, "user_seq");
      const int64_t user_seq = field.empty() ? 0 : std::stoll(field);
      if (user_seq > 0 && user_seq <= last_user_seq_) {
        ++repeats_;
      } else if (user_seq > 0) {
        if (user_seq != last_user_seq_ + 1) personal_gaps_.push_back(user_seq);
        last_user_seq_ = user_seq;
        personal_received_.push_back(user_seq);
      }
    }
  }
  if (const int code = ws_->WaitClosed(absl::ZeroDuration()); code != -1) {
    history_.push_back(
        absl::StrCat(absl::FormatTime(absl::Now()), " closed ", code, " after seq ", last_seq_));
    ws_.reset();
    gw_ = (gw_ + 1) % ports_.size();
    Reconnect();
  }
}

void Member::ResendIfAsked() {
  if (!retry_ || !ws_) return;
  retry_ = false;
  for (const auto& [nonce, text] : pending_) ws_->Send(ChatFrame(text, nonce));
}

void Member::MarkRead() {
  if (!ws_ || last_seq_ <= marked_) return;
  marked_ = last_seq_;
  ws_->Send(absl::StrCat(R"({"type":"read","server":"demo","channel":"general","seq":")", last_seq_,
                         R"("})"));
}

void Member::Reconnect() {
  for (size_t tries = 0; tries < 2 * ports_.size() && !Connect(); ++tries) {
    gw_ = (gw_ + 1) % ports_.size();
  }
}

ChatProcess::ChatProcess(Stack& stack, int port) : stack_(stack), port_(port) { Start(); }

void ChatProcess::Start() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::vector<std::string> args = {
      absl::StrCat(srcdir ? srcdir : ".", "/chatsuite/chat_service/chat_service"),
      absl::StrCat("--listen=127.0.0.1:", port_), "--log_level=warn",
      "--metrics_listen=127.0.0.1:0"};
  for (std::string& f : stack_.redis_flags()) args.push_back(std::move(f));
  pid_ = Spawn(std::move(args));
}

void ChatProcess::Kill() { KillAndReap(&pid_); }

}  // namespace chat::testing
