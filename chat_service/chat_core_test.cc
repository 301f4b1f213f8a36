// Unit tests of ChatCore's validation and request shaping, against a fake
// store that records what reached it.
#include "chat_service/chat_core.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace chat::chat_service {
namespace {

class FakeStore : public ChatStore {
 public:
  absl::Status access = absl::OkStatus();
  std::vector<ChatMessage> appended;
  HistoryQuery last_query;

  void CheckAccess(const std::string&, const std::string&, const std::string&,
                   Done<bool> done) override {
    if (access.ok()) return done(true);
    done(access);
  }
  std::vector<std::vector<std::string>> mentioned;
  std::vector<std::string> members = {"alice", "bob", "carol"};
  int64_t head = 0, marker = 0;
  std::vector<ReadState> marked;

  // Users slow mode holds back unless exempt, and the options each append came with.
  std::vector<std::string> slowed;
  bool revoke_appends = false;
  std::vector<AppendOptions> append_options;
  void Append(const ChatMessage& msg, const std::vector<std::string>& m,
              const AppendOptions& options, Done<AppendResult> done) override {
    append_options.push_back(options);
    if (revoke_appends) return done(absl::PermissionDeniedError("revoked"));
    if (!options.slow_mode_exempt &&
        std::find(slowed.begin(), slowed.end(), msg.author_id()) != slowed.end()) {
      return done(WithReason(absl::ResourceExhaustedError("slow"), "slow_mode", absl::Seconds(5)));
    }
    appended.push_back(msg);
    mentioned.push_back(m);
    done(AppendResult{static_cast<int64_t>(appended.size()), msg.sent_at(), false});
  }
  void Members(const std::string&, const std::vector<std::string>& ids,
               Done<std::vector<std::string>> done) override {
    std::vector<std::string> out;
    for (const std::string& id : ids) {
      if (std::find(members.begin(), members.end(), id) != members.end()) out.push_back(id);
    }
    done(out);
  }
  void ChannelHead(const std::string&, const std::string&, Done<int64_t> done) override {
    done(head);
  }
  ReadCounts counts{2, 0};
  void CountsAfter(const std::string&, const std::string&, const std::string&, int64_t, int64_t,
                   Done<ReadCounts> done) override {
    done(counts);
  }
  // Messages by seq, in their latest state; a revision that finds its
  // expected bytes replaces the entry (aborts first `conflicts` times).
  std::map<int64_t, ChatMessage> stored;
  std::vector<Revision> revised;
  int conflicts = 0;
  void GetMessage(const std::string&, const std::string&, int64_t seq,
                  Done<StoredMessage> done) override {
    auto it = stored.find(seq);
    if (it == stored.end()) return done(absl::NotFoundError("no such message"));
    ChatMessage m = it->second;
    m.set_seq(seq);
    done(StoredMessage{m, it->second.SerializeAsString()});
  }
  void Revise(const Revision& r, Done<int64_t> done) override {
    if (conflicts > 0) {
      --conflicts;
      return done(absl::AbortedError("changed"));
    }
    auto it = stored.find(r.message_seq);
    if (it == stored.end() || it->second.SerializeAsString() != r.expected) {
      return done(absl::AbortedError("changed"));
    }
    revised.push_back(r);
    ChatMessage latest = r.latest;
    latest.clear_seq();
    it->second = latest;
    done(int64_t{100 + static_cast<int64_t>(revised.size())});
  }
  void MarkRead(const std::string&, const ReadState& state, Done<MarkReadResult> done) override {
    marked.push_back(state);
    if (state.last_read_seq() <= marker) return done(MarkReadResult{false, marker});
    marker = state.last_read_seq();
    done(MarkReadResult{true, marker});
  }
  void PersonalTail(const std::string&, int64_t, int, Done<PersonalPage> done) override {
    done(PersonalPage{});
  }
  void RelayTyping(const Typing&, absl::Duration, Done<bool> done) override { done(true); }
  void History(const HistoryQuery& q, Done<HistoryPage> done) override {
    last_query = q;
    done(HistoryPage{});
  }
  void GetUserState(const std::string&, Done<UserState> done) override { done(UserState{}); }
  void UpsertUser(const User& u, Done<User> done) override { done(u); }
  void GetUser(const std::string&, Done<User> done) override { done(User{}); }
  void CreateServer(const std::string&, const std::string&, const std::string&,
                    Done<Server> done) override {
    done(Server{});
  }
  std::map<std::string, std::string> roles;  // user -> role
  int role_reads = 0;
  void Role(const std::string&, const std::string& user, Done<std::string> done) override {
    ++role_reads;
    auto it = roles.find(user);
    done(it == roles.end() ? std::string() : it->second);
  }
  std::vector<std::string> moderated;  // "actor:user:action"
  void Moderate(const std::string& actor, const std::string&, const std::string& user,
                ModerateAction action, Done<ModerateResult> done) override {
    moderated.push_back(absl::StrCat(actor, ":", user, ":", static_cast<int>(action)));
    done(ModerateResult{true, {"general"}});
  }
  std::vector<int> slow_modes;
  void SetSlowMode(const std::string&, const std::string&, int seconds, Done<bool> done) override {
    slow_modes.push_back(seconds);
    done(true);
  }
  void SetRole(const std::string&, const std::string&, const std::string&,
               Done<bool> done) override {
    done(true);
  }
  void CreateChannel(const std::string&, const std::string&, const std::string&,
                     Done<Channel> done) override {
    done(Channel{});
  }
  void AddMember(const std::string&, const std::string&, Done<bool> done) override { done(true); }
};

template <typename T>
absl::StatusOr<T> Call(absl::AnyInvocable<void(Done<T>)> f) {
  absl::StatusOr<T> out = absl::UnknownError("not called");
  f([&](absl::StatusOr<T> r) { out = std::move(r); });
  return out;
}

SendRequest Valid() {
  SendRequest r;
  r.mutable_author()->set_id("alice");
  r.mutable_author()->set_name("Alice");
  r.mutable_author()->set_image("https://img/a.png");
  r.set_server("demo");
  r.set_channel("general");
  r.set_message("hello");
  r.set_nonce("n1");
  return r;
}

class ChatCoreTest : public ::testing::Test {
 protected:
  absl::StatusOr<SendResponse> Send(const SendRequest& r) {
    return Call<SendResponse>([&](Done<SendResponse> d) { core_.Send(r, std::move(d)); });
  }
  FakeStore store_;
  ChatCore core_{&store_, [] {
                   ChatCoreOptions o;
                   o.max_message_chars = 10;
                   o.now_ms = [] { return int64_t{1700000000000}; };
                   return o;
                 }()};
};

TEST_F(ChatCoreTest, SendFillsIdentityFromTheAuthorRecord) {
  auto r = Send(Valid());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->seq(), 1);
  ASSERT_EQ(store_.appended.size(), 1u);
  const ChatMessage& m = store_.appended[0];
  EXPECT_EQ(m.author(), "Alice");
  EXPECT_EQ(m.author_id(), "alice");
  EXPECT_EQ(m.image(), "https://img/a.png");
  EXPECT_EQ(m.id(), "n1");
  EXPECT_EQ(m.sent_at(), 1700000000000);
}

