// ChatMembership: Membership over the chat service's ChatAdmin.AddMember, so
// the chat service stays the owner of memberships and announces them
// (server_joined) to the new member's sessions.
#ifndef CHATSUITE_INVITE_SERVICE_MEMBERSHIP_H_
#define CHATSUITE_INVITE_SERVICE_MEMBERSHIP_H_

#include <memory>
#include <string>

#include "invite_service/invite_store.h"
#include "proto/chat.grpc.pb.h"

namespace chat::invite_service {

class ChatMembership : public Membership {
 public:
  // target: the chat service's host:port.
  explicit ChatMembership(const std::string& target);
  void AddMember(const std::string& server, const std::string& user, Done<bool> done) override;

 private:
  std::unique_ptr<ChatAdmin::Stub> admin_;
};

}  // namespace chat::invite_service

#endif  // CHATSUITE_INVITE_SERVICE_MEMBERSHIP_H_
