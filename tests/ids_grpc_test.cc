// Every id that could reach a Redis key is checked at the edge of its service.
// Called directly over gRPC, with no gateway in front, every RPC of ChatService,
// ChatAdmin, InviteService and PresenceService refuses, in each of its id
// fields, ids that would leave their key's hash tag or prefix ("{u:bob}",
// "a}b", "a:b", ...) or are not ids at all (empty, too long, non-ASCII,
// control characters, NUL) with INVALID_ARGUMENT. Afterwards Redis holds exactly
// the keys it held before, and none of them names a hostile id. Last, each field
// is called with a valid id and is not refused, so every refusal was about the id
// and not about the rest of the request.
//
// Real parts: a redis-server on a free port and the three services on port 0,
// all sharing that Redis.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "chat_service/chat_server.h"
#include "common/redis_test_server.h"
#include "invite_service/invite_server.h"
#include "presence_service/presence_server.h"
#include "proto/chat.grpc.pb.h"
#include "proto/invite.grpc.pb.h"
#include "proto/presence.grpc.pb.h"

namespace chat::testing {
namespace {

const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2).
  return true;
}();

// HostileIds are ids that try to leave their key's hash tag or prefix, or are
// not ids at all. Every id field must refuse each of them.
const std::vector<std::string>& HostileIds() {
  static const auto* ids = new std::vector<std::string>{
      "{u:bob}",  // Another user's hash tag.
      "a}b",      // Closes a tag early.
      "a{b",      // Opens a second tag.
      "a:b",      // The separator inside tags, as in {c:<server>:<channel>}.
      "a b",
      "é",
      "日本",
      std::string(65, 'a'),  // One past the longest id.
      std::string(1000, 'a'),
      "",  // Skipped where the field is optional.
      "../x",
      "a\nb",
      std::string("a\0b", 3),  // Embedded NUL.
      "a|b",                   // The separator of the presence service's session records.
  };
  return *ids;
}

// Label names an id readably in a failure message.
std::string Label(const std::string& id) {
  if (id.size() > 16) return absl::StrCat(id.size(), " x '", id.substr(0, 1), "'");
  return absl::StrCat("\"", absl::CEscape(id), "\"");
}

std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

// UnaryCall makes one unary call with a 5 s deadline and drops the response.
template <typename Stub, typename Req, typename Resp>
grpc::Status UnaryCall(Stub* stub,
                       grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
                       const Req& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  Resp resp;
  return (stub->*rpc)(&ctx, req, &resp);
}

// IdCall makes one RPC with id in one of its fields.
using IdCall = std::function<grpc::Status(const std::string& id)>;

// Caller returns the IdCall that copies base, puts the id in with
// set(request, id), and calls rpc. base is valid apart from that field.
template <typename Stub, typename Req, typename Resp, typename Set>
IdCall Caller(Stub* stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
              Req base, Set set) {
  return [stub, rpc, base = std::move(base), set](const std::string& id) {
    Req req = base;
    set(req, id);
    return UnaryCall(stub, rpc, req);
  };
}

// IdField is one id field of one RPC: one row of a service's table.
struct IdField {
  std::string name;   // "Rpc field", for failure messages.
  std::string valid;  // A valid id for the field: the one in the call's base request.
  IdCall call;
  bool empty_ok;      // The field is optional: "" is valid, not hostile.
  bool not_found_ok;  // See RefusedAsNotAParty.
};

IdField Required(std::string name, std::string valid, IdCall call) {
  return IdField{std::move(name), std::move(valid), std::move(call), false, false};
}

IdField Optional(std::string name, std::string valid, IdCall call) {
  return IdField{std::move(name), std::move(valid), std::move(call), true, false};
}

// RefusedAsNotAParty is a field the service only compares with ids it has
// already checked, refusing a mismatch before any Redis call as NOT_FOUND
// ("not_found" in proto/invite.proto): INVALID_ARGUMENT or NOT_FOUND will do.
IdField RefusedAsNotAParty(std::string name, std::string valid, IdCall call) {
  return IdField{std::move(name), std::move(valid), std::move(call), false, true};
}

