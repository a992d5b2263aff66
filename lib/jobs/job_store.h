// The coordinator's durable record of jobs, their tasks and their event streams, kept in one
// SQLite file.
//
// Durability: every method that changes something returns OK only after the COMMIT of the
// transaction holding its change (WAL journal, synchronous=FULL: the WAL is fsynced on every
// commit), so an acknowledged change survives a crash of the process or the machine, and a
// change that returned an error (or was interrupted) left nothing behind.
//
// Group commit: the changes that callers ask for while a commit is in progress are applied
// together in the next transaction, each in its own SAVEPOINT (one that fails is rolled back
// alone and answered with its error; the others are not affected), and answered after that one
// COMMIT. Each change sees the ones applied before it, so the result is the same as running them
// one by one in queue order; only the fsyncs are shared. Nothing waits for a batch to fill: a
// change arriving at an idle store is committed at once.
//
// A restarted coordinator reopens the file and calls RequeueRunningTasks() to take back the
// tasks that were running on its watch.
//
// Thread-safety: a JobStore may be shared by any number of threads. It owns two SQLite
// connections: writes go through the group commit on one, reads use the other (WAL readers see
// the last commit and never wait for a writer's fsync). Several processes may open the same
// file: SQLite's locks serialize their writes, and a call waits up to busy_timeout_ms for another
// process's lock before failing with UNAVAILABLE.
//
// Fencing: a task's `attempt` counts its StartAttempt calls. A worker reports the attempt number
// it was started with, and CompleteAttempt / RetryAttempt / FailAttempt act only while the task
// is RUNNING that very attempt. The late answer of an attempt that was retried, requeued after a
// restart or cancelled is refused with FAILED_PRECONDITION and changes nothing, so two workers
// can never both decide a task.
//
// Errors: NOT_FOUND names the missing job or task; INVALID_ARGUMENT for malformed input;
// FAILED_PRECONDITION for a transition the current state forbids; UNAVAILABLE when the file
// stays locked by another process; other SQLite failures name the file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;

namespace framepair {

struct StatementCache;

// SUCCEEDED, FAILED and CANCELLED are terminal: a job never leaves them.
enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
// DONE, FAILED and CANCELLED are final for a task; RUNNING goes back to PENDING only through
// RetryAttempt or RequeueRunningTasks.
enum class TaskState { kPending, kRunning, kDone, kFailed, kCancelled };

// Upper-case names ("QUEUED", "DONE"), also the spelling stored in the file.
std::string_view JobStateName(JobState state);
std::string_view TaskStateName(TaskState state);
bool IsTerminal(JobState state);

struct JobRecord {
  std::string id;          // assigned by CreateJob: "j" + 12 random lowercase hex digits
  std::string request_id;  // client idempotency key; "" = none
  std::string dataset;
  std::string spec;  // opaque bytes (a serialized proto), stored as a BLOB
  JobState state = JobState::kQueued;
  std::string error;   // why FAILED / CANCELLED
  std::string result;  // opaque bytes
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;  // last SetJobState
  std::string owner;  // identity that submitted it (services/common/token_auth.h); "" = none

  bool operator==(const JobRecord&) const = default;
};

struct TaskRecord {
  std::string job_id;
  std::string name;  // unique within a job: "ingest-lr", "align", "pack-00003"
  std::string kind;  // "ingest", "align", "scene", "pack"
  // Tasks of the same job that must be DONE before this one is ready, in the given order.
  std::vector<std::string> deps;
  TaskState state = TaskState::kPending;
  int64_t attempt = 0;             // fencing token: +1 per StartAttempt; 0 = never started
  int64_t retries = 0;             // retryable failures so far (RetryAttempt calls)
  int64_t not_before_unix_ms = 0;  // backoff: not ready before this time
  std::string worker;              // address of the current / last attempt
  int64_t started_unix_ms = 0;     // start of the current / last attempt
  std::string input;               // opaque bytes
  std::string result;              // opaque bytes, set by CompleteAttempt
  std::string error;               // last error message

  bool operator==(const TaskRecord&) const = default;
};

struct EventRecord {
  int64_t seq = 0;  // per job, 1, 2, 3, ... without gaps
  int64_t unix_ms = 0;
  std::string payload;  // opaque bytes

