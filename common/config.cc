#include "common/config.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace chat {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view s) {
  size_t colon = s.rfind(':');
  HostPort hp;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(s.substr(colon + 1), &hp.port) || hp.port <= 0 || hp.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("expected host:port, got '", s, "'"));
  }
  hp.host = std::string(s.substr(0, colon));
  return hp;
}

void SetupLogging(absl::string_view component, absl::string_view level) {
  spdlog::set_pattern(
      absl::StrCat("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l component=", component, " %v"),
      spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace chat
