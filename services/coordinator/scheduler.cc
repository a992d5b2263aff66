#include "services/coordinator/scheduler.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <set>
#include <type_traits>
#include <variant>

#include "absl/strings/str_cat.h"
#include "jobplan/job_plan.h"
#include "services/common/grpc_status.h"
#include "services/common/metrics.h"
#include "services/coordinator/publisher.h"
#include "services/coordinator/scheduling.h"
#include "spdlog/spdlog.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using framepair::v1::JobEvent;
using framepair::v1::TaskResult;
using framepair::v1::TaskStatus;
using framepair::v1::TaskUpdate;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The request of one attempt of the stored task `name`.
absl::StatusOr<TaskRequest> BuildAttemptRequest(const std::string& job_id,
                                                const framepair::v1::JobSpec& spec,
                                                const std::string& name, int64_t attempt,
                                                const std::map<std::string, TaskResult>& deps) {
  absl::StatusOr<TaskId> id = TaskId::Parse(name);
  if (!id.ok()) return id.status();
  return BuildTaskRequest(job_id, spec, *id, attempt, deps);
}

// The stored bytes of `event`, stamped with `now_ms` (the time the store is given too).
std::string EventPayload(JobEvent event, int64_t now_ms) {
  event.set_unix_ms(now_ms);
  return event.SerializeAsString();
}

std::string CodeName(grpc::StatusCode code) {
  return std::string(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
}

// Metrics (Prometheus, --metrics-listen). Queue depth drives autoscaling (KEDA).
Gauge& PendingGauge() {
  static Gauge& g = DefaultMetricsRegistry().AddGauge(
      "framepair_tasks_pending", "Tasks ready or waiting for their inputs, by kind", {"kind"});
  return g;
}
Gauge& RunningGauge() {
  static Gauge& g = DefaultMetricsRegistry().AddGauge(
      "framepair_tasks_running", "Task attempts in flight on workers, by kind", {"kind"});
  return g;
}
// Group commit of the job store: writes / commits is the mean batch.
Gauge& StoreGauge() {
  static Gauge& g = DefaultMetricsRegistry().AddGauge(
      "framepair_store_transitions", "Job store writes and the commits that made them durable",
      {"what"});
  return g;
}
Counter& AttemptCounter() {
  static Counter& c = DefaultMetricsRegistry().AddCounter(
      "framepair_task_attempts_total",
      "Finished task attempts by kind and outcome (done, retried, busy, failed, fenced)",
      {"kind", "outcome"});
  return c;
}
Counter& JobCounter() {
  static Counter& c = DefaultMetricsRegistry().AddCounter(
      "framepair_jobs_finished_total", "Jobs that reached a terminal state", {"state"});
  return c;
}

}  // namespace

// One worker address (or dns:/// name) of one kind, with its channel and free slots.
struct Scheduler::Target {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  int capacity = 1;
  int in_flight = 0;  // guarded by Scheduler::mu_
  // A target that just failed to answer (down, unreachable, stalled) gets no new task until
  // this time; the pause doubles with each failure in a row (1 s .. 30 s). Guarded by mu_.
  std::chrono::steady_clock::time_point resting_until{};
  int failures_in_a_row = 0;
};

// One call to a worker, driven by gRPC's callback API: no thread of its own. gRPC runs
// OnReadDone / OnDone on its threads; they update atomics and hand every store call to the
// attempt's strand on the scheduler's executor, so one attempt's events are stored in order
// and gRPC's threads never wait on SQLite. running_ owns the attempt until OnAttemptEnd.
struct Scheduler::Attempt final : public grpc::ClientReadReactor<TaskUpdate> {
  Attempt(Scheduler* s, boost::asio::thread_pool& pool)
      : scheduler(s), strand(boost::asio::make_strand(pool.get_executor())) {}

