// Wakes the WatchJob streams of a job when the scheduler stores a new event for it. Events
// themselves live in the JobStore (durable, resumable by seq); the hub only says "look again".
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

namespace framepair {

class EventListener {
 public:
  virtual void OnJobEvent() = 0;

 protected:
  ~EventListener() = default;
};

// Thread-safe. Listeners are called outside the hub's lock; Unsubscribe() returns only when
// no call to that listener is in progress, so a listener may be destroyed right after it.
class EventHub {
 public:
  void Subscribe(const std::string& job_id, EventListener* listener);
  void Unsubscribe(const std::string& job_id, EventListener* listener);
  void Notify(const std::string& job_id);

 private:
  std::mutex mu_;
  std::multimap<std::string, EventListener*> listeners_;
  std::recursive_mutex notify_mu_;  // held while calling listeners
};

}  // namespace framepair
