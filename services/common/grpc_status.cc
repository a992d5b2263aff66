#include "services/common/grpc_status.h"

#include <string>

namespace framepair {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // Numeric identity is guaranteed: both enums are google.rpc.Code. Codes outside 1..16
  // cannot be sent on the wire, so they become UNKNOWN (as gRPC itself would do).
  int code = static_cast<int>(status.code());
  if (code < 1 || code > 16) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code < 1 || code > 16) code = static_cast<int>(absl::StatusCode::kUnknown);
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

ErrorClass ClassifyError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return ErrorClass::kOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kDataLoss:
      return ErrorClass::kBadInput;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return ErrorClass::kDenied;
    case absl::StatusCode::kUnimplemented:
      return ErrorClass::kIncompatible;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return ErrorClass::kUnavailable;
    case absl::StatusCode::kResourceExhausted:
      return ErrorClass::kBusy;
    case absl::StatusCode::kCancelled:
      return ErrorClass::kCancelled;
    default:
      return ErrorClass::kInternal;
  }
}

bool IsRetryable(absl::StatusCode code) {
  switch (ClassifyError(code)) {
    case ErrorClass::kUnavailable:
    case ErrorClass::kBusy:
    case ErrorClass::kCancelled:
    case ErrorClass::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace framepair
