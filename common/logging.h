// Logging for every binary: spdlog, one line per event. Call sites write
// logfmt ("event=name key=value key=\"quoted value\""); the line format adds
// the time, level and component, and the user and request ids of the
// thread's current request (request_context.h) when it has them. --log_format
// picks how a line is written:
//   text: ts=2026-12-02T10:00:00.123Z level=warn component=gateway event=x k=v
//   json: {"ts":"2026-12-02T10:00:00.123Z","level":"warn","component":"gateway",
//          "event":"x","k":"v","user":"alice","request":"3f2a....17"}
// In JSON every value is a string; text that is not logfmt goes to "msg".
#ifndef CHATSUITE_COMMON_LOGGING_H_
#define CHATSUITE_COMMON_LOGGING_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace chat {

// SetupLogging configures spdlog's default logger for a binary. level:
// "trace", "debug", "info", "warn", "error", "critical" or "off"; format:
// "text" or "json". kInvalidArgument for anything else (nothing changes).
absl::Status SetupLogging(absl::string_view component, absl::string_view level,
                          absl::string_view format = "text");

// LogfmtToJson appends payload's logfmt pairs to out as JSON members
// ("k":"v", comma-separated, no braces). Whatever cannot be read as pairs
// is kept whole as "msg". Pure; for the JSON format and its tests.
void LogfmtToJson(absl::string_view payload, std::string* out);

// LogLimiter lets at most `per_second` lines through per second; the
// first line let through after some were held back says how many
// (Allow's suppressed). For lines a failing dependency can repeat per
// request. Thread-safe, lock-free.
class LogLimiter {
 public:
  explicit LogLimiter(int per_second) : per_second_(per_second) {}
  // Allow: true when the line may be written; *suppressed is then the
  // number of lines held back since the last one written.
  bool Allow(uint64_t* suppressed);

 private:
  const int per_second_;
  std::atomic<int64_t> window_{0};  // Current second (steady clock).
  std::atomic<int> used_{0};
  std::atomic<uint64_t> held_{0};
};

}  // namespace chat

#endif  // CHATSUITE_COMMON_LOGGING_H_
