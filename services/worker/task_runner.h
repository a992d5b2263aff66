// The runtime every worker service shares: heavy work runs on a Boost.Asio pool (never on a
// gRPC thread), progress and the result stream back over a server-streaming call, and
// cancellation (client cancel, deadline, drain) reaches the work through one flag.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "framepair/v1/workers.pb.h"

namespace framepair {

// Handed to a task while it runs, on a pool thread. Thread-safe.
class TaskContext {
 public:
  // Reports progress (throttled before it reaches the network). Also enforces the call's
  // deadline: past it, cancel() becomes true.
  virtual void Progress(int64_t done, int64_t total) = 0;
  // Set when the client cancelled, the deadline passed or the server stopped (its drain grace
  // ran out). Long loops pass it to the libraries, which return CANCELLED.
  virtual const std::atomic<bool>* cancel() const = 0;
  // The call's deadline (the coordinator's per-attempt --task-deadline-ms): libraries that
  // block in reads (FFmpeg's interrupt callback, DecoderOptions::deadline) stop there.
  virtual std::chrono::steady_clock::time_point deadline() const = 0;
  // Reserves `bytes` of the worker's --memory-budget for this task until it returns; call it
  // once, before the task allocates its frames (pipeline/memory_model.h estimates them).
  // `need` says what the bytes are for ("3840x2160 yuv420p frames, --window 10").
  // RESOURCE_EXHAUSTED when running tasks hold too much of the budget (the coordinator places
  // the task elsewhere, as for --max-tasks); INVALID_ARGUMENT when the task does not fit even
  // in an idle worker. OK at once without a budget.
  virtual absl::Status ReserveMemory(int64_t bytes, std::string_view need) = 0;

 protected:
  ~TaskContext() = default;
};

class TaskReactor;

using TaskFn = std::function<absl::StatusOr<framepair::v1::TaskResult>(TaskContext&)>;

struct WorkerOptions {
  // Tasks run at once; more are refused with RESOURCE_EXHAUSTED so the coordinator places
  // them elsewhere instead of queueing behind this worker. Default: 2.
  int max_tasks = 2;
  // Memory the process may use (--memory-budget), in bytes; 0 = no limit. `base_memory` of it
  // is the idle process's; tasks reserve from the rest (TaskContext::ReserveMemory).
  int64_t memory_budget = 0;
  int64_t base_memory = 0;
  // Minimum interval between progress messages of one call. Default: 200 ms.
  std::chrono::milliseconds progress_interval{200};
  // A call that made no progress for this long repeats its last progress message, so the
  // coordinator can tell a long step (align, a big window) from a dead or stopped worker.
  // Must stay well below the coordinator's --stall-timeout-ms. Default: 1 s.
  std::chrono::milliseconds heartbeat_interval{1000};
  // Applied to the message of every error a task returns before it goes to the coordinator
  // (and from there to clients): the worker's main sets StorageRoot::Redact, so no error
  // reveals where the storage root is mounted. Null (default) = unchanged.
  std::function<std::string(std::string_view)> redact;
};

// Owns the pool and the admission count. Thread-safe.
class TaskRunner {
 public:
  explicit TaskRunner(const WorkerOptions& options);
  ~TaskRunner();  // waits for running tasks

  // Starts `fn` for one call and returns the reactor gRPC drives. `what` names the task in
  // logs ("ingest j1a2b3/ingest-lr attempt 2").
  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Start(grpc::CallbackServerContext* context,
                                                             std::string what, TaskFn fn);
  // Server drain (SIGTERM): refuses new tasks (UNAVAILABLE, so the coordinator places them
  // elsewhere) and lets running ones finish; the server's drain grace bounds how long they
  // may take (past it gRPC cancels their calls, which cancels the work).
  void StopAccepting();
  // Cancels every running task and refuses new ones.
  void CancelAll();
  int running() const { return running_.load(); }
  // Bytes running tasks have reserved (TaskContext::ReserveMemory).
  int64_t reserved_memory() const;

 private:
  friend class TaskReactor;
  void HeartbeatLoop();
  absl::Status Reserve(int64_t bytes, std::string_view need);
  void Release(int64_t bytes);

  WorkerOptions options_;
  boost::asio::thread_pool pool_;
  std::atomic<int> running_{0};
  std::atomic<bool> draining_{false};
  mutable std::mutex memory_mu_;
  int64_t reserved_memory_ = 0;
  std::mutex active_mu_;  // before any reactor's own mutex
  std::set<TaskReactor*> active_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

}  // namespace framepair
