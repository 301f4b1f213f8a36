// The chat service end to end: a real redis-server, the real gRPC server on
// port 0, and gRPC clients.
#include "chat_service/chat_server.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <csignal>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/keys.h"
#include "common/redis_test_server.h"
#include "proto/events.pb.h"

namespace chat::chat_service {
namespace {

const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2).
  return true;
}();

class ChatServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start().ok());
    StartServer(ChatServerOptions{});
  }

  // StartServer starts the chat service on redis_ with o (listen address,
  // Redis and retention set here) and the users, server and channels every
  // test uses.
  void StartServer(ChatServerOptions o) {
    Launch(o);
    Upsert("alice", "Alice", "https://img/alice.png");
    Upsert("bob", "Bob");
    Upsert("mallory", "Mallory");
    CreateServer("demo", "Demo");
    CreateChannel("demo", "general", "general");
    CreateChannel("demo", "random", "random");
    AddMember("demo", "alice");
    AddMember("demo", "bob");
  }

  // Launch starts the chat service and returns once it reaches Redis,
  // having written nothing.
  void Launch(ChatServerOptions o) {
    o.listen = "127.0.0.1:0";
    o.redis = {"127.0.0.1", redis_.port()};
    o.store.retention = 10;
    server_ = std::make_unique<ChatServer>(o);
    ASSERT_TRUE(server_->Start().ok());
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    chat_ = ChatService::NewStub(channel);
    admin_ = ChatAdmin::NewStub(channel);
    // Calls fail with UNAVAILABLE until Redis is connected; wait for it.
    for (int i = 0; i < 500; ++i) {
      GetUserRequest r;
      r.set_id("nobody");
      grpc::ClientContext ctx;
      User out;
      const grpc::StatusCode code = admin_->GetUser(&ctx, r, &out).error_code();
      if (code != grpc::StatusCode::UNAVAILABLE) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void Upsert(const std::string& id, const std::string& name, const std::string& image = "") {
    User u, out;
    u.set_id(id);
    u.set_name(name);
    u.set_image(image);
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->UpsertUser(&ctx, u, &out).ok());
  }
  void CreateServer(const std::string& id, const std::string& name) {
    CreateServerRequest r;
    r.set_id(id);
    r.set_name(name);
    Server out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->CreateServer(&ctx, r, &out).ok());
  }
  void CreateChannel(const std::string& server, const std::string& id, const std::string& name) {
    CreateChannelRequest r;
    r.set_server(server);
    r.set_id(id);
    r.set_name(name);
    Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->CreateChannel(&ctx, r, &out).ok());
  }
  grpc::Status AddMember(const std::string& server, const std::string& user,
                         AddMemberResponse* out = nullptr) {
    AddMemberRequest r;
    r.set_server(server);
    r.set_user_id(user);
    AddMemberResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = admin_->AddMember(&ctx, r, &resp);
    if (out) *out = resp;
    return s;
  }
  grpc::Status Send(const std::string& user, const std::string& text, const std::string& nonce,
                    SendResponse* out, const std::string& channel = "general") {
    SendRequest r;
    r.mutable_author()->set_id(user);
    r.mutable_author()->set_name(user == "alice" ? "Alice" : user);
    r.set_server("demo");
    r.set_channel(channel);
    r.set_message(text);
    r.set_nonce(nonce);
    grpc::ClientContext ctx;
    return chat_->Send(&ctx, r, out);
  }
  HistoryResponse History(int64_t before, int64_t after, int limit) {
    HistoryRequest r;
    r.set_user_id("bob");
    r.set_server("demo");
    r.set_channel("general");
    r.set_before(before);
    if (after > 0) r.set_after(after);  // Present, even "0", means page forward.
    r.set_limit(limit);
    HistoryResponse out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(chat_->History(&ctx, r, &out).ok());
    return out;
  }

  grpc::Status Edit(const std::string& user, int64_t seq, const std::string& text,
                    RevisionResponse* out) {
    EditRequest r;
    r.mutable_user()->set_id(user);
    r.set_server("demo");
    r.set_channel("general");
    r.set_message_seq(seq);
    r.set_message(text);
    grpc::ClientContext ctx;
    return chat_->Edit(&ctx, r, out);
  }
  grpc::Status Delete(const std::string& user, int64_t seq, RevisionResponse* out) {
    DeleteRequest r;
    r.mutable_user()->set_id(user);
    r.set_server("demo");
    r.set_channel("general");
    r.set_message_seq(seq);
    grpc::ClientContext ctx;
    return chat_->Delete(&ctx, r, out);
  }
  HistoryResponse Tail(int64_t after, int limit = 0) {
    TailRequest r;
    r.set_server("demo");
    r.set_channel("general");
    r.set_after(after);
    r.set_limit(limit);
    HistoryResponse out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(chat_->Tail(&ctx, r, &out).ok());
    return out;
  }
  Channel GeneralOf(const std::string& user) {
    GetUserStateRequest r;
    r.set_user_id(user);
    UserState out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(chat_->GetUserState(&ctx, r, &out).ok());
    return out.servers(0).channels(0);
  }
  // RedisHolds reports whether any key of the channel still holds needle
  // (the stream's entries and the channel's sorted sets, read raw).
  bool RedisHolds(const std::string& needle) {
    redisContext* c = redisConnect("127.0.0.1", redis_.port());
    bool found = false;
    auto scan = [&](redisReply* r, auto& self) -> void {
      if (r == nullptr) return;
      if (r->type == REDIS_REPLY_STRING &&
          std::string(r->str, r->len).find(needle) != std::string::npos) {
        found = true;
      }
      for (size_t i = 0; i < r->elements; ++i) self(r->element[i], self);
    };
    for (const std::string& key :
         {keys::ChannelLog("demo", "general"), keys::ChannelRevised("demo", "general")}) {
      redisReply* r = static_cast<redisReply*>(redisCommand(
          c, key.find("revised") != std::string::npos ? "ZRANGE %s 0 -1" : "XRANGE %s - +",
          key.c_str()));
      scan(r, scan);
      freeReplyObject(r);
    }
    redisFree(c);
    return found;
  }

  chat::testing::RedisTestServer redis_;
  std::unique_ptr<ChatServer> server_;
  std::unique_ptr<ChatService::Stub> chat_;
  std::unique_ptr<ChatAdmin::Stub> admin_;
};