  // Starts the call (the request and the stub live in the attempt, as long as the call).
  void Begin() {
    std::visit(
        [this](const auto& r) {
          using R = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<R, framepair::v1::IngestRequest>) {
            ingest = framepair::v1::Ingest::NewStub(target->channel);
            ingest->async()->Ingest(&context, &r, this);
          } else if constexpr (std::is_same_v<R, framepair::v1::AlignRequest>) {
            align = framepair::v1::Align::NewStub(target->channel);
            align->async()->Align(&context, &r, this);
          } else if constexpr (std::is_same_v<R, framepair::v1::SceneRequest>) {
            scene = framepair::v1::Scene::NewStub(target->channel);
            scene->async()->Scene(&context, &r, this);
          } else {
            pack = framepair::v1::Packer::NewStub(target->channel);
            pack->async()->Pack(&context, &r, this);
          }
        },
        request);
    StartRead(&update);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows
    const int64_t now = NowMs();
    last_progress_ms = now;
    std::shared_ptr<Attempt> me = self.lock();
    bool progressed = false;
    if (update.has_result()) {
      result = update.result();
    } else if (update.has_progress()) {
      done = update.progress().done();
      total = update.progress().total();
      progressed = true;
    }
    if (first_message) {
      // The "running" event carries the first progress: one stored event, not two.
      first_message = false;
      last_event_ms = now;
      // Behind a dns:/// name, the peer says which machine actually runs the attempt.
      boost::asio::post(strand,
                        [me, peer = context.peer()] { me->scheduler->OnRunning(*me, peer); });
    } else if (progressed && now - last_event_ms >= 1000) {
      // Progress goes to watchers at most once a second (each event is an fsynced row).
      last_event_ms = now;
      boost::asio::post(strand, [me] { me->scheduler->OnProgress(*me); });
    }
    StartRead(&update);
  }

  // An event about this attempt in `state` (UNSPECIFIED: set later).
  TaskStatus Status(framepair::v1::TaskState state) const {
    TaskStatus status;
    status.set_name(task);
    status.set_kind(kind);
    if (state != framepair::v1::TASK_STATE_UNSPECIFIED) SetTaskState(&status, state);
    status.set_attempt(attempt);
    status.set_worker(worker);
    return status;
  }

  void OnDone(const grpc::Status& status) override {
    boost::asio::post(strand,
                      [me = self.lock(), status] { me->scheduler->OnAttemptEnd(me, status); });
  }

  Scheduler* const scheduler;
  boost::asio::strand<boost::asio::thread_pool::executor_type> strand;
  std::weak_ptr<Attempt> self;
  std::string job_id;
  std::string task;
  std::string kind;
  int64_t attempt = 0;
  Target* target = nullptr;
  std::string worker;  // the target's address, or (dns:///) the peer that answered (strand)
  framepair::v1::RunParameters params;
  TaskRequest request;
  std::unique_ptr<framepair::v1::Ingest::Stub> ingest;
  std::unique_ptr<framepair::v1::Align::Stub> align;
  std::unique_ptr<framepair::v1::Scene::Stub> scene;
  std::unique_ptr<framepair::v1::Packer::Stub> pack;
  grpc::ClientContext context;
  TaskUpdate update;                 // gRPC's reads only (one at a time)
  std::optional<TaskResult> result;  // written by reads, read by OnAttemptEnd (after OnDone)
  bool first_message = true;         // reads only
  int64_t last_event_ms = 0;         // reads only
  std::atomic<int64_t> last_progress_ms{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> total{0};
  std::atomic<bool> stalled{false};
  std::atomic<bool> job_cancelled{false};
  int64_t retries = 0;            // of the task when this attempt started
  bool reported_running = false;  // the strand stored the "running" event (the worker answered)
};