// AwaitRedis retries call while it answers UNAVAILABLE, as a service does
// until its Redis connection is up, for at most 10 s. Returns the last status.
grpc::Status AwaitRedis(const std::function<grpc::Status()>& call) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status s = call();
  while (s.error_code() == grpc::StatusCode::UNAVAILABLE && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = call();
  }
  return s;
}

class IdsGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start().ok());
    chat_service::ChatServerOptions co;
    co.listen = "127.0.0.1:0";
    co.redis = {"127.0.0.1", redis_.port()};
    chat_server_ = std::make_unique<chat_service::ChatServer>(co);
    ASSERT_TRUE(chat_server_->Start().ok());

    invite_service::InviteServerOptions io;
    io.listen = "127.0.0.1:0";
    io.redis = {"127.0.0.1", redis_.port()};
    io.chat_target = Loopback(chat_server_->port());
    // No throttle keys: one expiring mid-test would change the key set.
    io.core.throttle = absl::ZeroDuration();
    invite_server_ = std::make_unique<invite_service::InviteServer>(io);
    ASSERT_TRUE(invite_server_->Start().ok());

    presence_service::PresenceServerOptions po;
    po.listen = "127.0.0.1:0";
    po.redis = {"127.0.0.1", redis_.port()};
    presence_server_ = std::make_unique<presence_service::PresenceServer>(po);
    ASSERT_TRUE(presence_server_->Start().ok());

    auto chat_channel =
        grpc::CreateChannel(Loopback(chat_server_->port()), grpc::InsecureChannelCredentials());
    chat_ = ChatService::NewStub(chat_channel);
    admin_ = ChatAdmin::NewStub(chat_channel);
    invite_ = InviteService::NewStub(
        grpc::CreateChannel(Loopback(invite_server_->port()), grpc::InsecureChannelCredentials()));
    presence_ = PresenceService::NewStub(grpc::CreateChannel(Loopback(presence_server_->port()),
                                                             grpc::InsecureChannelCredentials()));
    Seed();
  }

  void TearDown() override {
    // The invite service calls the chat service: it stops first.
    if (invite_server_) invite_server_->Shutdown(absl::ZeroDuration());
    if (presence_server_) presence_server_->Shutdown(absl::ZeroDuration());
    if (chat_server_) chat_server_->Shutdown(absl::ZeroDuration());
  }

  // Seed writes what the tables' valid requests refer to: users alice, bob and
  // mallory; server demo with channel general, alice and bob its members; a
  // pending friend invitation from alice to bob. It also waits for each
  // service's Redis connection.
  void Seed() {
    for (const char* id : {"alice", "bob", "mallory"}) {
      User u;
      u.set_id(id);
      u.set_name(id);
      ASSERT_TRUE(AwaitRedis([&] {
                    return UnaryCall(admin_.get(), &ChatAdmin::Stub::UpsertUser, u);
                  }).ok());
    }
    CreateServerRequest server;
    server.set_id("demo");
    server.set_name("Demo");
    ASSERT_TRUE(UnaryCall(admin_.get(), &ChatAdmin::Stub::CreateServer, server).ok());
    CreateChannelRequest channel;
    channel.set_server("demo");
    channel.set_id("general");
    channel.set_name("general");
    ASSERT_TRUE(UnaryCall(admin_.get(), &ChatAdmin::Stub::CreateChannel, channel).ok());
    for (const char* user : {"alice", "bob"}) {
      AddMemberRequest member;
      member.set_server("demo");
      member.set_user_id(user);
      ASSERT_TRUE(UnaryCall(admin_.get(), &ChatAdmin::Stub::AddMember, member).ok());
    }
    InviteRequest invite;
    invite.mutable_inviter()->set_id("alice");
    invite.mutable_inviter()->set_name("alice");
    invite.set_invited("bob");
    grpc::Status invited =
        AwaitRedis([&] { return UnaryCall(invite_.get(), &InviteService::Stub::Invite, invite); });
    ASSERT_TRUE(invited.ok()) << invited.error_message();
    QueryRequest query;
    query.set_viewer_id("alice");
    ASSERT_TRUE(AwaitRedis([&] {
                  return UnaryCall(presence_.get(), &PresenceService::Stub::Query, query);
                }).ok());
  }

  // Keys returns every key in Redis, read with SCAN (binary-safe).
  std::set<std::string> Keys() {
    std::set<std::string> keys;
    redisContext* c = redisConnect("127.0.0.1", redis_.port());
    if (c == nullptr || c->err != 0) {
      ADD_FAILURE() << "cannot connect to Redis";
      if (c != nullptr) redisFree(c);
      return keys;
    }
    std::string cursor = "0";
    do {
      auto* r = static_cast<redisReply*>(
          redisCommand(c, "SCAN %b COUNT 1000", cursor.data(), cursor.size()));
      if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        ADD_FAILURE() << "SCAN failed";
        if (r != nullptr) freeReplyObject(r);
        break;
      }
      cursor.assign(r->element[0]->str, r->element[0]->len);
      const redisReply* batch = r->element[1];
      for (size_t i = 0; i < batch->elements; ++i) {
        keys.emplace(batch->element[i]->str, batch->element[i]->len);
      }
      freeReplyObject(r);
    } while (cursor != "0");
    redisFree(c);
    return keys;
  }

  // ExpectHostileIdsRefused calls every field with every hostile id and
  // expects a refusal; then expects Redis to hold exactly the keys it held
  // before, none naming a hostile id; then expects every field to take its
  // valid id (any outcome but INVALID_ARGUMENT).
  void ExpectHostileIdsRefused(const std::vector<IdField>& fields) {
    const std::set<std::string> before = Keys();
    ASSERT_FALSE(before.empty()) << "the seed wrote no keys";

    for (const IdField& field : fields) {
      SCOPED_TRACE(field.name);
      for (const std::string& id : HostileIds()) {
        if (id.empty() && field.empty_ok) continue;
        SCOPED_TRACE(Label(id));
        const grpc::Status s = field.call(id);
        const bool refused = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                             (field.not_found_ok && s.error_code() == grpc::StatusCode::NOT_FOUND);
        EXPECT_TRUE(refused) << "got code " << s.error_code() << ": " << s.error_message();
      }
    }

    const std::set<std::string> after = Keys();
    for (const std::string& key : after) {
      EXPECT_EQ(before.count(key), 1u) << "new key " << absl::CEscape(key);
      for (const std::string& id : HostileIds()) {
        // Every id in a key follows a ':' ("{u:", "{c:<server>:", ":typing:"...),
        // so this finds an id that got in, and not the seed's own keys (such as
        // "{u:bob}:profile" for the hostile id "{u:bob}").
        if (id.empty()) continue;
        EXPECT_EQ(key.find(absl::StrCat(":", id)), std::string::npos)
            << "key " << absl::CEscape(key) << " holds the hostile id " << Label(id);
      }
    }
    for (const std::string& key : before) {
      EXPECT_EQ(after.count(key), 1u) << "lost key " << absl::CEscape(key);
    }

    // After the key comparison: valid calls may write.
    for (const IdField& field : fields) {
      const grpc::Status s = field.call(field.valid);
      EXPECT_NE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << field.name << " refuses its valid id \"" << field.valid << "\": " << s.error_message();
    }
  }

  RedisTestServer redis_;
  std::unique_ptr<chat_service::ChatServer> chat_server_;
  std::unique_ptr<invite_service::InviteServer> invite_server_;
  std::unique_ptr<presence_service::PresenceServer> presence_server_;
  std::unique_ptr<ChatService::Stub> chat_;
  std::unique_ptr<ChatAdmin::Stub> admin_;
  std::unique_ptr<InviteService::Stub> invite_;
  std::unique_ptr<PresenceService::Stub> presence_;
};

