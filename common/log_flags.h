// --log_level and --log_format, the same on every binary (env CHAT_LOG_LEVEL,
// CHAT_LOG_FORMAT), applied by SetupLoggingFromFlags (logging.h).
#ifndef CHATSUITE_COMMON_LOG_FLAGS_H_
#define CHATSUITE_COMMON_LOG_FLAGS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace chat {

// SetupLoggingFromFlags configures logging for component from the flags;
// kInvalidArgument (logged to stderr by the caller) for a bad value.
absl::Status SetupLoggingFromFlags(absl::string_view component);

}  // namespace chat

#endif  // CHATSUITE_COMMON_LOG_FLAGS_H_