Scheduler::Scheduler(JobStore* store, StorageRoot storage, SchedulerOptions options, EventHub* hub)
    : store_(store),
      storage_(std::move(storage)),
      options_(std::move(options)),
      hub_(hub),
      executor_(static_cast<size_t>(std::max(1, options_.executor_threads))) {}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(JobStore* store, StorageRoot storage,
                                                             SchedulerOptions options,
                                                             EventHub* hub) {
  std::unique_ptr<Scheduler> s(new Scheduler(store, std::move(storage), std::move(options), hub));
  for (auto [kind, k] :
       {std::pair{"ingest", &s->options_.ingest}, std::pair{"align", &s->options_.align},
        std::pair{"scene", &s->options_.scene}, std::pair{"pack", &s->options_.packer}}) {
    if (k->targets.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no ", kind == std::string("pack") ? "packer" : kind,
                       " workers: give their addresses (host:port,... or dns:///name:port)"));
    }
    for (const std::string& address : k->targets) {
      auto target = std::make_unique<Target>();
      target->address = address;
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
          MakeChannel(address, s->options_.worker_channel);
      if (!channel.ok()) return channel.status();
      target->channel = *std::move(channel);
      target->capacity = std::max(1, k->concurrency);
      s->targets_[kind].push_back(target.get());
      s->owned_targets_[kind].push_back(std::move(target));
    }
  }
  return s;
}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  absl::StatusOr<int> requeued = store_->RequeueRunningTasks();
  if (!requeued.ok()) return requeued.status();
  if (*requeued > 0) spdlog::info("resuming: {} task(s) of unfinished jobs requeued", *requeued);
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  {
    // No new attempt starts once the loop has ended: cancel every attempt in flight and wait
    // until each has ended (its OnAttemptEnd ran)...
    std::unique_lock<std::mutex> lock(mu_);
    for (auto& [key, attempt] : running_) attempt->context.TryCancel();
    cv_.wait(lock, [this] { return running_.empty(); });
  }
  executor_.join();  // ...and every other task on the executor has finished.
}

void Scheduler::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Scheduler::Loop() {
  // Jobs whose tasks all finished before a crash still need publishing.
  if (auto jobs = store_->UnfinishedJobs(); jobs.ok()) {
    for (const JobRecord& job : *jobs) FinishJobIfDone(job.id);
  }
  RunJanitor();  // at start: what a crashed coordinator left behind
  SweepWorkDirs();
  auto last_janitor = std::chrono::steady_clock::now();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
    }
    CheckStalls();
    Dispatch();
    if (std::chrono::steady_clock::now() - last_gauges_ > std::chrono::seconds(1)) {
      last_gauges_ = std::chrono::steady_clock::now();
      UpdateGauges();
    }
    if (std::chrono::steady_clock::now() - last_sweep_ > std::chrono::seconds(30)) {
      last_sweep_ = std::chrono::steady_clock::now();
      SweepWorkDirs();
    }
    if (std::chrono::steady_clock::now() - last_janitor > options_.janitor_interval) {
      last_janitor = std::chrono::steady_clock::now();
      RunJanitor();
    }
  }
}

std::vector<Scheduler::Target*>& Scheduler::TargetsOf(const std::string& kind) {
  return targets_[kind];
}

void Scheduler::Dispatch() {
  // One query for every kind with a free slot. An attempt dispatched in an earlier round may
  // still be PENDING in the store (its StartAttempt waits on the executor): such tasks come
  // first in the list and are skipped, so each kind's limit reaches past its attempts in flight.
  std::vector<std::pair<std::string, int>> limits;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const char* kind : {"ingest", "align", "scene", "pack"}) {
      int free = 0;
      int in_flight = 0;
      for (const Target* t : TargetsOf(kind)) {
        free += std::max(0, t->capacity - t->in_flight);
        in_flight += t->in_flight;
      }
      if (free > 0) limits.emplace_back(kind, free + in_flight);
    }
  }
  if (limits.empty()) return;
  absl::StatusOr<std::vector<TaskRecord>> ready = store_->ReadyTasksOfKinds(NowMs(), limits);
  if (!ready.ok()) {
    spdlog::error("reading ready tasks: {}", ready.status().ToString());
    return;
  }
  std::set<std::string> full;  // kinds without a free target left this round
  for (const TaskRecord& task : *ready) {
    if (full.contains(task.kind)) continue;
    std::vector<Target*>& targets = TargetsOf(task.kind);
    const std::string key = task.job_id + "/" + task.name;
    std::shared_ptr<Attempt> attempt;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (running_.count(key)) continue;
      const auto now = std::chrono::steady_clock::now();
      std::vector<TargetLoad> loads;
      loads.reserve(targets.size());
      for (const Target* t : targets) {
        loads.push_back(TargetLoad{t->address, t->in_flight, t->capacity, t->resting_until > now});
      }
      const int chosen = ChooseTarget(loads, task.retries, task.worker);
      if (chosen < 0) {
        full.insert(task.kind);
        continue;
      }
      attempt = std::make_shared<Attempt>(this, executor_);
      attempt->self = attempt;
      attempt->job_id = task.job_id;
      attempt->task = task.name;
      attempt->kind = task.kind;
      attempt->retries = task.retries;
      attempt->last_progress_ms = NowMs();
      attempt->target = targets[static_cast<size_t>(chosen)];
      attempt->worker = attempt->target->address;
      attempt->target->in_flight++;
      running_[key] = attempt;
    }
    // The store calls of the start run on the executor, so the starts of this round share
    // one commit of the store instead of taking one fsync each on this thread.
    boost::asio::post(attempt->strand, [this, attempt] { Launch(attempt); });
  }
}