TEST_F(IdsGrpcTest, ChatServiceAndChatAdminRefuseHostileIds) {
  SendRequest send;
  send.mutable_author()->set_id("alice");
  send.mutable_author()->set_name("Alice");
  send.set_server("demo");
  send.set_channel("general");
  send.set_message("hi");
  send.set_nonce("n1");
  HistoryRequest history;
  history.set_user_id("alice");
  history.set_server("demo");
  history.set_channel("general");
  TailRequest tail;
  tail.set_server("demo");
  tail.set_channel("general");
  TypingRequest typing;
  typing.mutable_user()->set_id("alice");
  typing.mutable_user()->set_name("Alice");
  typing.set_server("demo");
  typing.set_channel("general");
  GetUserStateRequest state;
  state.set_user_id("alice");
  MarkReadRequest read;
  read.set_user_id("alice");
  read.set_server("demo");
  read.set_channel("general");
  read.set_seq(1);
  PersonalTailRequest personal;
  personal.set_user_id("alice");
  User user;
  user.set_id("alice");
  user.set_name("Alice");
  GetUserRequest get_user;
  get_user.set_id("alice");
  CreateServerRequest server;
  server.set_id("demo");
  server.set_name("Demo");
  CreateChannelRequest channel;
  channel.set_server("demo");
  channel.set_id("general");
  channel.set_name("general");
  AddMemberRequest member;
  member.set_server("demo");
  member.set_user_id("bob");

  using S = ChatService::Stub;
  using A = ChatAdmin::Stub;
  S* c = chat_.get();
  A* a = admin_.get();
  ExpectHostileIdsRefused({
      Required(
          "Send author.id", "alice",
          Caller(c, &S::Send, send, [](auto& r, auto& id) { r.mutable_author()->set_id(id); })),
      Required("Send server", "demo",
               Caller(c, &S::Send, send, [](auto& r, auto& id) { r.set_server(id); })),
      Required("Send channel", "general",
               Caller(c, &S::Send, send, [](auto& r, auto& id) { r.set_channel(id); })),
      Required("History user_id", "alice",
               Caller(c, &S::History, history, [](auto& r, auto& id) { r.set_user_id(id); })),
      Required("History server", "demo",
               Caller(c, &S::History, history, [](auto& r, auto& id) { r.set_server(id); })),
      Required("History channel", "general",
               Caller(c, &S::History, history, [](auto& r, auto& id) { r.set_channel(id); })),
      Required("Tail server", "demo",
               Caller(c, &S::Tail, tail, [](auto& r, auto& id) { r.set_server(id); })),
      Required("Tail channel", "general",
               Caller(c, &S::Tail, tail, [](auto& r, auto& id) { r.set_channel(id); })),
      Required(
          "Typing user.id", "alice",
          Caller(c, &S::Typing, typing, [](auto& r, auto& id) { r.mutable_user()->set_id(id); })),
      Required("Typing server", "demo",
               Caller(c, &S::Typing, typing, [](auto& r, auto& id) { r.set_server(id); })),
      Required("Typing channel", "general",
               Caller(c, &S::Typing, typing, [](auto& r, auto& id) { r.set_channel(id); })),
      Required("GetUserState user_id", "alice",
               Caller(c, &S::GetUserState, state, [](auto& r, auto& id) { r.set_user_id(id); })),
      Required("MarkRead user_id", "alice",
               Caller(c, &S::MarkRead, read, [](auto& r, auto& id) { r.set_user_id(id); })),
      Required("MarkRead server", "demo",
               Caller(c, &S::MarkRead, read, [](auto& r, auto& id) { r.set_server(id); })),
      Required("MarkRead channel", "general",
               Caller(c, &S::MarkRead, read, [](auto& r, auto& id) { r.set_channel(id); })),
      Required("PersonalTail user_id", "alice",
               Caller(c, &S::PersonalTail, personal, [](auto& r, auto& id) { r.set_user_id(id); })),
      Required("UpsertUser id", "alice",
               Caller(a, &A::UpsertUser, user, [](auto& r, auto& id) { r.set_id(id); })),
      Required("GetUser id", "alice",
               Caller(a, &A::GetUser, get_user, [](auto& r, auto& id) { r.set_id(id); })),
      Required("CreateServer id", "demo",
               Caller(a, &A::CreateServer, server, [](auto& r, auto& id) { r.set_id(id); })),
      Required("CreateChannel server", "demo",
               Caller(a, &A::CreateChannel, channel, [](auto& r, auto& id) { r.set_server(id); })),
      Required("CreateChannel id", "general",
               Caller(a, &A::CreateChannel, channel, [](auto& r, auto& id) { r.set_id(id); })),
      Required("AddMember server", "demo",
               Caller(a, &A::AddMember, member, [](auto& r, auto& id) { r.set_server(id); })),
      Required("AddMember user_id", "bob",
               Caller(a, &A::AddMember, member, [](auto& r, auto& id) { r.set_user_id(id); })),
  });
}

