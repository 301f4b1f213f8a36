#include "chat_service/chat_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/keys.h"
#include "common/status.h"

namespace chat::chat_service {

namespace {

// RespondWithPage turns the store's page into the RPC's response for done.
Done<HistoryPage> RespondWithPage(Done<HistoryResponse> done) {
  return [done = std::move(done)](absl::StatusOr<HistoryPage> page) mutable {
    if (!page.ok()) return done(page.status());
    HistoryResponse resp;
    resp.mutable_messages()->Reserve(static_cast<int>(page->messages.size()));
    for (ChatMessage& m : page->messages) *resp.add_messages() = std::move(m);
    resp.set_head_seq(page->head_seq);
    resp.set_oldest_seq(page->oldest_seq);
    resp.set_lost_from(page->lost_from);
    resp.set_lost_to(page->lost_to);
    done(std::move(resp));
  };
}

absl::Status CheckIds(std::initializer_list<std::pair<const char*, const std::string*>> ids) {
  for (const auto& [what, id] : ids) {
    if (!keys::IsValidId(*id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " must be 1-64 characters of A-Z a-z 0-9 _ -"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckName(const std::string& name) {
  size_t n = Utf8Length(absl::StripAsciiWhitespace(name));
  if (n == 0 || n > 100) return absl::InvalidArgumentError("name must be 1-100 characters");
  return absl::OkStatus();
}

}  // namespace

size_t Utf8Length(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool AccessCache::Granted(const std::string& key, absl::Time now) {
  if (ttl_ <= absl::ZeroDuration()) return false;
  absl::MutexLock lock(&mu_);
  auto it = granted_at_.find(key);
  return it != granted_at_.end() && now - it->second < ttl_;
}

void AccessCache::Grant(const std::string& key, absl::Time now) {
  if (ttl_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (granted_at_.size() >= capacity_) granted_at_.clear();
  granted_at_[key] = now;
}

void AccessCache::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  granted_at_.erase(key);
}

void ChatCore::CheckAccess(const std::string& server, const std::string& channel,
                           const std::string& user, Done<bool> done) {
  std::string key = absl::StrCat(server, "/", channel, "/", user);
  const absl::Time now = absl::FromUnixMillis(options_.now_ms());
  if (access_cache_.Granted(key, now)) return done(true);
  store_->CheckAccess(
      server, channel, user,
      [this, key = std::move(key), now, done = std::move(done)](absl::StatusOr<bool> ok) mutable {
        if (ok.ok()) access_cache_.Grant(key, now);
        done(std::move(ok));
      });
}

void ChatCore::Send(const SendRequest& req, Done<SendResponse> done) {
  if (absl::Status s = CheckIds({{"server", &req.server()},
                                 {"channel", &req.channel()},
                                 {"author id", &req.author().id()}});
      !s.ok()) {
    return done(s);
  }
  if (req.nonce().empty() ||
      Utf8Length(req.nonce()) > static_cast<size_t>(options_.max_nonce_chars)) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("id (nonce) must be 1-", options_.max_nonce_chars, " characters")));
  }
  if (absl::StripAsciiWhitespace(req.message()).empty()) {
    return done(absl::InvalidArgumentError("message is empty"));
  }
  if (Utf8Length(req.message()) > static_cast<size_t>(options_.max_message_chars)) {
    return done(
        WithReason(absl::InvalidArgumentError(absl::StrCat(
                       "message is longer than ", options_.max_message_chars, " characters")),
                   "too_long"));
  }
  ChatMessage msg;
  msg.set_server(req.server());
  msg.set_channel(req.channel());
  msg.set_message(req.message());
  msg.set_author(req.author().name());
  msg.set_image(req.author().image());
  msg.set_author_id(req.author().id());
  msg.set_id(req.nonce());
  msg.set_sent_at(options_.now_ms());
  std::vector<std::string> mentioned =
      ParseMentions(msg.message(), msg.author_id(), options_.max_mentions_per_message);
  CheckAccess(req.server(), req.channel(), req.author().id(),
              [this, server = req.server(), msg = std::move(msg), mentioned = std::move(mentioned),
               seen = req.seen_seq(), done = std::move(done)](absl::StatusOr<bool> ok) mutable {
                if (!ok.ok()) return done(ok.status());
                auto append = [this, msg = std::move(msg), seen, done = std::move(done)](
                                  absl::StatusOr<std::vector<std::string>> members) mutable {
                  if (!members.ok()) return done(members.status());
                  store_->Append(msg, *members, seen,
                                 [done = std::move(done)](absl::StatusOr<AppendResult> r) mutable {
                                   if (!r.ok()) return done(r.status());
                                   SendResponse resp;
                                   resp.set_seq(r->seq);
                                   resp.set_sent_at(r->sent_at);
                                   resp.set_duplicate(r->duplicate);
                                   done(std::move(resp));
                                 });
                };
                // Only members are mentioned: one more Redis call, for messages with mentions.
                if (mentioned.empty()) return append(std::vector<std::string>{});
                store_->Members(server, mentioned, std::move(append));
              });
}

void ChatCore::History(const HistoryRequest& req, Done<HistoryResponse> done) {
  if (absl::Status s = CheckIds(
          {{"server", &req.server()}, {"channel", &req.channel()}, {"user id", &req.user_id()}});
      !s.ok()) {
    return done(s);
  }
  if (req.before() < 0 || req.after() < 0 || req.limit() < 0) {
    return done(absl::InvalidArgumentError("before, after and limit must not be negative"));
  }
  HistoryQuery q;
  q.server = req.server();
  q.channel = req.channel();
  q.before = req.before();
  q.after = req.after();
  q.forward = req.has_after();  // after "0" pages from the start, not the newest.
  q.limit = req.limit() == 0 ? options_.default_history_limit
                             : std::min(req.limit(), options_.max_history_limit);
  CheckAccess(req.server(), req.channel(), req.user_id(),
              [this, q = std::move(q), done = std::move(done)](absl::StatusOr<bool> ok) mutable {
                if (!ok.ok()) return done(ok.status());
                store_->History(q, RespondWithPage(std::move(done)));
              });
}

void ChatCore::Typing(const TypingRequest& req, Done<TypingResponse> done) {
  if (absl::Status s = CheckIds(
          {{"server", &req.server()}, {"channel", &req.channel()}, {"user id", &req.user().id()}});
      !s.ok()) {
    return done(s);
  }
  chat::Typing typing;
  typing.set_type("typing");
  typing.set_server(req.server());
  typing.set_channel(req.channel());
  typing.set_user_id(req.user().id());
  typing.set_user_name(req.user().name());
  typing.set_expires_in_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(options_.typing_ttl)));
  CheckAccess(
      req.server(), req.channel(), req.user().id(),
      [this, typing = std::move(typing), done = std::move(done)](absl::StatusOr<bool> ok) mutable {
        if (!ok.ok()) return done(ok.status());
        store_->RelayTyping(typing, options_.typing_interval,
                            [done = std::move(done)](absl::StatusOr<bool> relayed) mutable {
                              if (!relayed.ok()) return done(relayed.status());
                              TypingResponse resp;
                              resp.set_relayed(*relayed);
                              done(std::move(resp));
                            });
      });
}

void ChatCore::Tail(const TailRequest& req, Done<HistoryResponse> done) {
  if (absl::Status s = CheckIds({{"server", &req.server()}, {"channel", &req.channel()}});
      !s.ok()) {
    return done(s);
  }
  if (req.after() < 0 || req.limit() < 0) {
    return done(absl::InvalidArgumentError("after and limit must not be negative"));
  }
  HistoryQuery q;
  q.server = req.server();
  q.channel = req.channel();
  q.after = req.after();
  q.limit = req.limit() == 0 ? options_.max_history_limit
                             : std::min(req.limit(), options_.max_history_limit);
  q.forward = true;  // Even from after = 0: the start, not the newest.
  store_->History(q, RespondWithPage(std::move(done)));
}

void ChatCore::GetUserState(const GetUserStateRequest& req, Done<UserState> done) {
  if (absl::Status s = CheckIds({{"user id", &req.user_id()}}); !s.ok()) return done(s);
  store_->GetUserState(req.user_id(), std::move(done));
}

void ChatCore::UpsertUser(const User& req, Done<User> done) {
  if (absl::Status s = CheckIds({{"user id", &req.id()}}); !s.ok()) return done(s);
  if (absl::Status s = CheckName(req.name()); !s.ok()) return done(s);
  if (req.image().size() > 2048) return done(absl::InvalidArgumentError("image URL too long"));
  store_->UpsertUser(req, std::move(done));
}

void ChatCore::GetUser(const GetUserRequest& req, Done<User> done) {
  if (absl::Status s = CheckIds({{"user id", &req.id()}}); !s.ok()) return done(s);
  store_->GetUser(req.id(), std::move(done));
}

void ChatCore::CreateServer(const CreateServerRequest& req, Done<Server> done) {
  if (absl::Status s = CheckIds({{"server id", &req.id()}}); !s.ok()) return done(s);
  if (absl::Status s = CheckName(req.name()); !s.ok()) return done(s);
  store_->CreateServer(req.id(), req.name(), std::move(done));
}

void ChatCore::CreateChannel(const CreateChannelRequest& req, Done<Channel> done) {
  if (absl::Status s = CheckIds({{"server id", &req.server()}, {"channel id", &req.id()}});
      !s.ok()) {
    return done(s);
  }
  if (absl::Status s = CheckName(req.name()); !s.ok()) return done(s);
  store_->CreateChannel(req.server(), req.id(), req.name(), std::move(done));
}

void ChatCore::AddMember(const AddMemberRequest& req, Done<AddMemberResponse> done) {
  if (absl::Status s = CheckIds({{"server id", &req.server()}, {"user id", &req.user_id()}});
      !s.ok()) {
    return done(s);
  }
  store_->AddMember(req.server(), req.user_id(),
                    [done = std::move(done)](absl::StatusOr<bool> added) mutable {
                      if (!added.ok()) return done(added.status());
                      AddMemberResponse resp;
                      resp.set_added(*added);
                      done(std::move(resp));
                    });
}

void ChatCore::MarkRead(const MarkReadRequest& req, Done<MarkReadResponse> done) {
  if (absl::Status s = CheckIds(
          {{"server", &req.server()}, {"channel", &req.channel()}, {"user id", &req.user_id()}});
      !s.ok()) {
    return done(s);
  }
  if (req.seq() < 0) return done(absl::InvalidArgumentError("seq must not be negative"));
  CheckAccess(req.server(), req.channel(), req.user_id(),
              [this, req, done = std::move(done)](absl::StatusOr<bool> ok) mutable {
                if (!ok.ok()) return done(ok.status());
                store_->ChannelHead(
                    req.server(), req.channel(),
                    [this, req, done = std::move(done)](absl::StatusOr<int64_t> head) mutable {
                      if (!head.ok()) return done(head.status());
                      // A marker beyond the head would hide messages yet to come.
                      const int64_t seq = std::min(req.seq(), *head);
                      store_->MentionsAfter(
                          req.server(), req.channel(), req.user_id(), seq,
                          [this, req, seq, head = *head,
                           done = std::move(done)](absl::StatusOr<int64_t> mentions) mutable {
                            if (!mentions.ok()) return done(mentions.status());
                            ReadState state;
                            state.set_type("read_state");
                            state.set_server(req.server());
                            state.set_channel(req.channel());
                            state.set_last_read_seq(seq);
                            state.set_unread(head - seq);
                            state.set_mentions(*mentions);
                            store_->MarkRead(
                                req.user_id(), state,
                                [state, head, done = std::move(done)](
                                    absl::StatusOr<ChatStore::MarkReadResult> r) mutable {
                                  if (!r.ok()) return done(r.status());
                                  MarkReadResponse resp;
                                  *resp.mutable_state() = std::move(state);
                                  resp.set_changed(r->changed);
                                  if (!r->changed) {  // The stored marker stands.
                                    resp.mutable_state()->set_last_read_seq(r->last_read_seq);
                                    resp.mutable_state()->set_unread(
                                        std::max<int64_t>(0, head - r->last_read_seq));
                                  }
                                  done(std::move(resp));
                                });
                          });
                    });
              });
}

void ChatCore::PersonalTail(const PersonalTailRequest& req, Done<PersonalTailResponse> done) {
  if (absl::Status s = CheckIds({{"user id", &req.user_id()}}); !s.ok()) return done(s);
  if (req.after() < 0 || req.limit() < 0) {
    return done(absl::InvalidArgumentError("after and limit must not be negative"));
  }
  const int limit = req.limit() == 0 ? options_.max_history_limit
                                     : std::min(req.limit(), options_.max_history_limit);
  store_->PersonalTail(req.user_id(), req.after(), limit,
                       [done = std::move(done)](absl::StatusOr<PersonalPage> page) mutable {
                         if (!page.ok()) return done(page.status());
                         PersonalTailResponse resp;
                         for (auto& [seq, event] : page->events) {
                           PersonalEvent* e = resp.add_events();
                           e->set_user_seq(seq);
                           *e->mutable_event() = std::move(event);
                         }
                         resp.set_head_seq(page->head_seq);
                         resp.set_oldest_seq(page->oldest_seq);
                         resp.set_lost_from(page->lost_from);
                         resp.set_lost_to(page->lost_to);
                         done(std::move(resp));
                       });
}

std::vector<std::string> ParseMentions(absl::string_view text, absl::string_view author,
                                       size_t max) {
  std::vector<std::string> out;
  for (size_t i = text.find("<@"); i != absl::string_view::npos && out.size() < max;
       i = text.find("<@", i + 2)) {
    const size_t end = text.find('>', i + 2);
    if (end == absl::string_view::npos) break;
    absl::string_view id = text.substr(i + 2, end - i - 2);
    if (!keys::IsValidId(id) || id == author) continue;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.emplace_back(id);
  }
  return out;
}

}  // namespace chat::chat_service
