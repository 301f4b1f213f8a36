// ChatCore is the chat service's logic, free of gRPC and Redis: it validates
// requests, applies limits, and drives a ChatStore. The gRPC adapter
// (chat_service_impl) only converts between RPCs and these calls.
#ifndef CHATSUITE_CHAT_SERVICE_CHAT_CORE_H_
#define CHATSUITE_CHAT_SERVICE_CHAT_CORE_H_

#include <functional>

#include "absl/time/clock.h"
#include "chat_service/chat_store.h"
#include "proto/chat.pb.h"

namespace chat::chat_service {

struct ChatCoreOptions {
  int max_message_chars = 2000;  // Unicode code points.
  int max_history_limit = 100;
  int default_history_limit = 50;
  int max_nonce_chars = 64;
  absl::Duration typing_interval = absl::Seconds(3);  // One relay per user per channel.
  absl::Duration typing_ttl = absl::Seconds(10);      // How long clients show it.
  std::function<int64_t()> now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
};

class ChatCore {
 public:
  // store must outlive the core.
  ChatCore(ChatStore* store, ChatCoreOptions options) : store_(store), options_(options) {}

  // Send validates and stores a message. kInvalidArgument: bad ids, empty or
  // too long text (message names the limit), bad nonce. kNotFound,
  // kPermissionDenied: see ChatStore::CheckAccess.
  void Send(const SendRequest& req, Done<SendResponse> done);
  // History returns a page; limit is clamped to 1..max_history_limit.
  void History(const HistoryRequest& req, Done<HistoryResponse> done);
  void GetUserState(const GetUserStateRequest& req, Done<UserState> done);
  // Typing relays a typing indicator (access checked as for Send); relayed is
  // false when throttled.
  void Typing(const TypingRequest& req, Done<TypingResponse> done);

  // Admin calls; ids must satisfy keys::IsValidId, names 1..100 chars.
  void UpsertUser(const User& req, Done<User> done);
  void GetUser(const GetUserRequest& req, Done<User> done);
  void CreateServer(const CreateServerRequest& req, Done<Server> done);
  void CreateChannel(const CreateChannelRequest& req, Done<Channel> done);
  void AddMember(const AddMemberRequest& req, Done<AddMemberResponse> done);

  const ChatCoreOptions& options() const { return options_; }

 private:
  ChatStore* store_;
  ChatCoreOptions options_;
};

// Utf8Length counts code points in valid UTF-8 (protobuf guarantees validity).
size_t Utf8Length(absl::string_view s);

}  // namespace chat::chat_service

#endif  // CHATSUITE_CHAT_SERVICE_CHAT_CORE_H_