void Scheduler::Launch(const std::shared_ptr<Attempt>& a) {
  if (stopping_ || a->job_cancelled) {
    EndAttempt(*a, /*answered=*/false, grpc::Status::CANCELLED);
    return;
  }
  // Only the job and the results this task reads (indexed lookups): the cost of a dispatch
  // does not grow with the number of tasks in the job.
  absl::StatusOr<JobRecord> job = store_->GetJob(a->job_id);
  absl::StatusOr<std::map<std::string, std::string>> results =
      store_->TaskResults(a->job_id, UpstreamTaskNames(/*hr_only=*/false));
  // The job's "running" event, stored with the start that moves the job to RUNNING (one write).
  JobEvent running;
  running.mutable_state()->set_state(framepair::v1::JOB_RUNNING);
  const int64_t now = NowMs();
  const std::string running_payload = EventPayload(running, now);
  TransitionEvent running_event{running_payload, now};
  bool job_started = false;
  absl::StatusOr<int64_t> attempt_no =
      job.ok() && results.ok()
          ? store_->StartAttempt(a->job_id, a->task, a->target->address, now, &job_started,
                                 &running_event)
          : absl::StatusOr<int64_t>(absl::UnavailableError("cannot read the job"));
  if (!attempt_no.ok()) {  // cancelled or taken meanwhile
    EndAttempt(*a, /*answered=*/false, grpc::Status::CANCELLED);
    return;
  }
  a->attempt = *attempt_no;
  if (running_event.seq > 0) hub_->Notify(a->job_id, running_event.seq);
  framepair::v1::JobSpec spec;
  spec.ParseFromString(job->spec);
  std::map<std::string, TaskResult> deps;
  for (const auto& [name, bytes] : *results) deps[name].ParseFromString(bytes);
  absl::StatusOr<TaskRequest> request =
      BuildAttemptRequest(a->job_id, spec, a->task, a->attempt, deps);
  if (!request.ok()) {
    // A stored task the plan cannot serve (a damaged row): it can never run.
    const std::string error = std::string(request.status().message());
    if (store_->FailAttempt(a->job_id, a->task, a->attempt, error).ok()) {
      FailJob(a->job_id, absl::StrCat(a->task, ": ", error));
    }
    EndAttempt(*a, /*answered=*/false, grpc::Status::CANCELLED);
    return;
  }
  a->params = spec.parameters();
  a->request = *std::move(request);
  a->context.set_deadline(std::chrono::system_clock::now() + options_.task_deadline);
  // The "running" event waits for the worker's first message (OnReadDone): a busy worker
  // refuses at once, and its refusals must not become a stream of stored events.
  spdlog::info("{}/{}: attempt {} on {}", a->job_id, a->task, a->attempt, a->target->address);
  // A Stop() or cancel since the checks above cancelled the context: the call ends at once.
  a->Begin();
}

