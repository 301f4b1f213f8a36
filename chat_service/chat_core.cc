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
    for (Event& e : page->revisions) {
      if (e.has_message_update()) *resp.add_updates() = std::move(*e.mutable_message_update());
      if (e.has_message_delete()) *resp.add_deletes() = std::move(*e.mutable_message_delete());
    }
    resp.set_head_seq(page->head_seq);
    resp.set_oldest_seq(page->oldest_seq);
    resp.set_lost_from(page->lost_from);
    resp.set_lost_to(page->lost_to);
    resp.set_next(page->next);
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

namespace {
std::string AccessKey(const std::string& server, const std::string& channel,
                      const std::string& user) {
  return absl::StrCat(server, "/", channel, "/", user);
}
bool IsModerator(const std::string& role) { return role == kRoleOwner || role == kRoleModerator; }
}  // namespace

absl::Status ChatCore::Refused(const absl::Status& status, const std::string& server,
                               const std::string& channel, const std::string& user) {
  if (absl::IsPermissionDenied(status)) access_cache_.Forget(AccessKey(server, channel, user));
  return status;
}

void ChatCore::CheckAccess(const std::string& server, const std::string& channel,
                           const std::string& user, Done<bool> done) {
  std::string key = AccessKey(server, channel, user);
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
  if (absl::Status s = CheckText(req.message()); !s.ok()) return done(s);
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
  const bool everyone = SaysEveryone(msg.message());
  CheckAccess(req.server(), req.channel(), req.author().id(),
              [this, msg = std::move(msg), mentioned = std::move(mentioned), everyone,
               seen = req.seen_seq(), done = std::move(done)](absl::StatusOr<bool> ok) mutable {
                if (!ok.ok()) return done(ok.status());
                MentionAndAppend(std::move(msg), std::move(mentioned), everyone, seen,
                                 std::move(done));
              });
}

void ChatCore::MentionAndAppend(ChatMessage msg, std::vector<std::string> mentioned,
                                bool says_everyone, int64_t seen_seq, Done<SendResponse> done) {
  if (says_everyone) {
    // The role decides, read fresh: one more Redis call, only for messages
    // that say @everyone. Everyone's set replaces the single mentions, so
    // nobody counts the message twice.
    const std::string server = msg.server(), author = msg.author_id();
    return store_->Role(server, author,
                        [this, msg = std::move(msg), mentioned = std::move(mentioned), seen_seq,
                         done = std::move(done)](absl::StatusOr<std::string> role) mutable {
                          if (!role.ok()) return done(role.status());
                          if (!IsModerator(*role)) {
                            return MentionAndAppend(std::move(msg), std::move(mentioned), false,
                                                    seen_seq, std::move(done));
                          }
                          msg.set_mentions_everyone(true);
                          AppendAs(std::move(msg), {kEveryone}, seen_seq, std::move(done));
                        });
  }
  if (mentioned.empty()) return AppendAs(std::move(msg), {}, seen_seq, std::move(done));
  // Only members are mentioned: one more Redis call, for messages with mentions.
  const std::string server = msg.server();
  store_->Members(server, mentioned,
                  [this, msg = std::move(msg), seen_seq, done = std::move(done)](
                      absl::StatusOr<std::vector<std::string>> members) mutable {
                    if (!members.ok()) return done(members.status());
                    AppendAs(std::move(msg), *std::move(members), seen_seq, std::move(done));
                  });
}

void ChatCore::AppendAs(ChatMessage msg, std::vector<std::string> mentioned, int64_t seen_seq,
                        Done<SendResponse> done) {
  auto respond = [this, server = msg.server(), channel = msg.channel(), user = msg.author_id()](
                     absl::StatusOr<AppendResult> r, Done<SendResponse> done) {
    if (!r.ok()) return done(Refused(r.status(), server, channel, user));
    SendResponse resp;
    resp.set_seq(r->seq);
    resp.set_sent_at(r->sent_at);
    resp.set_duplicate(r->duplicate);
    done(std::move(resp));
  };
  AppendOptions options;
  options.seen_seq = seen_seq;
  // The role is read only when slow mode holds a message back: the common
  // case costs nothing, and a role just taken away cannot exempt anyone.
  store_->Append(msg, mentioned, options,
                 [this, msg, mentioned, options, respond,
                  done = std::move(done)](absl::StatusOr<AppendResult> r) mutable {
                   if (ReasonOf(r.status()) != "slow_mode")
                     return respond(std::move(r), std::move(done));
                   const std::string server = msg.server(), author = msg.author_id();
                   store_->Role(server, author,
                                [this, msg = std::move(msg), mentioned = std::move(mentioned),
                                 options, respond, refused = r.status(),
                                 done = std::move(done)](absl::StatusOr<std::string> role) mutable {
                                  if (!role.ok() || !IsModerator(*role)) {
                                    return respond(refused, std::move(done));
                                  }
                                  options.slow_mode_exempt = true;
                                  store_->Append(msg, mentioned, options,
                                                 [respond, done = std::move(done)](
                                                     absl::StatusOr<AppendResult> r) mutable {
                                                   respond(std::move(r), std::move(done));
                                                 });
                                });
                 });
}

