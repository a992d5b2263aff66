// The scheduler's decisions as pure functions (no clock, no store, no network), so each rule
// is unit-tested on its own: where a task goes, what a failed attempt means, how long to wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace framepair {

// One worker target as the dispatcher sees it.
struct TargetLoad {
  std::string address;
  int in_flight = 0;
  int capacity = 1;
  bool resting = false;  // failed recently; no new task until its rest ends
};

// The target for a task: among those with a free slot that are not resting, the least loaded;
// a task that failed before (`retries` > 0) avoids the target of its last attempt
// (`last_worker`) when another is free. -1 when none can take it.
int ChooseTarget(const std::vector<TargetLoad>& targets, int64_t retries,
                 const std::string& last_worker);

// What a finished attempt means for its task.
enum class AttemptVerdict {
  kDone,   // OK: store the result
  kRetry,  // a retryable failure with retries left: pending again after RetryBackoff
  kWait,   // the worker was busy (RESOURCE_EXHAUSTED): pending again, no retry used
  kFail,   // a permanent failure, or retries used up: the task and its job fail
};
// `stalled`: the coordinator cancelled the attempt because its worker stopped reporting
// progress (always retryable). `retries`: retryable failures of the task before this one.
AttemptVerdict Decide(absl::StatusCode code, bool stalled, int64_t retries, int max_retries);

// How long a task waits before its next attempt: `first` doubled per retry so far, capped at
// 30 s; a busy refusal waits `first` (its retries do not grow).
std::chrono::milliseconds RetryBackoff(std::chrono::milliseconds first, int64_t retries, bool busy);

// How long a target rests after `failures_in_a_row` failures (counting this one, >= 1):
// 1 s doubling to 32 s, or to 8 s for a busy refusal (its slots free up as its tasks end).
// Zero for dns:/// names: one name stands for many workers and round_robin already skips
// addresses it cannot reach.
std::chrono::milliseconds TargetRest(const std::string& address, int failures_in_a_row, bool busy);

}  // namespace framepair