void Scheduler::OnRunning(Attempt& a, const std::string& peer) {
  spdlog::info("{}/{}: attempt {} runs on {}", a.job_id, a.task, a.attempt, peer);
  // Behind a dns:/// name, `status` and watchers should name the pod that runs the attempt
  // ("ipv4:10.1.2.3:50051"), not the name that stands for all of them.
  if (a.target->address.rfind("dns:", 0) == 0 && !peer.empty()) {
    a.worker = peer;
    (void)store_->SetAttemptWorker(a.job_id, a.task, a.attempt, peer);
  }
  TaskStatus status = a.Status(framepair::v1::TASK_RUNNING);
  status.set_retries(a.retries);
  status.set_done(a.done);
  status.set_total(a.total);
  TaskEvent(a.job_id, status);
  a.reported_running = true;
}

void Scheduler::OnProgress(Attempt& a) {
  TaskStatus status = a.Status(framepair::v1::TASK_RUNNING);
  status.set_done(a.done);
  status.set_total(a.total);
  TaskEvent(a.job_id, status);
}

void Scheduler::OnAttemptEnd(const std::shared_ptr<Attempt>& a, grpc::Status status) {
  std::optional<TaskResult>& result = a->result;
  if (status.ok() && !result) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, "worker ended the call without a result");
  }
  if (status.ok()) {
    // A result that names files outside its attempt fails the task for good (INVALID_ARGUMENT
    // is permanent): retrying would hand the same worker the same chance.
    absl::Status checked =
        CheckTaskResult(storage_, a->job_id, a->task, a->attempt, a->params, *result);
    if (!checked.ok()) {
      spdlog::warn("{}/{}: {}", a->job_id, a->task, std::string(checked.message()));
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(checked.message()));
      result.reset();
    }
  }
  HandleOutcome(*a, status, result ? &*result : nullptr);
  EndAttempt(*a, /*answered=*/true, status);
}

void Scheduler::EndAttempt(Attempt& a, bool answered, const grpc::Status& status) {
  bool last_of_cancelled_job = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Target* t = a.target;
    const bool busy = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    if (!answered) {
      // Never called: says nothing about the target.
    } else if (status.ok()) {
      t->failures_in_a_row = 0;
    } else if (a.stalled || busy || status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      t->resting_until =
          std::chrono::steady_clock::now() + TargetRest(t->address, ++t->failures_in_a_row, busy);
    }
    t->in_flight--;
    running_.erase(a.job_id + "/" + a.task);
    last_of_cancelled_job = a.job_cancelled && !HasRunningAttemptsLocked(a.job_id);
    wake_ = true;
  }
  // The last attempt of a cancelled or failed job takes the job's work files with it.
  if (last_of_cancelled_job) (void)storage_.RemoveWorkDir(a.job_id);
  cv_.notify_all();  // the loop (a slot is free) and Stop() (running_ may be empty)
}

bool Scheduler::HasRunningAttempts(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return HasRunningAttemptsLocked(job_id);
}

bool Scheduler::HasRunningAttemptsLocked(const std::string& job_id) {
  for (auto& [key, attempt] : running_) {
    if (attempt->job_id == job_id) return true;
  }
  return false;
}