TEST_F(ChatServerTest, SendAssignsIncreasingSeqAndHistoryPages) {
  for (int i = 1; i <= 5; ++i) {
    SendResponse resp;
    ASSERT_TRUE(Send("alice", "m" + std::to_string(i), "n" + std::to_string(i), &resp).ok());
    EXPECT_EQ(resp.seq(), i);
    EXPECT_FALSE(resp.duplicate());
    EXPECT_GT(resp.sent_at(), 0);
  }
  HistoryResponse latest = History(0, 0, 3);
  ASSERT_EQ(latest.messages_size(), 3);
  EXPECT_EQ(latest.messages(0).seq(), 3);
  EXPECT_EQ(latest.messages(2).seq(), 5);
  EXPECT_EQ(latest.messages(2).message(), "m5");
  EXPECT_EQ(latest.messages(2).author(), "Alice");
  EXPECT_EQ(latest.messages(2).author_id(), "alice");
  EXPECT_EQ(latest.head_seq(), 5);
  EXPECT_EQ(latest.oldest_seq(), 1);
  HistoryResponse older = History(3, 0, 10);
  ASSERT_EQ(older.messages_size(), 2);
  EXPECT_EQ(older.messages(0).seq(), 1);
  EXPECT_EQ(older.messages(1).seq(), 2);
  HistoryResponse newer = History(0, 2, 2);
  ASSERT_EQ(newer.messages_size(), 2);
  EXPECT_EQ(newer.messages(0).seq(), 3);
  EXPECT_EQ(newer.messages(1).seq(), 4);
}

TEST_F(ChatServerTest, TailReadsForwardFromAnySeqWithoutAnAccessCheck) {
  for (int i = 1; i <= 3; ++i) {
    SendResponse resp;
    ASSERT_TRUE(Send("alice", "t" + std::to_string(i), "t" + std::to_string(i), &resp).ok());
  }
  TailRequest r;
  r.set_server("demo");
  r.set_channel("general");
  r.set_after(0);  // From the start, unlike History, where 0 means "newest".
  r.set_limit(2);
  HistoryResponse out;
  grpc::ClientContext ctx;
  ASSERT_TRUE(chat_->Tail(&ctx, r, &out).ok());
  ASSERT_EQ(out.messages_size(), 2);
  EXPECT_EQ(out.messages(0).seq(), 1);
  EXPECT_EQ(out.messages(1).seq(), 2);
  EXPECT_EQ(out.head_seq(), 3);
  r.set_after(2);
  grpc::ClientContext ctx2;
  ASSERT_TRUE(chat_->Tail(&ctx2, r, &out).ok());
  ASSERT_EQ(out.messages_size(), 1);
  EXPECT_EQ(out.messages(0).seq(), 3);
}

TEST_F(ChatServerTest, RepeatedNonceIsNotStoredTwice) {
  SendResponse first, again, other_user;
  ASSERT_TRUE(Send("alice", "hi", "same", &first).ok());
  ASSERT_TRUE(Send("alice", "hi", "same", &again).ok());
  EXPECT_EQ(again.seq(), first.seq());
  EXPECT_EQ(again.sent_at(), first.sent_at());
  EXPECT_TRUE(again.duplicate());
  // Nonces are per author: bob's "same" is a different message.
  ASSERT_TRUE(Send("bob", "hi", "same", &other_user).ok());
  EXPECT_EQ(other_user.seq(), first.seq() + 1);
  EXPECT_EQ(History(0, 0, 100).messages_size(), 2);
}

