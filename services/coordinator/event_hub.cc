#include "services/coordinator/event_hub.h"

#include <vector>

namespace framepair {

void EventHub::Subscribe(const std::string& job_id, EventListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.emplace(job_id, listener);
}

void EventHub::Unsubscribe(const std::string& job_id, EventListener* listener) {
  std::lock_guard<std::recursive_mutex> notifying(notify_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = listeners_.equal_range(job_id);
  for (auto it = begin; it != end; ++it) {
    if (it->second == listener) {
      listeners_.erase(it);
      return;
    }
  }
}

void EventHub::Notify(const std::string& job_id) {
  std::lock_guard<std::recursive_mutex> notifying(notify_mu_);
  std::vector<EventListener*> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [begin, end] = listeners_.equal_range(job_id);
    for (auto it = begin; it != end; ++it) targets.push_back(it->second);
  }
  for (EventListener* l : targets) l->OnJobEvent();
}

}  // namespace framepair