void Scheduler::HandleOutcome(Attempt& a, const grpc::Status& status, const TaskResult* result) {
  TaskStatus event = a.Status(framepair::v1::TASK_STATE_UNSPECIFIED);
  if (status.ok()) {
    // The "done" event is stored in the transaction that makes the task DONE (one write).
    SetTaskState(&event, framepair::v1::TASK_DONE);
    event.set_done(a.done);
    event.set_total(a.total);
    JobEvent done;
    *done.mutable_task() = event;
    const int64_t now = NowMs();
    const std::string done_payload = EventPayload(done, now);
    TransitionEvent done_event{done_payload, now};
    absl::Status stored = store_->CompleteAttempt(a.job_id, a.task, a.attempt,
                                                  result->SerializeAsString(), &done_event);
    if (!stored.ok()) {
      // Fenced out (retried, cancelled or requeued meanwhile): the result is not used.
      spdlog::warn("{}/{}: result of attempt {} ignored: {}", a.job_id, a.task, a.attempt,
                   stored.ToString());
      AttemptCounter().Increment({a.kind, "fenced"});
      return;
    }
    AttemptCounter().Increment({a.kind, "done"});
    Wake();  // its dependents are ready now
    hub_->Notify(a.job_id, done_event.seq);
    FinishJobIfDone(a.job_id);
    return;
  }
  if (a.job_cancelled || stopping_) return;  // the store already says why, or we resume later
  std::string error =
      a.stalled ? absl::StrCat("worker ", a.target->address, " stopped reporting progress for ",
                               options_.stall_timeout.count(), " ms")
                : absl::StrCat(CodeName(status.error_code()), " from ", a.target->address, ": ",
                               status.error_message());
  absl::StatusOr<TaskRecord> task = store_->GetTask(a.job_id, a.task);
  const int64_t retries = task.ok() ? task->retries : 0;
  const AttemptVerdict verdict = Decide(static_cast<absl::StatusCode>(status.error_code()),
                                        a.stalled, retries, options_.max_retries);
  if (verdict == AttemptVerdict::kFail) {
    AttemptCounter().Increment({a.kind, "failed"});
    if (store_->FailAttempt(a.job_id, a.task, a.attempt, error).ok()) {
      SetTaskState(&event, framepair::v1::TASK_FAILED);
      event.set_error(error);
      TaskEvent(a.job_id, event);
      const bool permanent =
          !a.stalled && !IsRetryable(static_cast<absl::StatusCode>(status.error_code()));
      FailJob(a.job_id,
              permanent ? absl::StrCat(a.task, ": ", status.error_message())
                        : absl::StrCat(a.task, " failed ", retries + 1, " times; last: ", error));
    }
    return;
  }
  // A busy worker's refusal (RESOURCE_EXHAUSTED: all its --max-tasks slots taken) is not a
  // failure of the task: it waits for a free worker however long that takes, without using
  // up its retries, and (when the worker refused before answering anything) without events:
  // watchers never saw it running, and each event is an fsynced row.
  const bool busy = verdict == AttemptVerdict::kWait;
  const int64_t backoff = RetryBackoff(options_.retry_backoff, retries, busy).count();
  AttemptCounter().Increment({a.kind, busy ? "busy" : "retried"});
  if (store_->RetryAttempt(a.job_id, a.task, a.attempt, NowMs() + backoff, error, !busy).ok()) {
    if (busy) {
      spdlog::debug("{}/{}: {}; waiting for a free worker", a.job_id, a.task, error);
      if (!a.reported_running) return;
    } else {
      spdlog::warn("{}/{}: attempt {} failed ({}); retry in {} ms", a.job_id, a.task, a.attempt,
                   error, backoff);
    }
    SetTaskState(&event, framepair::v1::TASK_PENDING);
    event.set_retries(busy ? retries : retries + 1);
    event.set_error(error);
    TaskEvent(a.job_id, event);
  }
}

void Scheduler::FinishJobIfDone(const std::string& job_id) {
  // A few index probes per finished task; the whole task list only once everything is done.
  if (absl::StatusOr<bool> done = store_->AllTasksDone(job_id); !done.ok() || !*done) return;
  std::lock_guard<std::mutex> publishing(publish_mu_);
  absl::StatusOr<JobRecord> job = store_->GetJob(job_id);
  absl::StatusOr<std::vector<TaskRecord>> tasks = store_->GetTasks(job_id);
  if (!job.ok() || !tasks.ok() || IsTerminal(job->state)) return;
  std::map<std::string, DoneTask> results;
  for (const TaskRecord& t : *tasks) {
    if (t.state != TaskState::kDone) return;
    results[t.name].attempt = t.attempt;
    results[t.name].result.ParseFromString(t.result);
  }
  framepair::v1::JobSpec spec;
  spec.ParseFromString(job->spec);
  absl::StatusOr<framepair::v1::JobResult> published = PublishJob(storage_, job_id, spec, results);
  if (!published.ok()) {
    // Clients read this: name files as storage:..., never the root's absolute path.
    const absl::string_view message = published.status().message();
    FailJob(job_id, absl::StrCat("publishing: ", storage_.Redact(std::string_view(
                                                     message.data(), message.size()))));
    return;
  }
  if (!store_->SetJobState(job_id, JobState::kSucceeded, "", published->SerializeAsString()).ok()) {
    return;
  }
  JobCounter().Increment({"succeeded"});
  spdlog::info("{}: succeeded, {} examples in {}", job_id, published->examples(),
               published->dataset_dir());
  JobEvent event;
  event.mutable_state()->set_state(framepair::v1::JOB_SUCCEEDED);
  *event.mutable_state()->mutable_result() = *published;
  RecordEvent(job_id, event);
  (void)storage_.RemoveWorkDir(job_id);
}

