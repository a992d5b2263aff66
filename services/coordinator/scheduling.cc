#include "services/coordinator/scheduling.h"

#include <algorithm>
#include <utility>

#include "services/common/grpc_status.h"

namespace framepair {

int ChooseTarget(const std::vector<TargetLoad>& targets, int64_t retries,
                 const std::string& last_worker) {
  auto rank = [&](const TargetLoad& t) {
    const bool failed_here = retries > 0 && t.address == last_worker;
    return std::make_pair(failed_here, t.in_flight);
  };
  int best = -1;
  for (size_t i = 0; i < targets.size(); ++i) {
    const TargetLoad& t = targets[i];
    if (t.in_flight >= t.capacity || t.resting) continue;
    if (best < 0 || rank(t) < rank(targets[static_cast<size_t>(best)])) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

AttemptVerdict Decide(absl::StatusCode code, bool stalled, int64_t retries, int max_retries) {
  if (!stalled && code == absl::StatusCode::kOk) return AttemptVerdict::kDone;
  if (!stalled && !IsRetryable(code)) return AttemptVerdict::kFail;
  // A busy worker's refusal is no failure of the task: it waits however long that takes.
  if (!stalled && ClassifyError(code) == ErrorClass::kBusy) return AttemptVerdict::kWait;
  return retries >= max_retries ? AttemptVerdict::kFail : AttemptVerdict::kRetry;
}

std::chrono::milliseconds RetryBackoff(std::chrono::milliseconds first, int64_t retries,
                                       bool busy) {
  if (busy) return first;
  const int64_t shift = std::clamp<int64_t>(retries, 0, 16);
  return std::chrono::milliseconds(std::min<int64_t>(30000, first.count() << shift));
}

std::chrono::milliseconds TargetRest(const std::string& address, int failures_in_a_row, bool busy) {
  if (address.rfind("dns:", 0) == 0) return std::chrono::milliseconds(0);
  const int shift = std::clamp(failures_in_a_row - 1, 0, busy ? 3 : 5);
  return std::chrono::seconds(1 << shift);
}

}  // namespace framepair