absl::Status ChatCore::CheckText(const std::string& text) const {
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError("message is empty");
  }
  if (Utf8Length(text) > static_cast<size_t>(options_.max_message_chars)) {
    return WithReason(absl::InvalidArgumentError(absl::StrCat(
                          "message is longer than ", options_.max_message_chars, " characters")),
                      "too_long");
  }
  return absl::OkStatus();
}

void ChatCore::Edit(const EditRequest& req, Done<RevisionResponse> done) {
  if (absl::Status s = CheckText(req.message()); !s.ok()) return done(s);
  const size_t max_mentions = options_.max_mentions_per_message;
  Reviser make = [req, max_mentions](const StoredMessage& stored,
                                     int64_t now) -> std::optional<Revision> {
    const ChatMessage& old = stored.message;
    if (old.message() == req.message()) return std::nullopt;
    Revision r;
    r.latest = old;
    r.latest.set_message(req.message());
    r.latest.set_edited_at(now);
    MessageUpdate* u = r.event.mutable_message_update();
    u->set_type("message_update");
    u->set_server(req.server());
    u->set_channel(req.channel());
    u->set_message_seq(old.seq());
    u->set_message(req.message());
    u->set_edited_at(now);
    u->set_author_id(old.author_id());
    r.seen_seq = req.seen_seq();
    // A ping of everyone stays as sent: single mentions never joined it.
    if (old.mentions_everyone()) return r;
    std::vector<std::string> before = ParseMentions(old.message(), old.author_id(), max_mentions);
    std::vector<std::string> after = ParseMentions(req.message(), old.author_id(), max_mentions);
    for (const std::string& id : before) {
      if (std::find(after.begin(), after.end(), id) == after.end()) r.unmention.push_back(id);
    }
    for (const std::string& id : after) {
      if (std::find(before.begin(), before.end(), id) == before.end()) r.mention.push_back(id);
    }
    return r;
  };
  ReviseMessage(req.user(), req.server(), req.channel(), req.message_seq(),
                /*moderators_may=*/false, std::move(make), std::move(done));
}

void ChatCore::Delete(const DeleteRequest& req, Done<RevisionResponse> done) {
  const size_t max_mentions = options_.max_mentions_per_message;
  Reviser make = [req, max_mentions](const StoredMessage& stored,
                                     int64_t now) -> std::optional<Revision> {
    const ChatMessage& old = stored.message;
    Revision r;
    r.latest = old;
    r.latest.clear_message();  // The text is gone from storage.
    r.latest.set_deleted(true);
    MessageDelete* d = r.event.mutable_message_delete();
    d->set_type("message_delete");
    d->set_server(req.server());
    d->set_channel(req.channel());
    d->set_message_seq(old.seq());
    d->set_deleted_by(req.user().id());
    d->set_deleted_at(now);
    r.deleted = true;
    r.unmention = old.mentions_everyone()
                      ? std::vector<std::string>{kEveryone}
                      : ParseMentions(old.message(), old.author_id(), max_mentions);
    r.seen_seq = req.seen_seq();
    return r;
  };
  ReviseMessage(req.user(), req.server(), req.channel(), req.message_seq(),
                /*moderators_may=*/true, std::move(make), std::move(done));
}

