#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/request_context.h"

namespace chat {

namespace {

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendMember(absl::string_view key, absl::string_view value, std::string* out) {
  if (!out->empty() && out->back() != '{') out->push_back(',');
  AppendJsonString(key, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

bool IsKeyChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-'; }

// Timestamp is the line's UTC time with milliseconds, as text and JSON show it.
std::string Timestamp(spdlog::log_clock::time_point t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(t), absl::UTCTimeZone());
}

class LineFormatter final : public spdlog::formatter {
 public:
  LineFormatter(std::string component, bool json) : component_(std::move(component)), json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    const absl::string_view level(spdlog::level::to_string_view(msg.level).data(),
                                  spdlog::level::to_string_view(msg.level).size());
    const RequestTags& tags = CurrentRequest();
    std::string line;
    if (json_) {
      line.push_back('{');
      AppendMember("ts", Timestamp(msg.time), &line);
      AppendMember("level", level, &line);
      AppendMember("component", component_, &line);
      LogfmtToJson(payload, &line);
      if (!tags.user_id.empty()) AppendMember("user", tags.user_id, &line);
      if (!tags.request_id.empty()) AppendMember("request", tags.request_id, &line);
      line.append("}\n");
    } else {
      absl::StrAppend(&line, "ts=", Timestamp(msg.time), " level=", level,
                      " component=", component_, " ", payload);
      if (!tags.user_id.empty()) absl::StrAppend(&line, " user=", tags.user_id);
      if (!tags.request_id.empty()) absl::StrAppend(&line, " request=", tags.request_id);
      line.push_back('\n');
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(component_, json_);
  }

 private:
  std::string component_;
  bool json_;
};

}  // namespace

void LogfmtToJson(absl::string_view payload, std::string* out) {
  size_t i = 0;
  const size_t n = payload.size();
  while (i < n) {
    while (i < n && payload[i] == ' ') ++i;
    if (i == n) return;
    size_t k = i;
    while (k < n && IsKeyChar(payload[k])) ++k;
    if (k == i || k == n || payload[k] != '=') break;  // Not a pair: the rest is text.
    const absl::string_view key = payload.substr(i, k - i);
    size_t v = k + 1;
    std::string value;
    if (v < n && payload[v] == '"') {
      ++v;
      bool closed = false;
      while (v < n) {
        const char c = payload[v];
        if (c == '\\' && v + 1 < n) {
          value.push_back(payload[v + 1]);
          v += 2;
        } else if (c == '"') {
          closed = true;
          ++v;
          break;
        } else {
          value.push_back(c);
          ++v;
        }
      }
      if (!closed) break;
    } else {
      const size_t start = v;
      while (v < n && payload[v] != ' ') ++v;
      value = std::string(payload.substr(start, v - start));
    }
    AppendMember(key, value, out);
    i = v;
  }
  if (i < n) AppendMember("msg", payload.substr(i), out);
}

bool LogLimiter::Allow(uint64_t* suppressed) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t window = window_.load(std::memory_order_relaxed);
  if (window != now && window_.compare_exchange_strong(window, now, std::memory_order_relaxed)) {
    used_.store(0, std::memory_order_relaxed);
  }
  if (used_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
    held_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  *suppressed = held_.exchange(0, std::memory_order_relaxed);
  return true;
}

absl::Status SetupLogging(absl::string_view component, absl::string_view level,
                          absl::string_view format) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str maps anything it does not know to "off"; only "off" means it.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", level, "': expected trace, debug, info, warn, error, critical or off"));
  }
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("log format '", format, "': expected text or json"));
  }
  spdlog::set_formatter(std::make_unique<LineFormatter>(std::string(component), format == "json"));
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

}  // namespace chat
