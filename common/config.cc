#include "common/config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace chat {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view s, bool allow_port_zero) {
  size_t colon = s.rfind(':');
  HostPort hp;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(s.substr(colon + 1), &hp.port) || hp.port < (allow_port_zero ? 0 : 1) ||
      hp.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("expected host:port, got '", s, "'"));
  }
  hp.host = std::string(s.substr(0, colon));
  return hp;
}

absl::StatusOr<std::vector<HostPort>> ParseHostPorts(absl::string_view s) {
  std::vector<HostPort> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    absl::StatusOr<HostPort> hp = ParseHostPort(part);
    if (!hp.ok()) return hp.status();
    out.push_back(*std::move(hp));
  }
  if (out.empty()) return absl::InvalidArgumentError("expected host:port[,host:port...]");
  return out;
}

}  // namespace chat