TEST_F(ChatCoreTest, RejectsBadInput) {
  SendRequest r = Valid();
  r.set_message("   ");
  EXPECT_EQ(Send(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Valid();
  r.set_message("01234567890");  // 11 > 10
  EXPECT_EQ(Send(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Valid();
  r.set_message("ääääääääää");  // 10 code points, 20 bytes: accepted.
  EXPECT_TRUE(Send(r).ok());
  r = Valid();
  r.set_server("a:b");
  EXPECT_EQ(Send(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Valid();
  r.set_nonce("");
  EXPECT_EQ(Send(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Valid();
  r.set_nonce(std::string(65, 'x'));
  EXPECT_EQ(Send(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.appended.size(), 1u);
}

TEST_F(ChatCoreTest, AccessDeniedStoresNothing) {
  store_.access = absl::PermissionDeniedError("not a member");
  EXPECT_EQ(Send(Valid()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(store_.appended.empty());
}

TEST_F(ChatCoreTest, HistoryLimitIsClamped) {
  HistoryRequest h;
  h.set_user_id("alice");
  h.set_server("demo");
  h.set_channel("general");
  h.set_limit(1000);
  ASSERT_TRUE(
      Call<HistoryResponse>([&](Done<HistoryResponse> d) { core_.History(h, std::move(d)); }).ok());
  EXPECT_EQ(store_.last_query.limit, 100);
  h.set_limit(0);
  ASSERT_TRUE(
      Call<HistoryResponse>([&](Done<HistoryResponse> d) { core_.History(h, std::move(d)); }).ok());
  EXPECT_EQ(store_.last_query.limit, 50);
  h.set_before(-1);
  EXPECT_EQ(Call<HistoryResponse>([&](Done<HistoryResponse> d) { core_.History(h, std::move(d)); })
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ChatCoreTest, GrantsAreRememberedRefusalsAreNot) {
  int checks = 0;
  class CountingStore : public FakeStore {
   public:
    int* checks;
    void CheckAccess(const std::string& s, const std::string& c, const std::string& u,
                     Done<bool> done) override {
      ++*checks;
      FakeStore::CheckAccess(s, c, u, std::move(done));
    }
  } store;
  store.checks = &checks;
  int64_t now = 1700000000000;
  ChatCoreOptions o;
  o.now_ms = [&] { return now; };
  o.access_cache_ttl = absl::Seconds(30);
  ChatCore core(&store, o);
  auto send = [&](const std::string& nonce) {
    SendRequest r = Valid();
    r.set_nonce(nonce);
    absl::StatusOr<SendResponse> out = absl::UnknownError("");
    core.Send(r, [&](absl::StatusOr<SendResponse> x) { out = std::move(x); });
    return out;
  };
  ASSERT_TRUE(send("a").ok());
  ASSERT_TRUE(send("b").ok());
  EXPECT_EQ(checks, 1);  // The second send used the remembered grant.
  now += 31000;
  ASSERT_TRUE(send("c").ok());
  EXPECT_EQ(checks, 2);  // Expired: asked again.
  store.access = absl::PermissionDeniedError("no");
  SendRequest other = Valid();
  other.mutable_author()->set_id("mallory");
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SendResponse> out = absl::UnknownError("");
    core.Send(other, [&](absl::StatusOr<SendResponse> x) { out = std::move(x); });
    EXPECT_EQ(out.status().code(), absl::StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(checks, 4);  // Refusals are never cached.
}

TEST(AccessCacheTest, IsBounded) {
  AccessCache cache(absl::Seconds(10), 2);
  absl::Time t = absl::FromUnixSeconds(100);
  cache.Grant("a", t);
  cache.Grant("b", t);
  cache.Grant("c", t);  // Full: starts over with just "c".
  EXPECT_FALSE(cache.Granted("a", t));
  EXPECT_TRUE(cache.Granted("c", t));
  cache.Forget("c");
  EXPECT_FALSE(cache.Granted("c", t));
}

TEST(Utf8LengthTest, CountsCodePoints) {
  EXPECT_EQ(Utf8Length(""), 0u);
  EXPECT_EQ(Utf8Length("abc"), 3u);
  EXPECT_EQ(Utf8Length("h\xC3\xA9llo"), 5u);
  EXPECT_EQ(Utf8Length("\xF0\x9F\x98\x80"), 1u);
}

TEST(MentionsTest, ParsesDistinctValidIdsButTheAuthor) {
  EXPECT_EQ(ParseMentions("hi <@bob> and <@carol>, <@bob> again", "alice", 20),
            (std::vector<std::string>{"bob", "carol"}));
  EXPECT_EQ(ParseMentions("<@alice> me, <@> none, <@a:b> bad, <@bob", "alice", 20),
            std::vector<std::string>{});
  EXPECT_EQ(ParseMentions("<@a><@b><@c>", "x", 2), (std::vector<std::string>{"a", "b"}));
}

TEST_F(ChatCoreTest, OnlyMembersAreMentioned) {
  SendRequest r = Valid();
  r.set_message("<@bob><@z>");  // z is no member.
  ASSERT_TRUE(Call<SendResponse>([&](Done<SendResponse> d) { core_.Send(r, std::move(d)); }).ok());
  ASSERT_EQ(store_.mentioned.size(), 1u);
  EXPECT_EQ(store_.mentioned[0], std::vector<std::string>{"bob"});
}

TEST_F(ChatCoreTest, ReadMarkersAreClampedToTheHeadAndNeverMoveBack) {
  store_.head = 10;
  auto mark = [&](int64_t seq) {
    MarkReadRequest m;
    m.set_user_id("alice");
    m.set_server("demo");
    m.set_channel("general");
    m.set_seq(seq);
    return Call<MarkReadResponse>(
        [&](Done<MarkReadResponse> d) { core_.MarkRead(m, std::move(d)); });
  };
  auto r = mark(7);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed());
  EXPECT_EQ(r->state().last_read_seq(), 7);
  EXPECT_EQ(r->state().unread(), 3);
  EXPECT_EQ(r->state().mentions(), 2);
  r = mark(50);  // Beyond the head: clamped.
  EXPECT_EQ(r->state().last_read_seq(), 10);
  EXPECT_EQ(r->state().unread(), 0);
  r = mark(4);  // Backwards: the stored marker stands.
  EXPECT_FALSE(r->changed());
  EXPECT_EQ(r->state().last_read_seq(), 10);
  EXPECT_EQ(mark(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ChatCoreTest, HistoryAfterZeroPagesFromTheStart) {
  HistoryRequest h;
  h.set_user_id("alice");
  h.set_server("demo");
  h.set_channel("general");
  ASSERT_TRUE(
      Call<HistoryResponse>([&](Done<HistoryResponse> d) { core_.History(h, std::move(d)); }).ok());
  EXPECT_FALSE(store_.last_query.forward);  // No cursor: the newest page.
  h.set_after(0);
  ASSERT_TRUE(
      Call<HistoryResponse>([&](Done<HistoryResponse> d) { core_.History(h, std::move(d)); }).ok());
  EXPECT_TRUE(store_.last_query.forward);
  EXPECT_EQ(store_.last_query.after, 0);
}

class ChatCoreRevisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChatMessage m;
    m.set_server("demo");
    m.set_channel("general");
    m.set_author_id("alice");
    m.set_author("Alice");
    m.set_message("hi <@bob>");
    m.set_sent_at(1);
    store_.stored[5] = m;
  }
  absl::StatusOr<RevisionResponse> Edit(const std::string& user, int64_t seq,
                                        const std::string& text) {
    EditRequest r;
    r.mutable_user()->set_id(user);
    r.set_server("demo");
    r.set_channel("general");
    r.set_message_seq(seq);
    r.set_message(text);
    return Call<RevisionResponse>([&](Done<RevisionResponse> d) { core_.Edit(r, std::move(d)); });
  }
  absl::StatusOr<RevisionResponse> Delete(const std::string& user, int64_t seq) {
    DeleteRequest r;
    r.mutable_user()->set_id(user);
    r.set_server("demo");
    r.set_channel("general");
    r.set_message_seq(seq);
    return Call<RevisionResponse>([&](Done<RevisionResponse> d) { core_.Delete(r, std::move(d)); });
  }
  FakeStore store_;
  ChatCore core_{&store_, ChatCoreOptions{}};
};

TEST_F(ChatCoreRevisionTest, AnEditReplacesTheTextAndMovesMentions) {
  absl::StatusOr<RevisionResponse> r = Edit("alice", 5, "hi <@carol> and <@dave>");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed());
  EXPECT_EQ(r->seq(), 101);
  ASSERT_EQ(store_.revised.size(), 1u);
  const Revision& rev = store_.revised[0];
  EXPECT_EQ(rev.latest.message(), "hi <@carol> and <@dave>");
  EXPECT_GT(rev.latest.edited_at(), 0);
  EXPECT_EQ(rev.latest.author_id(), "alice");
  ASSERT_TRUE(rev.event.has_message_update());
  EXPECT_EQ(rev.event.message_update().message_seq(), 5);
  EXPECT_EQ(rev.unmention, std::vector<std::string>{"bob"});
  EXPECT_EQ(rev.mention, std::vector<std::string>{"carol"});  // dave is no member.
  EXPECT_FALSE(rev.deleted);
  // The same text again changes nothing and appends nothing.
  r = Edit("alice", 5, "hi <@carol> and <@dave>");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed());
  EXPECT_EQ(store_.revised.size(), 1u);
}

TEST_F(ChatCoreRevisionTest, BadEditsAndDeletesAreRefusedWithTheirReasons) {
  EXPECT_EQ(ReasonOf(Edit("bob", 5, "mine now").status()), "not_author");
  EXPECT_EQ(ReasonOf(Delete("bob", 5).status()), "not_author");
  EXPECT_EQ(ReasonOf(Edit("alice", 6, "x").status()), "unknown_message");
  EXPECT_EQ(Edit("alice", 0, "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Edit("alice", 5, "  ").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(Edit("alice", 5, std::string(2001, 'x')).status()), "too_long");
  EXPECT_EQ(Edit("al/ice", 5, "x").status().code(), absl::StatusCode::kInvalidArgument);
  store_.access = absl::PermissionDeniedError("not a member");
  EXPECT_EQ(Edit("mallory", 5, "x").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(store_.revised.empty());  // Nothing reached the store.
}

TEST_F(ChatCoreRevisionTest, ADeleteLeavesATombstoneAndNothingMoreCanChangeIt) {
  absl::StatusOr<RevisionResponse> r = Delete("alice", 5);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(store_.revised.size(), 1u);
  const Revision& rev = store_.revised[0];
  EXPECT_TRUE(rev.deleted);
  EXPECT_TRUE(rev.latest.deleted());
  EXPECT_TRUE(rev.latest.message().empty());
  EXPECT_EQ(rev.unmention, std::vector<std::string>{"bob"});
  ASSERT_TRUE(rev.event.has_message_delete());
  EXPECT_EQ(rev.event.message_delete().deleted_by(), "alice");
  EXPECT_EQ(ReasonOf(Edit("alice", 5, "back").status()), "message_deleted");
  EXPECT_EQ(ReasonOf(Delete("alice", 5).status()), "message_deleted");
  EXPECT_EQ(store_.revised.size(), 1u);
}

TEST_F(ChatCoreRevisionTest, AConcurrentChangeIsReadAgainAndRetried) {
  store_.conflicts = 2;
  absl::StatusOr<RevisionResponse> r = Edit("alice", 5, "fixed");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(store_.revised.size(), 1u);
  store_.conflicts = 5;  // Beyond the attempts: the conflict is the answer.
  absl::Status busy = Edit("alice", 5, "again").status();
  EXPECT_EQ(busy.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ReasonOf(busy), "conflict");
}

TEST_F(ChatCoreRevisionTest, ModeratorsDeleteOthersMessagesButEditOnlyTheirOwn) {
  store_.roles["carol"] = kRoleModerator;
  EXPECT_EQ(ReasonOf(Edit("carol", 5, "moderated").status()), "not_author");
  EXPECT_EQ(store_.role_reads, 0);  // An edit never asks: only authors edit.
  absl::StatusOr<RevisionResponse> r = Delete("carol", 5);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(store_.revised.size(), 1u);
  EXPECT_EQ(store_.revised[0].event.message_delete().deleted_by(), "carol");
  EXPECT_EQ(store_.revised[0].actor, "carol");
  EXPECT_EQ(store_.role_reads, 1);  // Read fresh, not from a cache.
}

TEST_F(ChatCoreRevisionTest, AnAuthorDeletesWithoutARoleRead) {
  ASSERT_TRUE(Delete("alice", 5).ok());
  EXPECT_EQ(store_.role_reads, 0);
}

TEST_F(ChatCoreTest, SlowModeHoldsMembersBackAndLetsModeratorsThrough) {
  store_.slowed = {"alice"};
  absl::Status s = Send(Valid()).status();
  EXPECT_EQ(ReasonOf(s), "slow_mode");
  EXPECT_EQ(RetryAfterOf(s), absl::Seconds(5));
  EXPECT_TRUE(store_.appended.empty());
  EXPECT_EQ(store_.role_reads, 1);  // Asked once, found no role.
  store_.roles["alice"] = kRoleOwner;
  ASSERT_TRUE(Send(Valid()).ok());
  ASSERT_EQ(store_.appended.size(), 1u);
  EXPECT_TRUE(store_.append_options.back().slow_mode_exempt);
  // Without slow mode in the way, no role is read at all.
  store_.slowed.clear();
  const int reads = store_.role_reads;
  ASSERT_TRUE(Send(Valid()).ok());
  EXPECT_EQ(store_.role_reads, reads);
  EXPECT_FALSE(store_.append_options.back().slow_mode_exempt);
}

TEST_F(ChatCoreTest, OnlyOwnersAndModeratorsPingEveryone) {
  ChatCoreOptions o;
  o.now_ms = [] { return int64_t{1700000000000}; };
  ChatCore core(&store_, o);  // Room for longer texts than the fixture's core.
  auto send = [&](const std::string& text, const std::string& nonce) {
    SendRequest r = Valid();
    r.set_message(text);
    r.set_nonce(nonce);
    return Call<SendResponse>([&](Done<SendResponse> d) { core.Send(r, std::move(d)); });
  };
  store_.members = {"alice", "bob"};
  ASSERT_TRUE(send("hi @everyone and <@bob>", "n1").ok());
  // A member's @everyone is text: bob is mentioned singly, as usual.
  EXPECT_FALSE(store_.appended.back().has_mentions_everyone());
  EXPECT_EQ(store_.mentioned.back(), std::vector<std::string>{"bob"});
  EXPECT_EQ(store_.role_reads, 1);
  store_.roles["alice"] = kRoleModerator;
  ASSERT_TRUE(send("hi @everyone and <@bob>", "n2").ok());
  EXPECT_TRUE(store_.appended.back().mentions_everyone());
  // Everyone's set stands for bob too: nobody counts the message twice.
  EXPECT_EQ(store_.mentioned.back(), std::vector<std::string>{kEveryone});
  // Text without the word reads no role.
  ASSERT_TRUE(send("mail x@everyone.example or @everyones", "n3").ok());
  EXPECT_EQ(store_.role_reads, 2);
  EXPECT_FALSE(store_.appended.back().has_mentions_everyone());
}

TEST(SaysEveryoneTest, OnlyTheWordOfItsOwn) {
  EXPECT_TRUE(SaysEveryone("@everyone"));
  EXPECT_TRUE(SaysEveryone("hey (@everyone), look"));
  EXPECT_TRUE(SaysEveryone("<@everyone>"));
  EXPECT_TRUE(SaysEveryone("x@everyone2 and then @everyone."));
  EXPECT_FALSE(SaysEveryone("x@everyone"));
  EXPECT_FALSE(SaysEveryone("@everyones"));
  EXPECT_FALSE(SaysEveryone("@every one"));
  EXPECT_FALSE(SaysEveryone(""));
}

TEST_F(ChatCoreTest, ModerationRequestsAreValidated) {
  auto moderate = [&](const std::string& actor, const std::string& user, const std::string& action,
                      bool as_operator) {
    ModerateRequest r;
    r.set_actor_id(actor);
    r.set_server("demo");
    r.set_user_id(user);
    r.set_action(action);
    return Call<ModerateResponse>(
        [&](Done<ModerateResponse> d) { core_.Moderate(r, as_operator, std::move(d)); });
  };
  EXPECT_EQ(moderate("alice", "bob", "kick", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(moderate("", "bob", "remove", false).status().code(),
            absl::StatusCode::kInvalidArgument);  // A gateway always names the actor.
  EXPECT_EQ(moderate("alice", "../x", "ban", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.moderated.empty());
  ASSERT_TRUE(moderate("alice", "bob", "ban", false).ok());
  ASSERT_TRUE(moderate("ignored", "bob", "unban", true).ok());
  EXPECT_EQ(store_.moderated,
            (std::vector<std::string>{"alice:bob:1", ":bob:2"}));  // An operator has no actor.

  auto slow = [&](const std::string& actor, int seconds, bool as_operator) {
    SlowModeRequest r;
    r.set_actor_id(actor);
    r.set_server("demo");
    r.set_channel("general");
    r.set_seconds(seconds);
    return Call<SlowModeResponse>(
        [&](Done<SlowModeResponse> d) { core_.SetSlowMode(r, as_operator, std::move(d)); });
  };
  EXPECT_EQ(slow("alice", -1, true).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(slow("alice", ChatCore::kMaxSlowModeSeconds + 1, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(slow("alice", 10, false).status()), "not_moderator");
  store_.roles["alice"] = kRoleModerator;
  ASSERT_TRUE(slow("alice", 10, false).ok());
  ASSERT_TRUE(slow("", 0, true).ok());
  EXPECT_EQ(store_.slow_modes, (std::vector<int>{10, 0}));
}

TEST_F(ChatCoreTest, ARefusalForRevokedAccessForgetsTheCachedGrant) {
  ASSERT_TRUE(Send(Valid()).ok());  // Granted and cached.
  store_.access = absl::PermissionDeniedError("not a member");
  ASSERT_TRUE(Send(Valid()).ok());  // The cache still grants it.
  store_.revoke_appends = true;     // What a revocation recorded in the channel does.
  EXPECT_EQ(Send(Valid()).status().code(), absl::StatusCode::kPermissionDenied);
  store_.revoke_appends = false;
  // The grant is gone: the store's refusal is the answer now.
  EXPECT_EQ(Send(Valid()).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace chat::chat_service
