#include "services/coordinator/scheduler.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/metrics.h"
#include "services/coordinator/publisher.h"
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

// Codes that mean "this input cannot work": retrying elsewhere would fail the same way.
bool IsPermanent(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::ALREADY_EXISTS:
      return true;
    default:
      return false;
  }
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

// One call to a worker. Fields written by the call's thread are atomics or guarded by mu_.
struct Scheduler::Attempt {
  std::string job_id;
  std::string task;
  std::string kind;
  int64_t attempt = 0;
  Target* target = nullptr;
  grpc::ClientContext context;
  std::atomic<int64_t> last_progress_ms{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> total{0};
  std::atomic<bool> stalled{false};
  std::atomic<bool> job_cancelled{false};
  int64_t last_event_ms = 0;
  int64_t retries = 0;            // of the task when this attempt started
  bool reported_running = false;  // the "running" event was stored (the worker answered)
};

Scheduler::Scheduler(JobStore* store, StorageRoot storage, SchedulerOptions options, EventHub* hub)
    : store_(store), storage_(std::move(storage)), options_(std::move(options)), hub_(hub) {}

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
    if (stopping_ && !loop_.joinable()) return;
    stopping_ = true;
    for (auto& [key, attempt] : running_) attempt->context.TryCancel();
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return running_.empty(); });
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
  for (const std::string kind : {"ingest", "align", "scene", "pack"}) {
    std::vector<Target*>& targets = TargetsOf(kind);
    if (targets.empty()) continue;
    int free = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Target* t : targets) free += std::max(0, t->capacity - t->in_flight);
    }
    if (free == 0) continue;
    absl::StatusOr<std::vector<TaskRecord>> ready = store_->ReadyTasks(NowMs(), free, kind);
    if (!ready.ok()) {
      spdlog::error("reading ready tasks: {}", ready.status().ToString());
      return;
    }
    for (const TaskRecord& task : *ready) {
      const std::string key = task.job_id + "/" + task.name;
      Target* target = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (running_.count(key)) continue;
        // Least loaded target with a free slot; after a failure, another one if possible.
        auto rank = [&task](const Target* t) {
          const bool failed_here = task.retries > 0 && t->address == task.worker;
          return std::make_pair(failed_here, t->in_flight);
        };
        const auto now = std::chrono::steady_clock::now();
        for (Target* t : targets) {
          if (t->in_flight >= t->capacity || t->resting_until > now) continue;
          if (target == nullptr || rank(t) < rank(target)) target = t;
        }
        if (target == nullptr) break;
      }
      // Only the job and the results this task reads (indexed lookups): the cost of a
      // dispatch does not grow with the number of tasks in the job.
      absl::StatusOr<JobRecord> job = store_->GetJob(task.job_id);
      absl::StatusOr<std::map<std::string, std::string>> results =
          store_->TaskResults(task.job_id, {"ingest-lr", "ingest-hr", "align", "scene"});
      if (!job.ok() || !results.ok()) continue;
      framepair::v1::JobSpec spec;
      spec.ParseFromString(job->spec);
      std::map<std::string, TaskResult> deps;
      for (const auto& [name, bytes] : *results) deps[name].ParseFromString(bytes);
      absl::StatusOr<int64_t> attempt_no =
          store_->StartAttempt(task.job_id, task.name, target->address, NowMs());
      if (!attempt_no.ok()) continue;  // cancelled or taken meanwhile
      if (job->state == JobState::kQueued) {
        if (store_->SetJobState(task.job_id, JobState::kRunning).ok()) {
          JobEvent event;
          event.mutable_state()->set_state(framepair::v1::JOB_RUNNING);
          RecordEvent(task.job_id, event);
        }
      }
      auto attempt = std::make_shared<Attempt>();
      attempt->job_id = task.job_id;
      attempt->task = task.name;
      attempt->kind = task.kind;
      attempt->attempt = *attempt_no;
      attempt->retries = task.retries;
      attempt->target = target;
      attempt->last_progress_ms = NowMs();
      attempt->context.set_deadline(std::chrono::system_clock::now() + options_.task_deadline);
      {
        std::lock_guard<std::mutex> lock(mu_);
        target->in_flight++;
        running_[key] = attempt;
      }
      // The "running" event waits for the worker's first message (RunAttempt): a busy worker
      // refuses at once, and its refusals must not become a stream of stored events.
      spdlog::info("{}/{}: attempt {} on {}", task.job_id, task.name, *attempt_no, target->address);
      std::thread(&Scheduler::RunAttempt, this, attempt, std::move(spec), std::move(deps)).detach();
    }
  }
}