  bool operator==(const EventRecord&) const = default;
};

// An event stored in the transaction of a transition (StartAttempt, CompleteAttempt), so the
// file holds both or neither: a crash or a refused transition can never leave a task DONE
// without its "done" event, or the event without the transition.
struct TransitionEvent {
  std::string_view payload;  // opaque bytes, as for AppendEvent
  int64_t unix_ms = 0;
  int64_t seq = 0;  // out: the event's seq once stored (as AppendEvent assigns it); 0 = not stored
};

struct ListJobsQuery {
  std::string dataset;               // "" = every dataset
  std::optional<JobState> state;     // nullopt = every state
  std::optional<std::string> owner;  // nullopt = every owner's jobs
  int limit = 100;                   // page size, 1..kMaxListJobsLimit (larger is clamped)
  std::string page_token;            // opaque, from JobPage::next_page_token; "" = first page
  // When > 0, the page ends before the job that would take the size of its jobs' variable
  // fields (spec, error, result, ids) above this many bytes; a page always has at least one.
  int64_t max_bytes = 0;
};

struct JobPage {
  std::vector<JobRecord> jobs;  // newest first
  std::string next_page_token;  // "" = this was the last page
};

struct CreateJobResult {
  JobRecord job;
  bool created = false;  // false: the request_id was already used and `job` is that job
};

// Counters of the group commit since Open (a metric: writes / commits is the batch size).
struct JobStoreStats {
  int64_t writes = 0;   // changes applied (successful or not)
  int64_t commits = 0;  // write transactions committed
  int64_t queued = 0;   // changes waiting for a commit right now
};

struct JobStoreOptions {
  // How long a call waits for another process's lock on the file before failing with
  // UNAVAILABLE. Default 5000 ms; 0 fails at once.
  int busy_timeout_ms = 5000;
  // Source of JobRecord::created_unix_ms / updated_unix_ms, in Unix milliseconds.
  // Default (empty): the system clock. Tests pin it. Called inside the write transaction
  // (CreateJob, SetJobState). Every other time is passed in by the caller.
  std::function<int64_t()> clock;
  // Most changes in one transaction (a bound on the latency one commit adds to the first).
  int max_batch = 512;
};

class JobStore {
 public:
  static constexpr int kMaxListJobsLimit = 1000;
  // CreateJob refuses a job of more tasks (the coordinator's own limits stay well below).
  static constexpr int kMaxTasksPerJob = 100000;

  // Opens (creating if needed) the store at `path`, which must be a file in an existing,
  // writable directory (SQLite adds "<path>-wal" and "<path>-shm" beside it). Sets WAL,
  // synchronous=FULL, foreign keys and the busy timeout, and migrates the schema (versioned by
  // PRAGMA user_version) in order. A file that is not a SQLite database, is another program's
  // database, or was written by a newer schema is refused with FAILED_PRECONDITION before
  // anything in it is changed; a missing directory is NOT_FOUND.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path,
                                                        JobStoreOptions options = {});
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  const std::string& path() const { return path_; }

  // Inserts a QUEUED job and its PENDING tasks in one transaction. From `job` only request_id,
  // dataset, spec and owner are used (id and times are assigned); from each task only name, kind,
  // deps, input and not_before_unix_ms (job_id is set, the rest starts at zero).
  // Idempotency: when job.request_id is not empty and already names a job with the same dataset,
  // spec and owner, nothing is inserted and that job is returned with created=false; with a
  // different dataset, spec or owner the call fails with ALREADY_EXISTS. INVALID_ARGUMENT when a
  // task name is empty or repeated, a kind is empty, or deps name a task outside the job, repeat,
  // or form a cycle (such a task could never become ready), or there are more than kMaxTasksPerJob.
  absl::StatusOr<CreateJobResult> CreateJob(JobRecord job, std::vector<TaskRecord> tasks);

  absl::StatusOr<JobRecord> GetJob(std::string_view job_id);
  // The job a request_id created; NOT_FOUND when none (or request_id is empty).
  absl::StatusOr<JobRecord> GetJobByRequestId(std::string_view request_id);
  // Newest first, filtered by dataset and state.
  absl::StatusOr<JobPage> ListJobs(const ListJobsQuery& query);
  // QUEUED and RUNNING jobs, oldest first (the coordinator resumes them after a restart).
  absl::StatusOr<std::vector<JobRecord>> UnfinishedJobs();