void Scheduler::FailJob(const std::string& job_id, const std::string& error) {
  if (!store_->SetJobState(job_id, JobState::kFailed, error).ok()) return;
  JobCounter().Increment({"failed"});
  spdlog::warn("{}: failed: {}", job_id, error);
  CancelJob(job_id);
  JobEvent event;
  event.mutable_state()->set_state(framepair::v1::JOB_FAILED);
  event.mutable_state()->set_error(error);
  RecordEvent(job_id, event);
}

void Scheduler::CancelJob(const std::string& job_id) {
  bool running = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, attempt] : running_) {
      if (attempt->job_id == job_id) {
        attempt->job_cancelled = true;
        attempt->context.TryCancel();
        running = true;
      }
    }
  }
  if (!running) (void)storage_.RemoveWorkDir(job_id);
}

void Scheduler::CheckStalls() {
  const int64_t now = NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, attempt] : running_) {
    if (!attempt->stalled && now - attempt->last_progress_ms > options_.stall_timeout.count()) {
      spdlog::warn("{}: no progress from {} for {} ms; cancelling the attempt", key,
                   attempt->target->address, now - attempt->last_progress_ms.load());
      attempt->stalled = true;
      attempt->context.TryCancel();
    }
  }
}

void Scheduler::UpdateGauges() {
  const JobStoreStats stats = store_->Stats();
  StoreGauge().Set({"writes"}, static_cast<double>(stats.writes));
  StoreGauge().Set({"commits"}, static_cast<double>(stats.commits));
  absl::StatusOr<std::map<std::string, int64_t>> pending = store_->CountTasks(TaskState::kPending);
  absl::StatusOr<std::map<std::string, int64_t>> running = store_->CountTasks(TaskState::kRunning);
  for (const char* kind : {"ingest", "align", "scene", "pack"}) {
    if (pending.ok()) {
      auto it = pending->find(kind);
      PendingGauge().Set({kind}, it == pending->end() ? 0 : static_cast<double>(it->second));
    }
    if (running.ok()) {
      auto it = running->find(kind);
      RunningGauge().Set({kind}, it == running->end() ? 0 : static_cast<double>(it->second));
    }
  }
}

void Scheduler::SweepWorkDirs() {
  absl::StatusOr<std::vector<std::string>> jobs = storage_.WorkJobs();
  if (!jobs.ok()) {
    spdlog::error("sweeping work files: {}", storage_.Redact(jobs.status().ToString()));
    return;
  }
  for (const std::string& job_id : *jobs) {
    bool busy = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [key, attempt] : running_) busy = busy || attempt->job_id == job_id;
    }
    absl::StatusOr<JobRecord> job = store_->GetJob(job_id);
    if (busy || (job.ok() && !IsTerminal(job->state))) {
      if (storage_.remote()) SweepDeadAttempts(job_id);
      continue;
    }
    if (!job.ok() && job.status().code() != absl::StatusCode::kNotFound) continue;
    (void)storage_.RemoveWorkDir(job_id);
  }
}

void Scheduler::SweepDeadAttempts(const std::string& job_id) {
  // In a bucket, the files of an attempt that was retried or fenced would stay (and be billed)
  // until the job ends; only each task's current attempt can still be used.
  // Listed before the tasks are read: an attempt whose files are listed started before, so the
  // tasks read after know it or a later one.
  absl::StatusOr<std::vector<std::string>> dirs = storage_.AttemptDirs(job_id);
  if (!dirs.ok()) return;
  absl::StatusOr<std::vector<TaskRecord>> tasks = store_->GetTasks(job_id);
  if (!tasks.ok()) return;
  std::set<std::string> current;
  for (const TaskRecord& t : *tasks) current.insert(AttemptWorkDir(job_id, t.name, t.attempt));
  for (const std::string& dir : *dirs) {
    if (current.contains(dir)) continue;
    if (absl::Status s = storage_.RemoveAttemptDir(dir); !s.ok()) {
      spdlog::warn("{}: removing the files of a dead attempt: {}", job_id,
                   storage_.Redact(s.ToString()));
    }
  }
}

