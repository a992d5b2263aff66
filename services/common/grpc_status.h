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

// What a failed call means for whoever made it. The one classification behind the
// scheduler's retry decision (IsRetryable) and the CLI's exit codes (cli::ExitCodeFor), so the
// two cannot disagree about a code.
enum class ErrorClass {
  kOk,
  // INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS, DATA_LOSS:
  // the request or its input cannot work; the same call fails the same way anywhere.
  kBadInput,
  // UNAUTHENTICATED, PERMISSION_DENIED: the caller's identity (token, certificate) is missing,
  // wrong or not allowed this; retrying with the same credentials cannot help.
  kDenied,
  // UNIMPLEMENTED: the peer does not speak this call (a version mismatch of a deployment).
  kIncompatible,
  // UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED: the peer or the path to it failed; try again.
  kUnavailable,
  // RESOURCE_EXHAUSTED: the peer is full (task slots, uploads, disk); try again later.
  kBusy,
  kCancelled,  // CANCELLED
  // INTERNAL, UNKNOWN and anything else: a bug or the environment; another attempt may work.
  kInternal,
};
ErrorClass ClassifyError(absl::StatusCode code);
// Whether a task attempt that failed with `code` is worth another attempt (kUnavailable,
// kBusy, kCancelled, kInternal); kBadInput, kDenied and kIncompatible fail the task for good.
bool IsRetryable(absl::StatusCode code);

}  // namespace framepair