void ChatCore::ReviseMessage(const User& user, const std::string& server,
                             const std::string& channel, int64_t seq, bool moderators_may,
                             Reviser make, Done<RevisionResponse> done) {
  if (absl::Status s =
          CheckIds({{"server", &server}, {"channel", &channel}, {"user id", &user.id()}});
      !s.ok()) {
    return done(s);
  }
  if (seq <= 0) return done(absl::InvalidArgumentError("seq must be positive"));
  CheckAccess(server, channel, user.id(),
              [this, user = user.id(), server = server, channel = channel, seq, moderators_may,
               make = std::move(make), done = std::move(done)](absl::StatusOr<bool> ok) mutable {
                if (!ok.ok()) return done(ok.status());
                TryRevise(std::move(user), std::move(server), std::move(channel), seq,
                          moderators_may, std::move(make), /*attempts_left=*/3, std::move(done));
              });
}

void ChatCore::TryRevise(std::string user, std::string server, std::string channel, int64_t seq,
                         bool moderators_may, Reviser make, int attempts_left,
                         Done<RevisionResponse> done) {
  store_->GetMessage(
      server, channel, seq,
      [this, user = std::move(user), server, channel, seq, moderators_may, make = std::move(make),
       attempts_left, done = std::move(done)](absl::StatusOr<StoredMessage> stored) mutable {
        if (absl::IsNotFound(stored.status())) {
          return done(WithReason(absl::NotFoundError("no such message"), "unknown_message"));
        }
        if (!stored.ok()) return done(stored.status());
        if (stored->message.deleted()) {
          return done(WithReason(absl::FailedPreconditionError("the message was deleted"),
                                 "message_deleted"));
        }
        if (stored->message.author_id() == user) {
          return ApplyRevision(std::move(user), std::move(server), std::move(channel), seq,
                               moderators_may, std::move(make), attempts_left, *std::move(stored),
                               std::move(done));
        }
        auto not_author = [] {
          return WithReason(absl::PermissionDeniedError("only its author may change it"),
                            "not_author");
        };
        if (!moderators_may) return done(not_author());
        // Read each time, never cached: a moderator demoted a moment ago
        // deletes nothing more.
        const std::string s = server;
        const std::string u = user;
        store_->Role(
            s, u,
            [this, user = std::move(user), server = std::move(server), channel = std::move(channel),
             seq, make = std::move(make), attempts_left, stored = *std::move(stored), not_author,
             done = std::move(done)](absl::StatusOr<std::string> role) mutable {
              if (!role.ok()) return done(role.status());
              if (!IsModerator(*role)) return done(not_author());
              ApplyRevision(std::move(user), std::move(server), std::move(channel), seq,
                            /*moderators_may=*/true, std::move(make), attempts_left,
                            std::move(stored), std::move(done));
            });
      });
}