TEST_F(IdsGrpcTest, InviteServiceRefusesHostileIds) {
  InviteRequest invite;
  invite.mutable_inviter()->set_id("alice");
  invite.mutable_inviter()->set_name("alice");
  invite.set_invited("bob");
  TransitionRequest cancel;  // By the inviter.
  cancel.mutable_actor()->set_id("alice");
  cancel.set_inviting("alice");
  cancel.set_invited("bob");
  TransitionRequest accept;  // By the invitee.
  accept.mutable_actor()->set_id("bob");
  accept.set_inviting("alice");
  accept.set_invited("bob");
  ListRequest list;
  list.set_user_id("alice");

  using I = InviteService::Stub;
  I* i = invite_.get();
  ExpectHostileIdsRefused({
      Required("Invite inviter.id", "alice",
               Caller(i, &I::Invite, invite,
                      [](auto& r, auto& id) { r.mutable_inviter()->set_id(id); })),
      Required("Invite invited", "bob",
               Caller(i, &I::Invite, invite, [](auto& r, auto& id) { r.set_invited(id); })),
      // Empty: a friend invitation.
      Optional("Invite server", "demo",
               Caller(i, &I::Invite, invite, [](auto& r, auto& id) { r.set_server(id); })),
      // An actor who is neither party is "not_found" (invite_core.cc, Cancel).
      RefusedAsNotAParty(
          "Cancel actor.id", "alice",
          Caller(i, &I::Cancel, cancel, [](auto& r, auto& id) { r.mutable_actor()->set_id(id); })),
      Required("Cancel inviting", "alice",
               Caller(i, &I::Cancel, cancel, [](auto& r, auto& id) { r.set_inviting(id); })),
      Required("Cancel invited", "bob",
               Caller(i, &I::Cancel, cancel, [](auto& r, auto& id) { r.set_invited(id); })),
      Optional("Cancel server", "demo",
               Caller(i, &I::Cancel, cancel, [](auto& r, auto& id) { r.set_server(id); })),
      Required(
          "Accept actor.id", "bob",
          Caller(i, &I::Accept, accept, [](auto& r, auto& id) { r.mutable_actor()->set_id(id); })),
      Required("Accept inviting", "alice",
               Caller(i, &I::Accept, accept, [](auto& r, auto& id) { r.set_inviting(id); })),
      Required("Accept invited", "bob",
               Caller(i, &I::Accept, accept, [](auto& r, auto& id) { r.set_invited(id); })),
      Optional("Accept server", "demo",
               Caller(i, &I::Accept, accept, [](auto& r, auto& id) { r.set_server(id); })),
      Required("ListPending user_id", "alice",
               Caller(i, &I::ListPending, list, [](auto& r, auto& id) { r.set_user_id(id); })),
      Required("ListFriends user_id", "alice",
               Caller(i, &I::ListFriends, list, [](auto& r, auto& id) { r.set_user_id(id); })),
  });
}