void Scheduler::RunAttempt(std::shared_ptr<Attempt> a, framepair::v1::JobSpec spec,
                           std::map<std::string, TaskResult> deps) {
  const auto& params = spec.parameters();
  framepair::v1::TaskRef ref;
  ref.set_job_id(a->job_id);
  ref.set_task(a->task);
  ref.set_attempt(a->attempt);
  ref.set_work_dir(AttemptWorkDir(a->job_id, a->task, a->attempt));
  auto table = [&](const char* task) { return deps[task].ingest().frame_table(); };

  std::unique_ptr<grpc::ClientReader<TaskUpdate>> reader;
  // Requests must outlive the call.
  framepair::v1::IngestRequest ingest;
  framepair::v1::AlignRequest align;
  framepair::v1::SceneRequest scene;
  framepair::v1::PackRequest pack;
  if (a->kind == "ingest") {
    const bool lr = a->task == "ingest-lr";
    const auto& ref_in = lr ? spec.lr() : spec.hr();
    *ingest.mutable_task() = ref;
    ingest.set_video(ref_in.storage_path());
    ingest.set_role(lr ? "lr" : "hr");
    ingest.set_display_name(ref_in.display_name());
    *ingest.mutable_parameters() = params;
    reader = framepair::v1::Ingest::NewStub(a->target->channel)->Ingest(&a->context, ingest);
  } else if (a->kind == "align") {
    *align.mutable_task() = ref;
    if (!params.hr_only()) align.set_lr_frame_table(table("ingest-lr"));
    align.set_hr_frame_table(table("ingest-hr"));
    *align.mutable_parameters() = params;
    reader = framepair::v1::Align::NewStub(a->target->channel)->Align(&a->context, align);
  } else if (a->kind == "scene") {
    *scene.mutable_task() = ref;
    if (!params.hr_only()) scene.set_lr_frame_table(table("ingest-lr"));
    scene.set_hr_frame_table(table("ingest-hr"));
    scene.set_pairs(deps["align"].align().pairs());
    *scene.mutable_parameters() = params;
    reader = framepair::v1::Scene::NewStub(a->target->channel)->Scene(&a->context, scene);
  } else {
    const int shard = std::stoi(a->task.substr(5));  // "pack-00003"
    *pack.mutable_task() = ref;
    if (!params.hr_only()) {
      pack.set_lr_video(spec.lr().storage_path());
      pack.set_lr_frame_table(table("ingest-lr"));
    }
    pack.set_hr_video(spec.hr().storage_path());
    pack.set_hr_frame_table(table("ingest-hr"));
    pack.set_pairs(deps["align"].align().pairs());
    pack.set_plan(deps["scene"].scene().plan());
    pack.set_shard(shard);
    pack.set_shard_file_name(JobPackFileName(a->job_id, shard, params));
    *pack.mutable_parameters() = params;
    reader = framepair::v1::Packer::NewStub(a->target->channel)->Pack(&a->context, pack);
  }

  TaskUpdate update;
  std::optional<TaskResult> result;
  bool first = true;
  while (reader->Read(&update)) {
    a->last_progress_ms = NowMs();
    if (first) {
      // Behind a dns:/// name, the peer says which machine actually runs the attempt.
      first = false;
      spdlog::info("{}/{}: attempt {} runs on {}", a->job_id, a->task, a->attempt,
                   a->context.peer());
      TaskStatus status;
      status.set_name(a->task);
      status.set_kind(a->kind);
      status.set_state("running");
      status.set_attempt(a->attempt);
      status.set_retries(a->retries);
      status.set_worker(a->target->address);
      TaskEvent(a->job_id, status);
      a->reported_running = true;
    }
    if (update.has_result()) {
      result = update.result();
    } else if (update.has_progress()) {
      a->done = update.progress().done();
      a->total = update.progress().total();
      // Progress goes to watchers at most once a second (each event is an fsynced row).
      if (a->last_progress_ms - a->last_event_ms >= 1000) {
        a->last_event_ms = a->last_progress_ms;
        TaskStatus status;
        status.set_name(a->task);
        status.set_kind(a->kind);
        status.set_state("running");
        status.set_attempt(a->attempt);
        status.set_worker(a->target->address);
        status.set_done(a->done);
        status.set_total(a->total);
        TaskEvent(a->job_id, status);
      }
    }
  }
  grpc::Status status = reader->Finish();
  if (status.ok() && !result) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, "worker ended the call without a result");
  }
  if (status.ok()) {
    // A result that names files outside its attempt fails the task for good (INVALID_ARGUMENT
    // is permanent): retrying would hand the same worker the same chance.
    absl::Status checked =
        CheckTaskResult(storage_, a->job_id, a->task, a->attempt, params, *result);
    if (!checked.ok()) {
      spdlog::warn("{}/{}: {}", a->job_id, a->task, std::string(checked.message()));
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(checked.message()));
      result.reset();
    }
  }
  HandleOutcome(*a, status, result ? &*result : nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Target* t = a->target;
    if (status.ok()) {
      t->failures_in_a_row = 0;
    } else if ((a->stalled || status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) &&
               t->address.rfind("dns:", 0) != 0) {
      // Not for dns:/// names: one name stands for many workers, and round_robin already
      // stops picking the addresses it cannot reach. A busy worker (RESOURCE_EXHAUSTED) rests
      // too, at most 8 s: its slots free up as its tasks end.
      const bool busy = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
      const int shift = std::min(t->failures_in_a_row++, busy ? 3 : 5);
      t->resting_until = std::chrono::steady_clock::now() + std::chrono::seconds(1 << shift);
    }
    t->in_flight--;
    running_.erase(a->job_id + "/" + a->task);
  }
  // The last attempt of a cancelled or failed job takes the job's work files with it.
  if (a->job_cancelled && !HasRunningAttempts(a->job_id)) (void)storage_.RemoveWorkDir(a->job_id);
  cv_.notify_all();
  Wake();
}

