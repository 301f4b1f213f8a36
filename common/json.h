// ToJson: the wire's JSON form of a protobuf message, the proto3 JSON mapping
// with the original field names and every field printed. The gateway's frames
// and the admin CLI's output both use it.
#ifndef CHATSUITE_COMMON_JSON_H_
#define CHATSUITE_COMMON_JSON_H_

#include <google/protobuf/message.h>

#include <string>

namespace chat {

// ToJson prints message in the wire's JSON form.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace chat

#endif  // CHATSUITE_COMMON_JSON_H_
