// RequestTags: who a piece of work is for and which request started it, so
// that log lines and the calls it makes to other services can say so. The
// tags are the calling thread's: a ScopedRequest sets them for a scope, and
// code that hands work to another thread carries them across itself
// (CurrentRequest() copied into the task, a ScopedRequest around it). The
// gateway sets them per client frame; CallUnary sends them to the service as
// metadata (kUserIdHeader, kRequestIdHeader), whose RPC observer logs them.
#ifndef CHATSUITE_COMMON_REQUEST_CONTEXT_H_
#define CHATSUITE_COMMON_REQUEST_CONTEXT_H_

#include <string>
#include <utility>

namespace chat {

inline constexpr char kUserIdHeader[] = "x-chat-user-id";
inline constexpr char kRequestIdHeader[] = "x-request-id";

struct RequestTags {
  std::string user_id;     // Empty before a session is identified.
  std::string request_id;  // "<session id>.<frame number>" from the gateway.
};

namespace internal {
inline RequestTags*& CurrentRequestSlot() {
  thread_local RequestTags* current = nullptr;
  return current;
}
}  // namespace internal

// CurrentRequest returns the tags of the innermost ScopedRequest on this
// thread, or empty tags outside any.
inline const RequestTags& CurrentRequest() {
  static const RequestTags kNone;
  const RequestTags* current = internal::CurrentRequestSlot();
  return current != nullptr ? *current : kNone;
}

// ScopedRequest makes tags the thread's current ones until it is destroyed;
// scopes nest.
class ScopedRequest {
 public:
  explicit ScopedRequest(RequestTags tags)
      : tags_(std::move(tags)), previous_(internal::CurrentRequestSlot()) {
    internal::CurrentRequestSlot() = &tags_;
  }
  ~ScopedRequest() { internal::CurrentRequestSlot() = previous_; }
  ScopedRequest(const ScopedRequest&) = delete;
  ScopedRequest& operator=(const ScopedRequest&) = delete;

 private:
  RequestTags tags_;
  RequestTags* previous_;
};

}  // namespace chat

#endif  // CHATSUITE_COMMON_REQUEST_CONTEXT_H_
