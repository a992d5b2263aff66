// Wakes the WatchJob streams of a job when the scheduler stores a new event for it. Events
// themselves live in the JobStore (durable, resumable by seq); the hub only says "event `seq`
// is stored": a listener reads the store later, on its own executor, never inside Notify.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace framepair {

class EventListener {
 public:
  // Event `seq` of the job is stored. Called with the hub's lock held: must not block, call
  // back into the hub or read the store; record the seq and schedule the read elsewhere.
  virtual void OnJobEvent(int64_t seq) = 0;

 protected:
  ~EventListener() = default;
};

// Thread-safe. Unsubscribe() returns only when no call to that listener is in progress, so a
// listener may be destroyed right after it.
class EventHub {
 public:
  void Subscribe(const std::string& job_id, EventListener* listener);
  void Unsubscribe(const std::string& job_id, EventListener* listener);
  void Notify(const std::string& job_id, int64_t seq);

 private:
  // Held while listeners are called: they only record a number, so one plain mutex suffices
  // (no recursion: listeners never call back into the hub).
  std::mutex mu_;
  std::multimap<std::string, EventListener*> listeners_;
};

}  // namespace framepair