bool Scheduler::HasRunningAttempts(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, attempt] : running_) {
    if (attempt->job_id == job_id) return true;
  }
  return false;
}

void Scheduler::HandleOutcome(Attempt& a, const grpc::Status& status, const TaskResult* result) {
  TaskStatus event;
  event.set_name(a.task);
  event.set_kind(a.kind);
  event.set_attempt(a.attempt);
  event.set_worker(a.target->address);
  if (status.ok()) {
    absl::Status stored =
        store_->CompleteAttempt(a.job_id, a.task, a.attempt, result->SerializeAsString());
    if (!stored.ok()) {
      // Fenced out (retried, cancelled or requeued meanwhile): the result is not used.
      spdlog::warn("{}/{}: result of attempt {} ignored: {}", a.job_id, a.task, a.attempt,
                   stored.ToString());
      AttemptCounter().Increment({a.kind, "fenced"});
      return;
    }
    AttemptCounter().Increment({a.kind, "done"});
    event.set_state("done");
    event.set_done(a.done);
    event.set_total(a.total);
    TaskEvent(a.job_id, event);
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
  if (!a.stalled && IsPermanent(status.error_code())) {
    AttemptCounter().Increment({a.kind, "failed"});
    if (store_->FailAttempt(a.job_id, a.task, a.attempt, error).ok()) {
      event.set_state("failed");
      event.set_error(error);
      TaskEvent(a.job_id, event);
      FailJob(a.job_id, absl::StrCat(a.task, ": ", status.error_message()));
    }
    return;
  }
  // A busy worker's refusal (RESOURCE_EXHAUSTED: all its --max-tasks slots taken) is not a
  // failure of the task: it waits for a free worker however long that takes, without using
  // up its retries, and (when the worker refused before answering anything) without events:
  // watchers never saw it running, and each event is an fsynced row.
  const bool busy = !a.stalled && status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  if (retries >= options_.max_retries && !busy) {
    AttemptCounter().Increment({a.kind, "failed"});
    if (store_->FailAttempt(a.job_id, a.task, a.attempt, error).ok()) {
      event.set_state("failed");
      event.set_error(error);
      TaskEvent(a.job_id, event);
      FailJob(a.job_id, absl::StrCat(a.task, " failed ", retries + 1, " times; last: ", error));
    }
    return;
  }
  const int64_t backoff = busy ? options_.retry_backoff.count()
                               : std::min<int64_t>(30000, options_.retry_backoff.count()
                                                              << std::min<int64_t>(retries, 16));
  AttemptCounter().Increment({a.kind, busy ? "busy" : "retried"});
  if (store_->RetryAttempt(a.job_id, a.task, a.attempt, NowMs() + backoff, error, !busy).ok()) {
    if (busy) {
      spdlog::debug("{}/{}: {}; waiting for a free worker", a.job_id, a.task, error);
      if (!a.reported_running) return;
    } else {
      spdlog::warn("{}/{}: attempt {} failed ({}); retry in {} ms", a.job_id, a.task, a.attempt,
                   error, backoff);
    }
    event.set_state("pending");
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
    FailJob(job_id, absl::StrCat("publishing: ", published.status().message()));
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
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(storage_.root() + "/work", ec)) {
    const std::string job_id = entry.path().filename().string();
    {
      std::lock_guard<std::mutex> lock(mu_);
      bool busy = false;
      for (auto& [key, attempt] : running_) busy = busy || attempt->job_id == job_id;
      if (busy) continue;
    }
    absl::StatusOr<JobRecord> job = store_->GetJob(job_id);
    if (job.ok() && !IsTerminal(job->state)) continue;
    if (!job.ok() && job.status().code() != absl::StatusCode::kNotFound) continue;
    (void)storage_.RemoveWorkDir(job_id);
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
  event.set_unix_ms(now);
  absl::StatusOr<int64_t> seq = store_->AppendEvent(job_id, event.SerializeAsString(), now);
  if (!seq.ok()) {
    spdlog::error("{}: storing an event: {}", job_id, seq.status().ToString());
    return;
  }
  hub_->Notify(job_id);
}

std::map<std::string, std::pair<int64_t, int64_t>> Scheduler::Progress(const std::string& job_id) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, attempt] : running_) {
    if (attempt->job_id == job_id) out[attempt->task] = {attempt->done, attempt->total};
  }
  return out;
}

std::map<std::string, int64_t> Scheduler::InFlightByKind() {
  std::map<std::string, int64_t> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, attempt] : running_) out[attempt->kind]++;
  return out;
}

}  // namespace framepair
