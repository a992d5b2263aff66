// Runs jobs: turns ready tasks of the JobStore into calls on worker services, follows their
// progress, and records every outcome durably before acting on it.
//
// Per task: the worker is chosen among the targets of its kind (address lists, or dns:///
// names balanced round_robin by gRPC) with a free slot (per-target concurrency limit),
// avoiding the target that failed the last attempt when another is free. Each attempt gets its
// own output directory work/<job>/<task>.a<attempt>, a deadline, and the fencing token
// `attempt`; the JobStore refuses a result from any attempt but the current one.
//
// Outcomes (Decide, scheduling.h, over the one error classifier of grpc_status.h): bad input
// (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS, DATA_LOSS),
// a refused identity (UNAUTHENTICATED, PERMISSION_DENIED) and UNIMPLEMENTED fail the job with
// the worker's message. Everything else (UNAVAILABLE, a dead worker, DEADLINE_EXCEEDED, a
// worker that stopped reporting progress for stall_timeout, ...) is retried with exponential
// backoff, up to max_retries. A busy worker's RESOURCE_EXHAUSTED is no failure: the task waits
// (using no retry, storing no event) and the worker rests.
//
// Threads: one loop thread dispatches (reads ready tasks, picks targets); each attempt is started
// on the scheduler's own executor and is then a gRPC callback reactor, and whatever its callbacks
// must store runs on that executor too (one strand per attempt, so its events keep their order).
// The store calls of concurrent attempts share commits (the JobStore's group commit). Stop()
// cancels every attempt and returns only when all have ended and the executor is idle.
//
// Per dispatched task the store is asked only for that task, its job and the four upstream
// results (indexed), so dispatching costs the same in a job of 10 or 4 000 tasks. The janitor
// (RunJanitor) enforces retention and sweeps abandoned uploads.
//
// When every task of a job is done, the job is published (publisher.h) and SUCCEEDED. Work
// directories of finished jobs are removed, and swept again periodically for late writers.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "framepair/v1/job.pb.h"
#include "framepair/v1/workers.grpc.pb.h"
#include "jobplan/job_plan.h"
#include "jobs/job_store.h"
#include "services/common/channel.h"
#include "services/coordinator/event_hub.h"
#include "storage/storage.h"

namespace framepair {

struct WorkerKindOptions {
  std::vector<std::string> targets;  // host:port or dns:///name:port
  int concurrency = 2;               // calls in flight per target
};

struct SchedulerOptions {
  WorkerKindOptions ingest, align, scene, packer;
  int max_retries = 5;                               // retryable failures before the job fails
  std::chrono::milliseconds retry_backoff{500};      // first backoff; doubles, capped at 30 s
  std::chrono::milliseconds stall_timeout{60000};    // no progress for this long = dead worker
  std::chrono::milliseconds task_deadline{7200000};  // per attempt
  std::chrono::milliseconds poll_interval{100};      // scheduling loop period
  ChannelOptions worker_channel;                     // TLS and token for worker calls
  // Finished jobs (their tasks, events and work files) are deleted this long after they
  // ended, and footage no job names once it is this old; 0 = keep everything.
  std::chrono::milliseconds retain{std::chrono::hours(24 * 30)};
  // An upload whose file saw no chunk for this long is abandoned (see CleanAbandonedUploads).
  std::chrono::seconds abandoned_upload_age{std::chrono::hours(6)};
  std::chrono::milliseconds janitor_interval{std::chrono::minutes(10)};  // and once at start
  // Threads that start attempts in the store, store their outcomes and events and publish
  // finished jobs. Mostly waiting for the store's group commit, so many: the writes of all of
  // them share one commit.
  int executor_threads = 32;
};

// What one RunJanitor() removed.
struct JanitorReport {
  int uploads = 0;  // abandoned .part files
  int jobs = 0;     // expired finished jobs
  int footage = 0;  // unreferenced footage files
};

class Scheduler {
 public:
  // INVALID_ARGUMENT when a kind has no targets; errors of the TLS files.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(JobStore* store, StorageRoot storage,
                                                           SchedulerOptions options, EventHub* hub);
  ~Scheduler();

  // Requeues the tasks a previous coordinator left RUNNING and starts the loop.
  absl::Status Start();
  // Stops dispatching, cancels calls in flight and waits for them.
  void Stop();
  void Wake();

  // Cancels the job's calls in flight (the store already says CANCELLED).
  void CancelJob(const std::string& job_id);
  // Stores an event for the job and wakes its watchers.
  void RecordEvent(const std::string& job_id, framepair::v1::JobEvent event);

  // Live progress of the job's running attempts: task name -> (done, total).
  std::map<std::string, std::pair<int64_t, int64_t>> Progress(const std::string& job_id);

  // Removes abandoned uploads, finished jobs older than `retain` (rows and work files) and
  // footage no job names that is older than `retain`. The loop runs it at start and every
  // janitor_interval; callable directly (tests).
  JanitorReport RunJanitor();

  // Runs `fn` while no job is being published: what else changes a dataset (removing a job's
  // pairs) must not interleave with a publication.
  template <typename Fn>
  auto WhilePublishingPaused(Fn fn) {
    std::lock_guard<std::mutex> publishing(publish_mu_);
    return fn();
  }

 private:
  struct Target;
  struct Attempt;
  Scheduler(JobStore* store, StorageRoot storage, SchedulerOptions options, EventHub* hub);

  void Loop();
  void Dispatch();
  void CheckStalls();
  void SweepWorkDirs();
  // Removes the work files of the attempts of a running job that are no task's current one.
  void SweepDeadAttempts(const std::string& job_id);
  int CollectFootage(std::chrono::milliseconds min_age);
  void UpdateGauges();
  bool HasRunningAttempts(const std::string& job_id);
  // On the attempt's strand: the worker answered / reported progress / the call ended.
  void OnRunning(Attempt& attempt, const std::string& peer);
  void OnProgress(Attempt& attempt);
  void OnAttemptEnd(const std::shared_ptr<Attempt>& attempt, grpc::Status status);
  // On the attempt's strand: starts the attempt in the store and calls the worker.
  void Launch(const std::shared_ptr<Attempt>& attempt);
  // Frees the attempt's slot; `answered`: the worker was called and `status` is its answer.
  void EndAttempt(Attempt& attempt, bool answered, const grpc::Status& status);
  bool HasRunningAttemptsLocked(const std::string& job_id);
  void HandleOutcome(Attempt& attempt, const grpc::Status& status,
                     const framepair::v1::TaskResult* result);
  void FinishJobIfDone(const std::string& job_id);
  void FailJob(const std::string& job_id, const std::string& error);
  void TaskEvent(const std::string& job_id, const framepair::v1::TaskStatus& status);
  std::vector<Target*>& TargetsOf(const std::string& kind);

  JobStore* store_;
  StorageRoot storage_;
  SchedulerOptions options_;
  EventHub* hub_;

  std::map<std::string, std::vector<std::unique_ptr<Target>>> owned_targets_;
  std::map<std::string, std::vector<Target*>> targets_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};  // written under mu_, read anywhere
  bool wake_ = false;
  std::map<std::string, std::shared_ptr<Attempt>> running_;  // key: job/task
  std::mutex publish_mu_;  // one publication at a time (datasets are shared between jobs)
  std::thread loop_;
  std::chrono::steady_clock::time_point last_sweep_{};
  std::chrono::steady_clock::time_point last_gauges_{};
  // Runs what gRPC's callbacks hand over (store calls, result checks, publication), so gRPC's
  // threads never block. Last member: Stop() joins it.
  boost::asio::thread_pool executor_;
};

}  // namespace framepair