JanitorReport Scheduler::RunJanitor() {
  JanitorReport report;
  absl::StatusOr<int> swept = storage_.CleanAbandonedUploads(options_.abandoned_upload_age);
  if (swept.ok()) {
    report.uploads = *swept;
  } else {
    spdlog::error("sweeping abandoned uploads: {}", swept.status().ToString());
  }
  if (options_.retain.count() > 0) {
    const int64_t cutoff = NowMs() - options_.retain.count();
    for (;;) {
      absl::StatusOr<std::vector<std::string>> expired = store_->FinishedJobsBefore(cutoff, 100);
      if (!expired.ok()) {
        spdlog::error("finding expired jobs: {}", expired.status().ToString());
        break;
      }
      int deleted = 0;
      for (const std::string& id : *expired) {
        if (HasRunningAttempts(id)) continue;  // a cancelled job's last call is still ending
        if (absl::Status s = store_->DeleteJob(id); !s.ok()) {
          spdlog::error("{}: deleting an expired job: {}", id, s.ToString());
          continue;
        }
        (void)storage_.RemoveWorkDir(id);
        ++deleted;
      }
      report.jobs += deleted;
      if (deleted == 0 || expired->size() < 100) break;
    }
    report.footage = CollectFootage(std::chrono::milliseconds(options_.retain));
  }
  if (report.uploads + report.jobs + report.footage > 0) {
    spdlog::info(
        "janitor: {} abandoned upload(s), {} expired job(s), {} unreferenced footage "
        "file(s) removed",
        report.uploads, report.jobs, report.footage);
  }
  return report;
}

int Scheduler::CollectFootage(std::chrono::milliseconds min_age) {
  absl::StatusOr<std::vector<std::string>> specs = store_->AllSpecs();
  if (!specs.ok()) {
    spdlog::error("reading job specs: {}", specs.status().ToString());
    return 0;
  }
  std::set<std::string> referenced;
  for (const std::string& bytes : *specs) {
    framepair::v1::JobSpec spec;
    if (!spec.ParseFromString(bytes)) return 0;  // unsure what it names: keep everything
    referenced.insert(spec.lr().storage_path());
    referenced.insert(spec.hr().storage_path());
  }
  // Objects carry no age here yet: footage in a bucket is left to its lifecycle rules.
  if (storage_.remote()) return 0;
  const auto cutoff = fs::file_time_type::clock::now() - min_age;
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(storage_.root() + "/footage/sha256", ec)) {
    const std::string name = entry.path().filename().string();
    if (!StorageRoot::ValidateSha256Hex(name).ok() || !entry.is_regular_file(ec)) continue;
    if (referenced.contains("footage/sha256/" + name)) continue;
    const auto mtime = fs::last_write_time(entry.path(), ec);
    if (ec || mtime > cutoff) continue;
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

void Scheduler::TaskEvent(const std::string& job_id, const TaskStatus& status) {
  JobEvent event;
  *event.mutable_task() = status;
  RecordEvent(job_id, event);
}

void Scheduler::RecordEvent(const std::string& job_id, JobEvent event) {
  const int64_t now = NowMs();
  absl::StatusOr<int64_t> seq = store_->AppendEvent(job_id, EventPayload(event, now), now);
  if (!seq.ok()) {
    spdlog::error("{}: storing an event: {}", job_id, seq.status().ToString());
    return;
  }
  hub_->Notify(job_id, *seq);
}

std::map<std::string, std::pair<int64_t, int64_t>> Scheduler::Progress(const std::string& job_id) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, attempt] : running_) {
    if (attempt->job_id == job_id) out[attempt->task] = {attempt->done, attempt->total};
  }
  return out;
}

}  // namespace framepair