  // Moves a job to `state`, storing error and result. FAILED_PRECONDITION when the job is
  // already terminal, so of a cancel racing a success whichever committed first wins. Entering a
  // terminal state cancels the job's non-terminal tasks in the same transaction (as CancelTasks),
  // so no task of a finished job stays runnable and late worker answers are fenced out.
  absl::Status SetJobState(std::string_view job_id, JobState state, std::string_view error = "",
                           std::string_view result = "");

  // The job's tasks, ordered by name. NOT_FOUND for an unknown job.
  absl::StatusOr<std::vector<TaskRecord>> GetTasks(std::string_view job_id);
  // One task; NOT_FOUND for an unknown job or task. Cost independent of the job's size.
  absl::StatusOr<TaskRecord> GetTask(std::string_view job_id, std::string_view name);
  // The results of those of `names` that are DONE (others are absent). NOT_FOUND for an
  // unknown job. Cost independent of the job's size.
  absl::StatusOr<std::map<std::string, std::string>> TaskResults(
      std::string_view job_id, const std::vector<std::string>& names);
  // Whether every task of the job is DONE, in a few index probes. NOT_FOUND for an unknown job.
  absl::StatusOr<bool> AllTasksDone(std::string_view job_id);
  // Up to `limit` (> 0) tasks that may start now: PENDING, every dep DONE,
  // not_before_unix_ms <= now_unix_ms, job QUEUED or RUNNING, and of `kind` unless it is "".
  // Ordered by job creation (oldest first), then task name. Cost: that of the tasks returned
  // (one index walk), whatever the number of jobs queued or of tasks in them.
  absl::StatusOr<std::vector<TaskRecord>> ReadyTasks(int64_t now_unix_ms, int limit,
                                                     std::string_view kind = "");

  // The scheduler's round in one query: for each (kind, limit) of `limits` (limit > 0), up to
  // `limit` ready tasks of that kind, as ReadyTasks(now_unix_ms, limit, kind) lists them, kinds in
  // the order given. Records carry what dispatching needs: every field but deps, input and result
  // (left empty: read them for the tasks actually started). Same cost per task returned.
  absl::StatusOr<std::vector<TaskRecord>> ReadyTasksOfKinds(
      int64_t now_unix_ms, const std::vector<std::pair<std::string, int>>& limits);

  // PENDING -> RUNNING: attempt += 1, worker and started_unix_ms set; returns the new attempt,
  // which the worker must quote back. FAILED_PRECONDITION unless the task is PENDING, its deps
  // are DONE and its job is QUEUED or RUNNING; of concurrent callers exactly one wins. The
  // backoff (not_before_unix_ms) is the caller's scheduling policy and is not checked here.
  // With `job_started`, a QUEUED job becomes RUNNING in the same transaction and
  // *job_started says whether this call did it (of concurrent starts, one does); then
  // `job_started_event`, when given, is appended to the job's events in that transaction too.
  absl::StatusOr<int64_t> StartAttempt(std::string_view job_id, std::string_view name,
                                       std::string_view worker, int64_t now_unix_ms,
                                       bool* job_started = nullptr,
                                       TransitionEvent* job_started_event = nullptr);
  // Fenced transitions: they act only while the task is RUNNING `attempt`; otherwise
  // FAILED_PRECONDITION ("stale attempt N of <job>/<task>, current is M") and nothing changes.
  // RUNNING -> DONE with `result`; `done_event`, when given, is appended to the job's events in
  // the same transaction (a fenced-out call stores neither).
  absl::Status CompleteAttempt(std::string_view job_id, std::string_view name, int64_t attempt,
                               std::string_view result, TransitionEvent* done_event = nullptr);
  // RUNNING -> PENDING: retries += 1 (unless !count_retry: a busy worker's refusal is not a
  // failure of the task), ready again at not_before_unix_ms; `error` kept as the last error.
  absl::Status RetryAttempt(std::string_view job_id, std::string_view name, int64_t attempt,
                            int64_t not_before_unix_ms, std::string_view error,
                            bool count_retry = true);
  // RUNNING -> FAILED with `error`. The job's state is the caller's decision.
  absl::Status FailAttempt(std::string_view job_id, std::string_view name, int64_t attempt,
                           std::string_view error);

