#include "common/log_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "common/config.h"
#include "common/logging.h"

ABSL_FLAG(std::string, log_level, chat::EnvOr("CHAT_LOG_LEVEL", "info"),
          "trace, debug, info, warn, error, critical or off (env CHAT_LOG_LEVEL)");
ABSL_FLAG(std::string, log_format, chat::EnvOr("CHAT_LOG_FORMAT", "text"),
          "log lines as text (logfmt) or json, one object per line (env CHAT_LOG_FORMAT)");

namespace chat {

absl::Status SetupLoggingFromFlags(absl::string_view component) {
  return SetupLogging(component, absl::GetFlag(FLAGS_log_level), absl::GetFlag(FLAGS_log_format));
}

}  // namespace chat