TEST_F(IdsGrpcTest, PresenceServiceRefusesHostileIds) {
  SessionRef session;
  session.set_user_id("alice");
  session.set_session_id("s1");
  session.set_gateway_id("g1");
  session.set_status("online");
  ConnectRequest connect;
  *connect.mutable_session() = session;
  DisconnectRequest disconnect;
  *disconnect.mutable_session() = session;
  SetStatusRequest status;
  *status.mutable_session() = session;
  HeartbeatRequest heartbeat;
  heartbeat.set_gateway_id("g1");
  *heartbeat.add_sessions() = session;
  QueryRequest query;
  query.set_viewer_id("alice");
  query.add_user_ids("bob");

  using P = PresenceService::Stub;
  P* p = presence_.get();
  // Disconnect, SetStatus and Heartbeat's sessions may leave gateway_id empty.
  ExpectHostileIdsRefused({
      Required("Connect session.user_id", "alice",
               Caller(p, &P::Connect, connect,
                      [](auto& r, auto& id) { r.mutable_session()->set_user_id(id); })),
      Required("Connect session.session_id", "s1",
               Caller(p, &P::Connect, connect,
                      [](auto& r, auto& id) { r.mutable_session()->set_session_id(id); })),
      Required("Connect session.gateway_id", "g1",
               Caller(p, &P::Connect, connect,
                      [](auto& r, auto& id) { r.mutable_session()->set_gateway_id(id); })),
      Required("Disconnect session.user_id", "alice",
               Caller(p, &P::Disconnect, disconnect,
                      [](auto& r, auto& id) { r.mutable_session()->set_user_id(id); })),
      Required("Disconnect session.session_id", "s1",
               Caller(p, &P::Disconnect, disconnect,
                      [](auto& r, auto& id) { r.mutable_session()->set_session_id(id); })),
      Optional("Disconnect session.gateway_id", "g1",
               Caller(p, &P::Disconnect, disconnect,
                      [](auto& r, auto& id) { r.mutable_session()->set_gateway_id(id); })),
      Required("SetStatus session.user_id", "alice",
               Caller(p, &P::SetStatus, status,
                      [](auto& r, auto& id) { r.mutable_session()->set_user_id(id); })),
      Required("SetStatus session.session_id", "s1",
               Caller(p, &P::SetStatus, status,
                      [](auto& r, auto& id) { r.mutable_session()->set_session_id(id); })),
      Optional("SetStatus session.gateway_id", "g1",
               Caller(p, &P::SetStatus, status,
                      [](auto& r, auto& id) { r.mutable_session()->set_gateway_id(id); })),
      Required(
          "Heartbeat gateway_id", "g1",
          Caller(p, &P::Heartbeat, heartbeat, [](auto& r, auto& id) { r.set_gateway_id(id); })),
      Required("Heartbeat sessions[0].user_id", "alice",
               Caller(p, &P::Heartbeat, heartbeat,
                      [](auto& r, auto& id) { r.mutable_sessions(0)->set_user_id(id); })),
      Required("Heartbeat sessions[0].session_id", "s1",
               Caller(p, &P::Heartbeat, heartbeat,
                      [](auto& r, auto& id) { r.mutable_sessions(0)->set_session_id(id); })),
      Optional("Heartbeat sessions[0].gateway_id", "g1",
               Caller(p, &P::Heartbeat, heartbeat,
                      [](auto& r, auto& id) { r.mutable_sessions(0)->set_gateway_id(id); })),
      Required("Query viewer_id", "alice",
               Caller(p, &P::Query, query, [](auto& r, auto& id) { r.set_viewer_id(id); })),
      Required("Query user_ids[0]", "bob",
               Caller(p, &P::Query, query, [](auto& r, auto& id) { r.set_user_ids(0, id); })),
  });
}

}  // namespace
}  // namespace chat::testing
