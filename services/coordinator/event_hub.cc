#include "services/coordinator/event_hub.h"

namespace framepair {

void EventHub::Subscribe(const std::string& job_id, EventListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.emplace(job_id, listener);
}

void EventHub::Unsubscribe(const std::string& job_id, EventListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = listeners_.equal_range(job_id);
  for (auto it = begin; it != end; ++it) {
    if (it->second == listener) {
      listeners_.erase(it);
      return;
    }
  }
}

void EventHub::Notify(const std::string& job_id, int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = listeners_.equal_range(job_id);
  for (auto it = begin; it != end; ++it) it->second->OnJobEvent(seq);
}

}  // namespace framepair