void ChatCore::ApplyRevision(std::string user, std::string server, std::string channel, int64_t seq,
                             bool moderators_may, Reviser make, int attempts_left,
                             StoredMessage stored_message, Done<RevisionResponse> done) {
  StoredMessage* stored = &stored_message;
  std::optional<Revision> revision = make(*stored, options_.now_ms());
  if (!revision) return done(RevisionResponse{});  // Nothing changes.
  revision->server = server;
  revision->channel = channel;
  revision->message_seq = seq;
  revision->expected = std::move(stored->bytes);
  revision->actor = user;
  std::vector<std::string> candidates = std::move(revision->mention);
  const int64_t at = revision->event.has_message_update()
                         ? revision->event.message_update().edited_at()
                         : revision->event.message_delete().deleted_at();
  auto apply = [this, user = std::move(user), server, channel, seq, moderators_may,
                make = std::move(make), attempts_left, at, revision = *std::move(revision),
                done = std::move(done)](absl::StatusOr<std::vector<std::string>> members) mutable {
    if (!members.ok()) return done(members.status());
    revision.mention = *std::move(members);
    store_->Revise(
        revision, [this, user = std::move(user), server = std::move(server),
                   channel = std::move(channel), seq, moderators_may, make = std::move(make),
                   attempts_left, at, done = std::move(done)](absl::StatusOr<int64_t> r) mutable {
          // Changed between the read and the write: read it again.
          if (absl::IsAborted(r.status()) && attempts_left > 1) {
            return TryRevise(std::move(user), std::move(server), std::move(channel), seq,
                             moderators_may, std::move(make), attempts_left - 1, std::move(done));
          }
          if (absl::IsAborted(r.status())) {
            return done(WithReason(r.status(), "conflict"));  // Busy: worth a retry.
          }
          if (!r.ok()) return done(Refused(r.status(), server, channel, user));
          RevisionResponse resp;
          resp.set_seq(*r);
          resp.set_changed(true);
          resp.set_at(at);
          done(std::move(resp));
        });
  };
  // Only members are newly mentioned, as for Send.
  if (candidates.empty()) return apply(std::vector<std::string>{});
  store_->Members(server, candidates, std::move(apply));
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
  q.reader = req.user_id();
  CheckAccess(req.server(), req.channel(), req.user_id(),
              [this, q = std::move(q), done = std::move(done)](absl::StatusOr<bool> ok) mutable {
                if (!ok.ok()) return done(ok.status());
                Done<HistoryResponse> respond =
                    [this, server = q.server, channel = q.channel, user = q.reader,
                     done = std::move(done)](absl::StatusOr<HistoryResponse> r) mutable {
                      if (!r.ok()) return done(Refused(r.status(), server, channel, user));
                      done(std::move(r));
                    };
                store_->History(q, RespondWithPage(std::move(respond)));
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
        store_->RelayTyping(
            typing, options_.typing_interval,
            [this, typing, done = std::move(done)](absl::StatusOr<bool> relayed) mutable {
              if (!relayed.ok()) {
                return done(
                    Refused(relayed.status(), typing.server(), typing.channel(), typing.user_id()));
              }
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
  q.forward = true;    // Even from after = 0: the start, not the newest.
  q.revisions = true;  // A tail is the whole log: edits and deletes too.
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
  if (!req.owner().empty()) {
    if (absl::Status s = CheckIds({{"owner id", &req.owner()}}); !s.ok()) return done(s);
  }
  store_->CreateServer(req.id(), req.name(), req.owner(), std::move(done));
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

void ChatCore::SetRole(const SetRoleRequest& req, Done<SetRoleResponse> done) {
  if (absl::Status s = CheckIds({{"server id", &req.server()}, {"user id", &req.user_id()}});
      !s.ok()) {
    return done(s);
  }
  std::string role;
  if (req.role() == kRoleOwner || req.role() == kRoleModerator) {
    role = req.role();
  } else if (req.role() != "member") {
    return done(absl::InvalidArgumentError("role must be owner, moderator or member"));
  }
  store_->SetRole(req.server(), req.user_id(), role,
                  [done = std::move(done)](absl::StatusOr<bool> changed) mutable {
                    if (!changed.ok()) return done(changed.status());
                    SetRoleResponse resp;
                    resp.set_changed(*changed);
                    done(std::move(resp));
                  });
}

void ChatCore::Moderate(const ModerateRequest& req, bool as_operator, Done<ModerateResponse> done) {
  if (absl::Status s = CheckIds({{"server id", &req.server()}, {"user id", &req.user_id()}});
      !s.ok()) {
    return done(s);
  }
  if (!as_operator) {
    if (absl::Status s = CheckIds({{"actor id", &req.actor_id()}}); !s.ok()) return done(s);
  }
  ModerateAction action;
  if (req.action() == "remove") {
    action = ModerateAction::kRemove;
  } else if (req.action() == "ban") {
    action = ModerateAction::kBan;
  } else if (req.action() == "unban") {
    action = ModerateAction::kUnban;
  } else {
    return done(absl::InvalidArgumentError("action must be remove, ban or unban"));
  }
  store_->Moderate(as_operator ? std::string() : req.actor_id(), req.server(), req.user_id(),
                   action,
                   [this, server = req.server(), user = req.user_id(),
                    done = std::move(done)](absl::StatusOr<ChatStore::ModerateResult> r) mutable {
                     if (!r.ok()) return done(r.status());
                     // This replica's grants end now; other replicas' cached grants meet
                     // the channels' revocations.
                     for (const std::string& channel : r->channels) {
                       access_cache_.Forget(AccessKey(server, channel, user));
                     }
                     ModerateResponse resp;
                     resp.set_changed(r->changed);
                     done(std::move(resp));
                   });
}

void ChatCore::SetSlowMode(const SlowModeRequest& req, bool as_operator,
                           Done<SlowModeResponse> done) {
  if (absl::Status s = CheckIds({{"server id", &req.server()}, {"channel id", &req.channel()}});
      !s.ok()) {
    return done(s);
  }
  if (!as_operator) {
    if (absl::Status s = CheckIds({{"actor id", &req.actor_id()}}); !s.ok()) return done(s);
  }
  if (req.seconds() < 0 || req.seconds() > kMaxSlowModeSeconds) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("seconds must be 0 (off) to ", kMaxSlowModeSeconds)));
  }
  auto set = [this, req](Done<SlowModeResponse> done) {
    store_->SetSlowMode(
        req.server(), req.channel(), req.seconds(),
        [seconds = req.seconds(), done = std::move(done)](absl::StatusOr<bool> r) mutable {
          if (!r.ok()) return done(r.status());
          SlowModeResponse resp;
          resp.set_seconds(seconds);
          done(std::move(resp));
        });
  };
  if (as_operator) return set(std::move(done));
  store_->Role(req.server(), req.actor_id(),
               [set, done = std::move(done)](absl::StatusOr<std::string> role) mutable {
                 if (!role.ok()) return done(role.status());
                 if (!IsModerator(*role)) {
                   return done(WithReason(absl::PermissionDeniedError(
                                              "only the server's owner or a moderator may do this"),
                                          "not_moderator"));
                 }
                 set(std::move(done));
               });
}

void ChatCore::MarkRead(const MarkReadRequest& req, Done<MarkReadResponse> done) {
  if (absl::Status s = CheckIds(
          {{"server", &req.server()}, {"channel", &req.channel()}, {"user id", &req.user_id()}});
      !s.ok()) {
    return done(s);
  }
  if (req.seq() < 0) return done(absl::InvalidArgumentError("seq must not be negative"));
  CheckAccess(
      req.server(), req.channel(), req.user_id(),
      [this, req, done = std::move(done)](absl::StatusOr<bool> ok) mutable {
        if (!ok.ok()) return done(ok.status());
        store_->ChannelHead(
            req.server(), req.channel(),
            [this, req, done = std::move(done)](absl::StatusOr<int64_t> head) mutable {
              if (!head.ok()) return done(head.status());
              // A marker beyond the head would hide messages yet to come.
              const int64_t seq = std::min(req.seq(), *head);
              store_->CountsAfter(
                  req.server(), req.channel(), req.user_id(), seq, *head,
                  [this, req, seq, head = *head,
                   done = std::move(done)](absl::StatusOr<ReadCounts> counts) mutable {
                    if (!counts.ok()) return done(counts.status());
                    ReadState state;
                    state.set_type("read_state");
                    state.set_server(req.server());
                    state.set_channel(req.channel());
                    state.set_last_read_seq(seq);
                    // Edits, deletes and deleted messages are no unread messages.
                    state.set_unread(std::max<int64_t>(0, head - seq - counts->uncounted));
                    state.set_mentions(counts->mentions);
                    state.set_head_seq(head);
                    store_->MarkRead(
                        req.user_id(), state,
                        [this, req, state, head, done = std::move(done)](
                            absl::StatusOr<ChatStore::MarkReadResult> r) mutable {
                          if (!r.ok()) return done(r.status());
                          MarkReadResponse resp;
                          *resp.mutable_state() = std::move(state);
                          resp.set_changed(r->changed);
                          if (r->changed) return done(std::move(resp));
                          // The stored marker stands: count from it.
                          const int64_t stored = r->last_read_seq;
                          store_->CountsAfter(
                              req.server(), req.channel(), req.user_id(), stored, head,
                              [resp = std::move(resp), head, stored,
                               done = std::move(done)](absl::StatusOr<ReadCounts> counts) mutable {
                                if (!counts.ok()) return done(counts.status());
                                ReadState* s = resp.mutable_state();
                                s->set_last_read_seq(stored);
                                s->set_unread(
                                    std::max<int64_t>(0, head - stored - counts->uncounted));
                                s->set_mentions(counts->mentions);
                                done(std::move(resp));
                              });
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

bool SaysEveryone(absl::string_view text) {
  auto word_char = [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == '-'; };
  constexpr absl::string_view kWord = "@everyone";
  for (size_t i = text.find(kWord); i != absl::string_view::npos; i = text.find(kWord, i + 1)) {
    const size_t end = i + kWord.size();
    if ((i == 0 || !word_char(text[i - 1])) && (end == text.size() || !word_char(text[end]))) {
      return true;
    }
  }
  return false;
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
