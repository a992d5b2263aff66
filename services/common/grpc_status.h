// The one converter between absl::Status (used everywhere inside framepair) and grpc::Status
// (used only at the RPC edge). Codes keep their numeric values (both follow
// google.rpc.Code), messages are kept verbatim, so a client can tell retryable (UNAVAILABLE)
// from permanent (INVALID_ARGUMENT, NOT_FOUND) failures exactly as the library reported them.
// Status payloads are not carried over. Thread-safe (pure functions).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace framepair {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace framepair