TEST_F(ChatServerTest, AccessIsChecked) {
  SendResponse resp;
  EXPECT_EQ(Send("mallory", "hi", "n", &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Send("alice", "hi", "n", &resp, "nope").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Send("alice", "", "n", &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(History(0, 0, 10).messages_size(), 0);
}

TEST_F(ChatServerTest, PublishesInSeqOrderOnTheChannelTopic) {
  redisContext* sub = redisConnect("127.0.0.1", redis_.port());
  ASSERT_NE(sub, nullptr);
  std::string topic = keys::ChannelTopic("demo", "general");
  freeReplyObject(redisCommand(sub, "SSUBSCRIBE %s", topic.c_str()));
  for (int i = 0; i < 20; ++i) {
    SendResponse resp;
    ASSERT_TRUE(Send("alice", "x" + std::to_string(i), "p" + std::to_string(i), &resp).ok());
  }
  for (int i = 1; i <= 20; ++i) {
    redisReply* r = nullptr;
    ASSERT_EQ(redisGetReply(sub, reinterpret_cast<void**>(&r)), REDIS_OK);
    ASSERT_EQ(r->elements, 3u);
    std::string payload(r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
    size_t space = payload.find(' ');
    int64_t seq = 0;
    ASSERT_TRUE(absl::SimpleAtoi(payload.substr(0, space), &seq));
    EXPECT_EQ(seq, i);
    Event event;
    ASSERT_TRUE(event.ParseFromString(payload.substr(space + 1)));
    const ChatMessage& m = event.chat_message();
    EXPECT_EQ(m.message(), "x" + std::to_string(i - 1));
    EXPECT_EQ(m.author_id(), "alice");
  }
  redisFree(sub);
}

TEST_F(ChatServerTest, RetentionTrimsOldMessages) {
  for (int i = 0; i < 300; ++i) {
    SendResponse resp;
    ASSERT_TRUE(Send("alice", "x", "r" + std::to_string(i), &resp).ok());
  }
  HistoryResponse h = History(0, 0, 100);
  EXPECT_EQ(h.head_seq(), 300);
  EXPECT_GT(h.oldest_seq(), 1);  // Approximate trimming: whole stream nodes go.
  EXPECT_EQ(h.messages(h.messages_size() - 1).seq(), 300);
}

TEST_F(ChatServerTest, UserStateListsServersChannelsAndHeads) {
  SendResponse resp;
  ASSERT_TRUE(Send("alice", "hi", "s1", &resp, "random").ok());
  GetUserStateRequest r;
  r.set_user_id("alice");
  UserState state;
  grpc::ClientContext ctx;
  ASSERT_TRUE(chat_->GetUserState(&ctx, r, &state).ok());
  EXPECT_EQ(state.user().name(), "Alice");
  EXPECT_EQ(state.user().image(), "https://img/alice.png");
  ASSERT_EQ(state.servers_size(), 1);
  ASSERT_EQ(state.servers(0).channels_size(), 2);
  EXPECT_EQ(state.servers(0).channels(0).id(), "general");
  EXPECT_EQ(state.servers(0).channels(0).head_seq(), 0);
  EXPECT_EQ(state.servers(0).channels(1).id(), "random");
  EXPECT_EQ(state.servers(0).channels(1).head_seq(), 1);
  EXPECT_EQ(state.servers(0).channels(1).unread(), 1);

  GetUserStateRequest unknown;
  unknown.set_user_id("ghost");
  grpc::ClientContext ctx2;
  EXPECT_EQ(chat_->GetUserState(&ctx2, unknown, &state).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ChatServerTest, AddMemberIsIdempotentAndNotifiesTheUser) {
  redisContext* sub = redisConnect("127.0.0.1", redis_.port());
  std::string topic = keys::UserTopic("mallory");
  freeReplyObject(redisCommand(sub, "SSUBSCRIBE %s", topic.c_str()));
  AddMemberResponse resp;
  ASSERT_TRUE(AddMember("demo", "mallory", &resp).ok());
  EXPECT_TRUE(resp.added());
  ASSERT_TRUE(AddMember("demo", "mallory", &resp).ok());
  EXPECT_FALSE(resp.added());
  EXPECT_EQ(AddMember("nope", "mallory").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(AddMember("demo", "ghost").error_code(), grpc::StatusCode::NOT_FOUND);
  redisReply* r = nullptr;
  ASSERT_EQ(redisGetReply(sub, reinterpret_cast<void**>(&r)), REDIS_OK);
  std::string payload(r->element[2]->str, r->element[2]->len);
  freeReplyObject(r);
  redisFree(sub);
  ASSERT_EQ(payload.substr(0, 2), "1 ");  // The first entry of the user's personal log.
  Event event;
  ASSERT_TRUE(event.ParseFromString(payload.substr(2)));
  EXPECT_EQ(event.server_joined().id(), "demo");
  EXPECT_EQ(event.server_joined().channels_size(), 2);
}

TEST_F(ChatServerTest, ReadMarkersUnreadAndMentionsSurviveInRedis) {
  SendResponse resp;
  for (int i = 1; i <= 4; ++i) {
    const std::string text = i % 2 == 0 ? "hey <@bob>" : "plain";
    ASSERT_TRUE(Send("alice", text, "r" + std::to_string(i), &resp).ok());
  }
  auto state = [&](const std::string& user) {
    GetUserStateRequest r;
    r.set_user_id(user);
    UserState out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(chat_->GetUserState(&ctx, r, &out).ok());
    return out;
  };
  UserState bob = state("bob");
  const Channel& general = bob.servers(0).channels(0);
  ASSERT_EQ(general.id(), "general");
  EXPECT_EQ(general.unread(), 4);
  EXPECT_EQ(general.mentions(), 2);
  EXPECT_EQ(bob.servers(0).unread(), 4);
  EXPECT_EQ(bob.servers(0).mentions(), 2);
  const int64_t joined_seq = bob.user_seq();  // server_joined is in bob's log.
  EXPECT_GE(joined_seq, 1);

  auto mark = [&](int64_t seq, MarkReadResponse* out) {
    MarkReadRequest r;
    r.set_user_id("bob");
    r.set_server("demo");
    r.set_channel("general");
    r.set_seq(seq);
    grpc::ClientContext ctx;
    return chat_->MarkRead(&ctx, r, out);
  };
  MarkReadResponse marked;
  ASSERT_TRUE(mark(2, &marked).ok());
  EXPECT_TRUE(marked.changed());
  EXPECT_EQ(marked.state().unread(), 2);
  EXPECT_EQ(marked.state().mentions(), 1);
  ASSERT_TRUE(mark(1, &marked).ok());  // Backwards: refused quietly.
  EXPECT_FALSE(marked.changed());
  EXPECT_EQ(marked.state().last_read_seq(), 2);
  bob = state("bob");
  EXPECT_EQ(bob.servers(0).channels(0).last_read_seq(), 2);
  EXPECT_EQ(bob.servers(0).channels(0).unread(), 2);
  EXPECT_EQ(bob.servers(0).channels(0).mentions(), 1);
  EXPECT_EQ(bob.user_seq(), joined_seq + 1);  // Only the move that happened is logged.
  EXPECT_EQ(mark(1, &marked).error_code(), grpc::StatusCode::OK);
  MarkReadRequest stranger;
  stranger.set_user_id("mallory");
  stranger.set_server("demo");
  stranger.set_channel("general");
  stranger.set_seq(1);
  grpc::ClientContext ctx;
  EXPECT_EQ(chat_->MarkRead(&ctx, stranger, &marked).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // The personal log holds both events in order, for gap fills and resume.
  PersonalTailRequest tail;
  tail.set_user_id("bob");
  PersonalTailResponse events;
  grpc::ClientContext tctx;
  ASSERT_TRUE(chat_->PersonalTail(&tctx, tail, &events).ok());
  ASSERT_EQ(events.events_size(), 2);
  EXPECT_TRUE(events.events(0).event().has_server_joined());
  EXPECT_EQ(events.events(1).user_seq(), joined_seq + 1);
  EXPECT_EQ(events.events(1).event().read_state().last_read_seq(), 2);
  EXPECT_EQ(events.head_seq(), joined_seq + 1);
}

TEST_F(ChatServerTest, EditsAndDeletesAreLogEventsAndHistoryShowsTheLatestState) {
  SendResponse sent;
  ASSERT_TRUE(Send("alice", "first <@bob>", "e1", &sent).ok());
  ASSERT_TRUE(Send("alice", "secret typo", "e2", &sent).ok());
  ASSERT_TRUE(Send("bob", "third", "e3", &sent).ok());
  redisContext* sub = redisConnect("127.0.0.1", redis_.port());
  freeReplyObject(
      redisCommand(sub, "SSUBSCRIBE %s", keys::ChannelTopic("demo", "general").c_str()));

  RevisionResponse edited, deleted;
  ASSERT_TRUE(Edit("alice", 2, "fixed", &edited).ok());
  EXPECT_EQ(edited.seq(), 4);
  EXPECT_TRUE(edited.changed());
  EXPECT_GT(edited.at(), 0);
  ASSERT_TRUE(Delete("alice", 1, &deleted).ok());
  EXPECT_EQ(deleted.seq(), 5);

  // Both events were published with their seqs, like messages.
  for (int64_t want : {4, 5}) {
    redisReply* r = nullptr;
    ASSERT_EQ(redisGetReply(sub, reinterpret_cast<void**>(&r)), REDIS_OK);
    std::string payload(r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
    ASSERT_EQ(payload.substr(0, 2), absl::StrCat(want, " "));
    Event e;
    ASSERT_TRUE(e.ParseFromString(payload.substr(2)));
    if (want == 4) {
      EXPECT_EQ(e.message_update().message_seq(), 2);
      EXPECT_EQ(e.message_update().message(), "fixed");
      EXPECT_EQ(e.message_update().author_id(), "alice");
    } else {
      EXPECT_EQ(e.message_delete().message_seq(), 1);
      EXPECT_EQ(e.message_delete().deleted_by(), "alice");
    }
  }
  redisFree(sub);

  // History: each message in its latest state, the events left out.
  HistoryResponse h = History(0, 0, 50);
  ASSERT_EQ(h.messages_size(), 3);
  EXPECT_EQ(h.head_seq(), 5);
  EXPECT_EQ(h.oldest_seq(), 1);
  EXPECT_EQ(h.messages(0).seq(), 1);
  EXPECT_TRUE(h.messages(0).deleted());
  EXPECT_TRUE(h.messages(0).message().empty());
  EXPECT_EQ(h.messages(0).author_id(), "alice");
  EXPECT_EQ(h.messages(1).seq(), 2);
  EXPECT_EQ(h.messages(1).message(), "fixed");
  EXPECT_EQ(h.messages(1).edited_at(), edited.at());
  EXPECT_EQ(h.messages(2).message(), "third");
  EXPECT_EQ(h.updates_size() + h.deletes_size(), 0);
  // Paging forward and backward merges revised messages in seq order.
  HistoryResponse older = History(3, 0, 1);
  ASSERT_EQ(older.messages_size(), 1);
  EXPECT_EQ(older.messages(0).seq(), 2);
  HistoryResponse forward = History(0, 1, 5);
  ASSERT_EQ(forward.messages_size(), 2);
  EXPECT_EQ(forward.messages(0).seq(), 2);
  EXPECT_EQ(forward.messages(1).seq(), 3);

  // A tail is the whole log: the messages as they are now and the events.
  HistoryResponse tail = Tail(0);
  ASSERT_EQ(tail.messages_size(), 3);
  ASSERT_EQ(tail.updates_size(), 1);
  EXPECT_EQ(tail.updates(0).seq(), 4);
  ASSERT_EQ(tail.deletes_size(), 1);
  EXPECT_EQ(tail.deletes(0).seq(), 5);
  HistoryResponse tail_from_3 = Tail(3);
  EXPECT_EQ(tail_from_3.messages_size(), 0);
  EXPECT_EQ(tail_from_3.updates_size(), 1);
  EXPECT_EQ(tail_from_3.deletes_size(), 1);
  HistoryResponse tail_of_two = Tail(0, 2);  // The limit counts every entry.
  EXPECT_EQ(tail_of_two.messages_size(), 2);
  EXPECT_EQ(tail_of_two.updates_size(), 0);

  // The old texts are gone from storage.
  EXPECT_FALSE(RedisHolds("secret typo"));
  EXPECT_FALSE(RedisHolds("first <@bob>"));
  EXPECT_TRUE(RedisHolds("fixed"));

  // Unread counts skip the events and the deleted message; bob's mention
  // went with it.
  const Channel general = GeneralOf("bob");
  EXPECT_EQ(general.head_seq(), 5);
  EXPECT_EQ(general.unread(), 2);
  EXPECT_EQ(general.mentions(), 0);
  MarkReadRequest mr;
  mr.set_user_id("bob");
  mr.set_server("demo");
  mr.set_channel("general");
  mr.set_seq(2);
  MarkReadResponse marked;
  grpc::ClientContext ctx;
  ASSERT_TRUE(chat_->MarkRead(&ctx, mr, &marked).ok());
  EXPECT_EQ(marked.state().unread(), 1);  // Message 3 only.
  EXPECT_EQ(marked.state().head_seq(), 5);
  mr.set_seq(1);  // Backwards: the stored marker stands, counted the same way.
  grpc::ClientContext back;
  ASSERT_TRUE(chat_->MarkRead(&back, mr, &marked).ok());
  EXPECT_FALSE(marked.changed());
  EXPECT_EQ(marked.state().last_read_seq(), 2);
  EXPECT_EQ(marked.state().unread(), 1);
}

TEST_F(ChatServerTest, BadRevisionsAreRefusedAndChangeNothing) {
  SendResponse sent;
  ASSERT_TRUE(Send("alice", "mine", "b1", &sent).ok());
  RevisionResponse out;
  EXPECT_EQ(Edit("bob", 1, "his now", &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Delete("bob", 1, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Edit("mallory", 1, "x", &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Edit("alice", 7, "x", &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Edit("alice", 1, "", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Edit("alice", 1, std::string(2001, 'x'), &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Edit("alice", 1, "mine", &out).ok());  // The same text: nothing appended.
  EXPECT_FALSE(out.changed());
  EXPECT_EQ(History(0, 0, 10).head_seq(), 1);
  ASSERT_TRUE(Delete("alice", 1, &out).ok());
  EXPECT_EQ(out.seq(), 2);
  // An event's seq is no message; a deleted message takes no more changes.
  EXPECT_EQ(Edit("alice", 2, "x", &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Edit("alice", 1, "back", &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Delete("alice", 1, &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(History(0, 0, 10).head_seq(), 2);
}

TEST_F(ChatServerTest, AnEditMovesMentionsToWhomTheNewTextNames) {
  SendResponse sent;
  ASSERT_TRUE(Send("bob", "hi <@alice>", "m1", &sent).ok());
  EXPECT_EQ(GeneralOf("alice").mentions(), 1);
  RevisionResponse out;
  ASSERT_TRUE(Edit("bob", 1, "hi all", &out).ok());
  EXPECT_EQ(GeneralOf("alice").mentions(), 0);
  ASSERT_TRUE(Edit("bob", 1, "hi <@alice> again", &out).ok());
  EXPECT_EQ(GeneralOf("alice").mentions(), 1);
}

TEST_F(ChatServerTest, APageOfHistoryReadsPastManyEditsInARow) {
  SendResponse sent;
  ASSERT_TRUE(Send("alice", "v0", "p1", &sent).ok());
  RevisionResponse out;
  for (int i = 1; i <= 30; ++i) {
    ASSERT_TRUE(Edit("alice", 1, "v" + std::to_string(i), &out).ok());
  }
  ASSERT_TRUE(Send("alice", "later", "p2", &sent).ok());
  EXPECT_EQ(sent.seq(), 32);
  // Thirty edit entries lie between the two messages: pages skip them.
  HistoryResponse before = History(32, 0, 5);
  ASSERT_EQ(before.messages_size(), 1);
  EXPECT_EQ(before.messages(0).message(), "v30");
  HistoryResponse latest = History(0, 0, 2);
  ASSERT_EQ(latest.messages_size(), 2);
  EXPECT_EQ(latest.messages(0).seq(), 1);
  EXPECT_EQ(latest.messages(1).seq(), 32);
  HistoryResponse forward = History(0, 1, 5);  // After seq 1.
  ASSERT_EQ(forward.messages_size(), 1);
  EXPECT_EQ(forward.messages(0).seq(), 32);
  EXPECT_EQ(Tail(0).updates_size(), 30);
}

TEST_F(ChatServerTest, PagesSayWhereToReadOnPastMoreEditsThanAPageReads) {
  SendResponse sent;
  ASSERT_TRUE(Send("alice", "first", "p1", &sent).ok());
  RevisionResponse out;
  for (int i = 1; i <= 30; ++i) {
    ASSERT_TRUE(Edit("alice", 1, "v" + std::to_string(i), &out).ok());
  }
  ASSERT_TRUE(Send("alice", "last", "p2", &sent).ok());
  ASSERT_EQ(sent.seq(), 32);
  // A page of one reads at most 20 entries: the 30 edits between the two
  // messages take two pages to cross, the first of them empty.
  HistoryResponse latest = History(0, 0, 1);
  ASSERT_EQ(latest.messages_size(), 1);
  EXPECT_EQ(latest.messages(0).seq(), 32);
  EXPECT_EQ(latest.next(), 32);
  HistoryResponse empty = History(latest.next(), 0, 1);
  EXPECT_EQ(empty.messages_size(), 0);
  EXPECT_EQ(empty.next(), 12);  // Read 31 down to 12.
  HistoryResponse oldest = History(empty.next(), 0, 1);
  ASSERT_EQ(oldest.messages_size(), 1);
  EXPECT_EQ(oldest.messages(0).message(), "v30");
  EXPECT_EQ(oldest.next(), 0);  // Seq 1 is the oldest: nothing further.
  // Forward the same way, and a page that drains the log says so.
  HistoryResponse ahead = History(0, 1, 1);
  EXPECT_EQ(ahead.messages_size(), 0);
  EXPECT_EQ(ahead.next(), 21);
  HistoryResponse newest = History(0, ahead.next(), 1);
  ASSERT_EQ(newest.messages_size(), 1);
  EXPECT_EQ(newest.messages(0).seq(), 32);
  EXPECT_EQ(newest.next(), 0);
  EXPECT_EQ(History(0, 0, 50).next(), 0);  // The whole log in one page.
}

TEST_F(ChatServerTest, RetentionTrimsRevisionsWithTheMessages) {
  SendResponse sent;
  RevisionResponse out;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(Send("alice", "x", "t" + std::to_string(i), &sent).ok());
    if (i % 10 == 0) {
      ASSERT_TRUE(Edit("alice", sent.seq(), "edited", &out).ok());
    }
  }
  // The sets keep nothing the stream trimmed: without that, the revision
  // of message 1 would still be there and be the oldest seq.
  HistoryResponse h = History(0, 0, 100);
  redisContext* c = redisConnect("127.0.0.1", redis_.port());
  auto* first = static_cast<redisReply*>(
      redisCommand(c, "XRANGE %s - + COUNT 1", keys::ChannelLog("demo", "general").c_str()));
  ASSERT_EQ(first->elements, 1u);
  const int64_t stream_first = std::stoll(first->element[0]->element[0]->str);
  freeReplyObject(first);
  redisFree(c);
  EXPECT_GT(stream_first, 1);
  EXPECT_EQ(h.oldest_seq(), stream_first);
  for (const ChatMessage& m : h.messages()) EXPECT_GE(m.seq(), h.oldest_seq());
}

TEST_F(ChatServerTest, ANewChannelIsAnnouncedToEveryMember) {
  CreateChannel("demo", "news", "news");
  CreateChannel("demo", "news", "news");  // Exists: not announced again.
  PersonalTailRequest tail;
  tail.set_user_id("alice");
  PersonalTailResponse events;
  grpc::ClientContext ctx;
  ASSERT_TRUE(chat_->PersonalTail(&ctx, tail, &events).ok());
  int created = 0;
  for (const PersonalEvent& e : events.events()) {
    if (e.event().has_channel_created()) {
      ++created;
      EXPECT_EQ(e.event().channel_created().id(), "news");
      EXPECT_EQ(e.event().channel_created().server(), "demo");
    }
  }
  EXPECT_EQ(created, 1);
}

TEST_F(ChatServerTest, HistoryAfterZeroStartsAtTheOldest) {
  SendResponse resp;
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(Send("alice", "m", "h" + std::to_string(i), &resp).ok());
  HistoryRequest r;
  r.set_user_id("bob");
  r.set_server("demo");
  r.set_channel("general");
  r.set_after(0);
  r.set_limit(2);
  HistoryResponse out;
  grpc::ClientContext ctx;
  ASSERT_TRUE(chat_->History(&ctx, r, &out).ok());
  ASSERT_EQ(out.messages_size(), 2);
  EXPECT_EQ(out.messages(0).seq(), 1);
  EXPECT_EQ(out.messages(1).seq(), 2);
}

// RollBack makes a log look as Redis leaves it after a restart on an
// append-only file that missed its last writes: only the first `keep`
// entries remain, and the counter is back at the last of them.
void RollBack(redisContext* c, const std::string& log, const std::string& counter, int keep) {
  redisReply* r =
      static_cast<redisReply*>(redisCommand(c, "XRANGE %s - + COUNT %d", log.c_str(), keep));
  ASSERT_NE(r, nullptr);
  std::vector<std::vector<std::string>> entries;
  for (size_t i = 0; i < r->elements; ++i) {
    redisReply* e = r->element[i];
    std::vector<std::string> entry = {std::string(e->element[0]->str, e->element[0]->len)};
    for (size_t f = 0; f < e->element[1]->elements; ++f) {
      entry.emplace_back(e->element[1]->element[f]->str, e->element[1]->element[f]->len);
    }
    entries.push_back(std::move(entry));
  }
  freeReplyObject(r);
  freeReplyObject(redisCommand(c, "DEL %s", log.c_str()));
  for (const auto& e : entries) {
    std::vector<const char*> argv = {"XADD", log.c_str()};
    std::vector<size_t> lens = {4, log.size()};
    for (const std::string& s : e) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    freeReplyObject(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  }
  freeReplyObject(redisCommand(c, "SET %s %d", counter.c_str(), keep));
}

// NextPayload reads the next publication on sub: its seq and Event.
std::pair<int64_t, Event> NextPayload(redisContext* sub) {
  redisReply* r = nullptr;
  if (redisGetReply(sub, reinterpret_cast<void**>(&r)) != REDIS_OK || r->elements != 3) return {};
  std::string payload(r->element[2]->str, r->element[2]->len);
  freeReplyObject(r);
  const size_t space = payload.find(' ');
  int64_t seq = 0;
  (void)absl::SimpleAtoi(payload.substr(0, space), &seq);
  Event event;
  (void)event.ParseFromString(payload.substr(space + 1));
  return {seq, std::move(event)};
}

// Redis lost acknowledged messages: the next message gets a seq above every
// seq handed out, never a reused one, and the loss is announced.
TEST_F(ChatServerTest, ARolledBackLogNeverReusesASeqAndAnnouncesTheLoss) {
  redisContext* sub = redisConnect("127.0.0.1", redis_.port());
  redisContext* cmd = redisConnect("127.0.0.1", redis_.port());
  ASSERT_TRUE(sub != nullptr && cmd != nullptr);
  const std::string topic = keys::ChannelTopic("demo", "general");
  freeReplyObject(redisCommand(sub, "SSUBSCRIBE %s", topic.c_str()));
  SendResponse resp;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Send("alice", "m" + std::to_string(i), "b" + std::to_string(i), &resp).ok());
  }
  ASSERT_EQ(resp.seq(), 5);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(NextPayload(sub).first, i);
  RollBack(cmd, keys::ChannelLog("demo", "general"), keys::ChannelSeq("demo", "general"), 2);

  ASSERT_TRUE(Send("alice", "after", "b-after", &resp).ok());
  EXPECT_EQ(resp.seq(), 6);  // Not 3: seqs 3..5 were delivered already.
  auto [seq, message] = NextPayload(sub);
  EXPECT_EQ(seq, 6);
  EXPECT_EQ(message.chat_message().message(), "after");
  auto [zero, notice] = NextPayload(sub);
  EXPECT_EQ(zero, 0);
  ASSERT_TRUE(notice.has_log_rollback());
  EXPECT_EQ(notice.log_rollback().server(), "demo");
  EXPECT_EQ(notice.log_rollback().channel(), "general");
  EXPECT_EQ(notice.log_rollback().from_seq(), 3);
  EXPECT_EQ(notice.log_rollback().to_seq(), 5);
  HistoryResponse h = History(0, 0, 50);
  std::vector<int64_t> seqs;
  for (const ChatMessage& m : h.messages()) seqs.push_back(m.seq());
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 6}));
  EXPECT_EQ(h.head_seq(), 6);
  EXPECT_EQ(h.lost_from(), 3);  // Recorded for readers that come later.
  EXPECT_EQ(h.lost_to(), 5);

  // A channel this service never wrote: the gateway's seen_seq is the floor.
  SendRequest r;
  r.mutable_author()->set_id("alice");
  r.set_server("demo");
  r.set_channel("random");
  r.set_message("hint");
  r.set_nonce("b-hint");
  r.set_seen_seq(40);
  grpc::ClientContext ctx;
  ASSERT_TRUE(chat_->Send(&ctx, r, &resp).ok());
  EXPECT_EQ(resp.seq(), 41);

  // A user's personal log likewise: bob's read marker after his log lost
  // everything but server_joined.
  const std::string log = keys::UserLog("bob"), counter = keys::UserLogSeq("bob");
  for (int64_t s = 1; s <= 3; ++s) {
    MarkReadRequest m;
    m.set_user_id("bob");
    m.set_server("demo");
    m.set_channel("general");
    m.set_seq(s);
    MarkReadResponse out;
    grpc::ClientContext mctx;
    ASSERT_TRUE(chat_->MarkRead(&mctx, m, &out).ok());
  }
  PersonalTailRequest tail;
  tail.set_user_id("bob");
  PersonalTailResponse events;
  grpc::ClientContext tctx;
  ASSERT_TRUE(chat_->PersonalTail(&tctx, tail, &events).ok());
  const int64_t before = events.head_seq();
  RollBack(cmd, log, counter, 1);
  freeReplyObject(redisCommand(cmd, "HSET %s %s 1", keys::UserReadState("bob").c_str(),
                               keys::ReadField("demo", "general").c_str()));
  MarkReadRequest m;
  m.set_user_id("bob");
  m.set_server("demo");
  m.set_channel("general");
  m.set_seq(6);
  MarkReadResponse out;
  grpc::ClientContext mctx;
  ASSERT_TRUE(chat_->MarkRead(&mctx, m, &out).ok());
  ASSERT_TRUE(out.changed());
  PersonalTailResponse after;
  grpc::ClientContext actx;
  ASSERT_TRUE(chat_->PersonalTail(&actx, tail, &after).ok());
  EXPECT_EQ(after.head_seq(), before + 1);  // Not 2: 2..before were handed out.
  ASSERT_GE(after.events_size(), 1);
  EXPECT_EQ(after.events(after.events_size() - 1).user_seq(), before + 1);
  redisFree(sub);
  redisFree(cmd);
}

// With --redis_min_replicas a master's acknowledgement is not enough: a send
// is acknowledged once WAIT reports the replica has the message.
class ReplicatedChatServerTest : public ChatServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start().ok());
    replica_.set_replica_of(redis_.port());
    ASSERT_TRUE(replica_.Start().ok());
    options_.store.min_replicas = 1;
    options_.store.replica_timeout = absl::Milliseconds(300);
    StartServer(options_);
  }

  // OnReplica reports whether the replica's copy of the log holds seq.
  bool OnReplica(int64_t seq) {
    redisContext* c = redisConnect("127.0.0.1", replica_.port());
    if (c == nullptr || c->err) return false;
    const std::string log = keys::ChannelLog("demo", "general");
    const std::string id = std::to_string(seq) + "-0";
    auto* r = static_cast<redisReply*>(redisCommand(c, "XRANGE %b %b %b", log.data(), log.size(),
                                                    id.data(), id.size(), id.data(), id.size()));
    const bool found = r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == 1;
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return found;
  }

  std::string Metrics() { return server_->RenderMetrics(); }

  ChatServerOptions options_;
  chat::testing::RedisTestServer replica_;
};

TEST_F(ReplicatedChatServerTest, AnAcknowledgedMessageIsAlreadyOnTheReplica) {
  // Many at once: they share WAITs, and each is on the replica once acked.
  std::vector<std::thread> senders;
  std::vector<SendResponse> resp(20);
  std::vector<grpc::Status> status(20);
  for (int i = 0; i < 20; ++i) {
    senders.emplace_back(
        [&, i] { status[i] = Send("alice", "r", "r" + std::to_string(i), &resp[i]); });
  }
  for (std::thread& t : senders) t.join();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(status[i].ok()) << status[i].error_message();
    // Read from the replica after the ack, never waiting: it must be there.
    EXPECT_TRUE(OnReplica(resp[i].seq())) << resp[i].seq();
  }
  EXPECT_NE(Metrics().find("chat_redis_replica_acks_total{outcome=\"confirmed\"} 20"),
            std::string::npos)
      << Metrics();
}

TEST_F(ReplicatedChatServerTest, WithoutAReplicaNothingIsAcknowledgedAndTheRetryIsOneMessage) {
  SendResponse resp;
  ASSERT_TRUE(Send("alice", "before", "b", &resp).ok());
  // A second service instance, as behind a load balancer: its connection's
  // own last write ("elsewhere") reached the replica before it went away.
  std::unique_ptr<ChatServer> first = std::move(server_);
  std::unique_ptr<ChatService::Stub> first_chat = std::move(chat_);
  Launch(options_);
  ASSERT_TRUE(Send("alice", "elsewhere", "e", &resp).ok());
  std::swap(chat_, first_chat);  // Send through the first instance.
  replica_.Pause();              // Connected but silent, like a hung or partitioned replica.
  grpc::Status s = Send("alice", "during", "d", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // A retry under the same nonce while the replica is still away: refused too.
  s = Send("alice", "during", "d", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(first->RenderMetrics().find("chat_redis_replica_acks_total{outcome=\"short\"} 2"),
            std::string::npos)
      << first->RenderMetrics();
  // And through the second instance, whose connection never wrote "during":
  // its retry must not be confirmed by a WAIT on its own older writes.
  std::swap(chat_, first_chat);
  s = Send("alice", "during", "d", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  replica_.Resume();
  // The retry once it is back is acknowledged, as the one stored message.
  ASSERT_TRUE(Send("alice", "during", "d", &resp).ok());
  EXPECT_TRUE(resp.duplicate());
  EXPECT_EQ(resp.seq(), 3);
  EXPECT_TRUE(OnReplica(3));
  HistoryResponse h = History(0, 0, 10);
  ASSERT_EQ(h.messages_size(), 3);
  EXPECT_EQ(h.messages(2).message(), "during");
  first->Shutdown();
}

TEST_F(ReplicatedChatServerTest, AWriteAFailoverTookBackIsRetriedUnderItsSeqAndPublishedOnce) {
  redisContext* sub = redisConnect("127.0.0.1", redis_.port());
  ASSERT_NE(sub, nullptr);
  const std::string topic = keys::ChannelTopic("demo", "general");
  freeReplyObject(redisCommand(sub, "SSUBSCRIBE %s", topic.c_str()));
  const timeval wait{0, 300 * 1000};
  ASSERT_EQ(redisSetTimeout(sub, wait), REDIS_OK);
  // Published: the seqs of the publications on the channel topic, until
  // none comes for 300 ms.
  auto published = [&] {
    std::vector<int64_t> seqs;
    redisReply* r = nullptr;
    while (redisGetReply(sub, reinterpret_cast<void**>(&r)) == REDIS_OK && r != nullptr) {
      const std::string payload(r->element[2]->str, r->element[2]->len);
      int64_t seq = 0;
      EXPECT_TRUE(absl::SimpleAtoi(payload.substr(0, payload.find(' ')), &seq));
      seqs.push_back(seq);
      freeReplyObject(r);
      r = nullptr;
    }
    return seqs;
  };
  SendResponse resp;
  ASSERT_TRUE(Send("alice", "before", "b", &resp).ok());
  EXPECT_EQ(published(), std::vector<int64_t>{1});
  sub->err = 0;  // The timeout ended the read, not the connection.
  replica_.Pause();
  grpc::Status s = Send("alice", "lost", "x", &resp);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Stored on the master as seq 2 but never confirmed: no member saw it.
  EXPECT_TRUE(published().empty());
  sub->err = 0;
  // A failover to a replica that never got it takes it back: the master's
  // state becomes the replica's.
  ASSERT_TRUE(chat::testing::CommandOn(redis_.port(),
                                       {"DEL", keys::ChannelNonce("demo", "general", "alice", "x")})
                  .ok());
  ASSERT_TRUE(
      chat::testing::CommandOn(redis_.port(), {"XDEL", keys::ChannelLog("demo", "general"), "2-0"})
          .ok());
  ASSERT_TRUE(chat::testing::CommandOn(redis_.port(),
                                       {"XSETID", keys::ChannelLog("demo", "general"), "1-0"})
                  .ok());
  ASSERT_TRUE(
      chat::testing::CommandOn(redis_.port(), {"SET", keys::ChannelSeq("demo", "general"), "1"})
          .ok());
  replica_.Resume();
  s = Send("alice", "lost", "x", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The seq the failover took back is the retry's again: no rollback to
  // announce, no gap for members, one publication.
  EXPECT_EQ(resp.seq(), 2);
  EXPECT_FALSE(resp.duplicate());
  EXPECT_EQ(published(), std::vector<int64_t>{2});
  EXPECT_TRUE(
      chat::testing::CommandOn(redis_.port(), {"GET", keys::ChannelRollback("demo", "general")})
          ->is_nil());
  HistoryResponse h = History(0, 0, 10);
  ASSERT_EQ(h.messages_size(), 2);
  EXPECT_EQ(h.messages(1).seq(), 2);
  EXPECT_EQ(h.messages(1).message(), "lost");
  redisFree(sub);
}

}  // namespace
}  // namespace chat::chat_service
