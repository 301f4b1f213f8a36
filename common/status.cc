#include "common/status.h"

#include <string>

#include "proto/common.pb.h"

namespace chat {

namespace {
constexpr absl::string_view kDetailUrl = "type.chatsuite/chat.ErrorDetail";

absl::optional<ErrorDetail> DetailOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kDetailUrl);
  if (!payload) return absl::nullopt;
  ErrorDetail detail;
  if (!detail.ParseFromString(std::string(*payload))) return absl::nullopt;
  return detail;
}
}  // namespace

absl::Status WithReason(absl::Status status, absl::string_view reason, absl::Duration retry_after) {
  ErrorDetail detail;
  detail.set_reason(std::string(reason));
  detail.set_retry_after_ms(absl::ToInt64Milliseconds(retry_after));
  status.SetPayload(kDetailUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

std::string ReasonOf(const absl::Status& status) {
  absl::optional<ErrorDetail> d = DetailOf(status);
  return d ? d->reason() : "";
}

absl::Duration RetryAfterOf(const absl::Status& status) {
  absl::optional<ErrorDetail> d = DetailOf(status);
  return d ? absl::Milliseconds(d->retry_after_ms()) : absl::ZeroDuration();
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  absl::optional<ErrorDetail> d = DetailOf(status);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      d ? d->SerializeAsString() : "");
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  ErrorDetail detail;
  if (!status.error_details().empty() && detail.ParseFromString(status.error_details())) {
    out.SetPayload(kDetailUrl, absl::Cord(status.error_details()));
  }
  return out;
}

}  // namespace chat