  // The worker that actually runs `attempt` (StartAttempt recorded the target, which may be a
  // dns:/// name standing for many pods). Fenced like the transitions above.
  absl::Status SetAttemptWorker(std::string_view job_id, std::string_view name, int64_t attempt,
                                std::string_view worker);

  // Every PENDING or RUNNING task of the job -> CANCELLED; DONE and FAILED tasks keep their
  // outcome. Returns how many were cancelled.
  absl::StatusOr<int> CancelTasks(std::string_view job_id);
  // For a coordinator restart: every RUNNING task of a QUEUED or RUNNING job -> PENDING, with
  // its attempt kept, so the next StartAttempt fences out a late answer of the lost one.
  // Returns how many were requeued.
  absl::StatusOr<int> RequeueRunningTasks();

  // Appends an event to the job's stream and returns its seq: 1 for the first, then +1,
  // assigned in the insert's transaction so seqs have no gaps or duplicates, also across
  // processes and restarts. NOT_FOUND for an unknown job; terminal jobs accept events.
  absl::StatusOr<int64_t> AppendEvent(std::string_view job_id, std::string_view payload,
                                      int64_t unix_ms);
  // Up to `limit` (> 0) events with seq > after_seq, in seq order.
  absl::StatusOr<std::vector<EventRecord>> EventsAfter(std::string_view job_id, int64_t after_seq,
                                                       int limit);
  // The seq of the job's last event; 0 when it has none.
  absl::StatusOr<int64_t> LastEventSeq(std::string_view job_id);

  // Deletes a terminal job with its tasks and events. NOT_FOUND for an unknown job,
  // FAILED_PRECONDITION for a QUEUED or RUNNING one (cancel it first).
  absl::Status DeleteJob(std::string_view job_id);
  // Up to `limit` (> 0) ids of terminal jobs last changed before `before_unix_ms`, oldest first
  // (the retention sweep deletes them).
  absl::StatusOr<std::vector<std::string>> FinishedJobsBefore(int64_t before_unix_ms, int limit);
  // The spec of every job (the footage garbage collector keeps what they name).
  absl::StatusOr<std::vector<std::string>> AllSpecs();

  JobStoreStats Stats();

  // Gauges: the number of tasks in `state` by kind, counting only tasks of QUEUED or RUNNING
  // jobs (PENDING = queue depth, RUNNING = in flight). Kinds with no such task are absent.
  absl::StatusOr<std::map<std::string, int64_t>> CountTasks(TaskState state);

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };

  struct PendingWrite;

  JobStore(std::string path, JobStoreOptions options, std::unique_ptr<sqlite3, DbCloser> db,
           std::unique_ptr<sqlite3, DbCloser> read_db);
  int64_t NowUnixMs() const;
  // Applies `op` (which changes the file through the write connection it is given, without
  // BEGIN/COMMIT) in a group commit and returns its status once the commit is durable: OK only
  // when both `op` and the COMMIT succeeded.
  absl::Status Write(absl::FunctionRef<absl::Status(sqlite3* db)> op);
  // The leader's part: one transaction for `batch`, each write's status filled in.
  void CommitBatch(const std::vector<PendingWrite*>& batch);

  const std::string path_;
  const JobStoreOptions options_;
  // The queue of the group commit. A caller enqueues its change and waits; when no commit is in
  // progress, the first waiter whose change is still queued becomes the leader and commits
  // everything queued (its own change included) in one transaction.
  absl::Mutex queue_mu_;
  std::vector<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;
  JobStoreStats stats_ ABSL_GUARDED_BY(queue_mu_);
  absl::Mutex mu_;  // the write connection (only the leader uses it)
  const std::unique_ptr<sqlite3, DbCloser> db_ ABSL_GUARDED_BY(mu_);
  absl::Mutex read_mu_;
  const std::unique_ptr<sqlite3, DbCloser> read_db_ ABSL_GUARDED_BY(read_mu_);
  // Each connection's compiled statements (used under mu_ / read_mu_: SQLite compiles a
  // statement once per connection, not once per call). Declared last: finalized before the
  // connections close.
  const std::unique_ptr<StatementCache> write_cache_;
  const std::unique_ptr<StatementCache> read_cache_;
};

}  // namespace framepair
