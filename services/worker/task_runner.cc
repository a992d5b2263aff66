#include "services/worker/task_runner.h"

#include <boost/asio/post.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"
#include "spdlog/spdlog.h"
#include "util/status_macros.h"

namespace framepair {

using framepair::v1::TaskUpdate;

// One call: started on a gRPC thread, runs the task on the pool, writes at most one message
// at a time (gRPC's rule for reactors) and finishes when the task has returned.
class TaskReactor : public grpc::ServerWriteReactor<TaskUpdate>, public TaskContext {
 public:
  TaskReactor(TaskRunner* runner, grpc::CallbackServerContext* context, std::string what)
      : runner_(runner), context_(context), what_(std::move(what)) {}

  void Run(TaskFn fn) {
    {
      std::lock_guard<std::mutex> lock(runner_->active_mu_);
      runner_->active_.insert(this);
    }
    boost::asio::post(runner_->pool_, [this, fn = std::move(fn)] {
      auto start = std::chrono::steady_clock::now();
      absl::StatusOr<framepair::v1::TaskResult> result = [&] {
        if (cancel_.load()) return absl::StatusOr<framepair::v1::TaskResult>(Cancelled());
        return fn(*this);
      }();
      // The task's frames are freed: its reservation goes back to the budget.
      runner_->Release(std::exchange(reserved_, 0));
      if (cancel_.load() && result.ok()) result = Cancelled();
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (result.ok()) {
        spdlog::info("{}: done in {:.2f} s", what_, seconds);
      } else {
        spdlog::warn("{}: {} after {:.2f} s", what_, result.status().ToString(), seconds);
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (result.ok()) {
        TaskUpdate update;
        *update.mutable_result() = *std::move(result);
        result_ = std::move(update);
        final_status_ = grpc::Status::OK;
      } else {
        const absl::Status& error = result.status();
        final_status_ = ToGrpcStatus(
            runner_->options_.redact
                ? absl::Status(error.code(), runner_->options_.redact(std::string_view(
                                                 error.message().data(), error.message().size())))
                : error);
      }
      pending_progress_.reset();
      PumpLocked();
    });
  }

  // TaskContext
  void Progress(int64_t done, int64_t total) override {
    auto now = std::chrono::system_clock::now();
    if (now > context_->deadline()) cancel_.store(true);
    std::lock_guard<std::mutex> lock(mu_);
    auto steady = std::chrono::steady_clock::now();
    done_ = done;
    total_ = total;
    if (steady - last_progress_ < runner_->options_.progress_interval) return;
    SendProgressLocked(steady);
  }

  // Repeats the last progress when the task has been quiet for a heartbeat interval.
  void Heartbeat() {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (final_status_ || now - last_progress_ < runner_->options_.heartbeat_interval) return;
    SendProgressLocked(now);
  }

  absl::Status ReserveMemory(int64_t bytes, std::string_view need) override {
    FP_RETURN_IF_ERROR(runner_->Reserve(bytes, need));
    reserved_ += bytes;
    spdlog::info("{}: reserved {} MiB of the memory budget for {}", what_, bytes >> 20, need);
    return absl::OkStatus();
  }

  void Cancel() { cancel_.store(true); }
  const std::atomic<bool>* cancel() const override { return &cancel_; }
  std::chrono::steady_clock::time_point deadline() const override {
    const auto system_deadline = context_->deadline();
    if (system_deadline == std::chrono::system_clock::time_point::max()) {
      return std::chrono::steady_clock::time_point::max();
    }
    // The decoder's clock is steady; the call's is the system clock.
    return std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               system_deadline - std::chrono::system_clock::now());
  }

  // Reactor callbacks.
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) cancel_.store(true);  // the stream is gone; stop working
    PumpLocked();
  }
  void OnCancel() override { cancel_.store(true); }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(runner_->active_mu_);
      runner_->active_.erase(this);
    }
    // The pool thread may still be inside PumpLocked() after calling Finish().
    { std::lock_guard<std::mutex> lock(mu_); }
    runner_->running_.fetch_sub(1);
    delete this;
  }

 private:
  absl::Status Cancelled() const {
    return absl::CancelledError(what_ + ": cancelled (client cancel, deadline or server drain)");
  }

  void SendProgressLocked(std::chrono::steady_clock::time_point now) {
    last_progress_ = now;
    TaskUpdate update;
    update.mutable_progress()->set_done(done_);
    update.mutable_progress()->set_total(total_);
    pending_progress_ = std::move(update);
    PumpLocked();
  }

  // Sends whatever is due next: the latest progress, then the result, then the status.
  void PumpLocked() {
    if (writing_ || finished_) return;
    if (pending_progress_) {
      out_ = std::move(*pending_progress_);
      pending_progress_.reset();
      writing_ = true;
      StartWrite(&out_);
      return;
    }
    if (!final_status_) return;
    if (result_) {
      out_ = std::move(*result_);
      result_.reset();
      finished_ = true;
      StartWriteAndFinish(&out_, grpc::WriteOptions(), *final_status_);
      return;
    }
    finished_ = true;
    Finish(*final_status_);
  }

  TaskRunner* runner_;
  grpc::CallbackServerContext* context_;
  std::string what_;
  std::atomic<bool> cancel_{false};
  int64_t reserved_ = 0;  // pool thread only
  std::mutex mu_;
  bool writing_ = false;
  bool finished_ = false;
  TaskUpdate out_;
  std::optional<TaskUpdate> pending_progress_;
  std::optional<TaskUpdate> result_;
  std::optional<grpc::Status> final_status_;
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
  int64_t done_ = 0;
  int64_t total_ = 0;
};

TaskRunner::TaskRunner(const WorkerOptions& options)
    : options_(options), pool_(static_cast<size_t>(std::max(1, options.max_tasks))) {
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

TaskRunner::~TaskRunner() {
  CancelAll();
  pool_.join();
  {
    std::lock_guard<std::mutex> lock(active_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  heartbeat_.join();
}

namespace {
std::string Mib(int64_t bytes) { return absl::StrCat((bytes + (1 << 20) - 1) >> 20, " MiB"); }
}  // namespace

absl::Status TaskRunner::Reserve(int64_t bytes, std::string_view need) {
  // Counted with or without a budget: the task releases what it reserved either way.
  if (options_.memory_budget <= 0) {
    std::lock_guard<std::mutex> lock(memory_mu_);
    reserved_memory_ += bytes;
    return absl::OkStatus();
  }
  const int64_t for_tasks = options_.memory_budget - options_.base_memory;
  if (bytes > for_tasks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "this task needs ", Mib(bytes), " for ", std::string(need),
        ", more than the worker's --memory-budget (", Mib(options_.memory_budget), ", ",
        Mib(options_.base_memory),
        " of it for the idle process) holds even when idle; use smaller frames or a smaller "
        "--window, or give the worker a larger --memory-budget and memory limit (and a "
        "matching --max-frame-pixels)"));
  }
  std::lock_guard<std::mutex> lock(memory_mu_);
  if (reserved_memory_ + bytes > for_tasks) {
    return absl::ResourceExhaustedError(
        absl::StrCat("worker busy: this task needs ", Mib(bytes), " for ", std::string(need),
                     " and running tasks hold ", Mib(reserved_memory_), " of the ", Mib(for_tasks),
                     " that --memory-budget leaves for tasks; retry on another worker"));
  }
  reserved_memory_ += bytes;
  return absl::OkStatus();
}

void TaskRunner::Release(int64_t bytes) {
  std::lock_guard<std::mutex> lock(memory_mu_);
  reserved_memory_ -= bytes;
}

int64_t TaskRunner::reserved_memory() const {
  std::lock_guard<std::mutex> lock(memory_mu_);
  return reserved_memory_;
}

void TaskRunner::StopAccepting() { draining_.store(true); }

void TaskRunner::CancelAll() {
  draining_.store(true);
  std::lock_guard<std::mutex> lock(active_mu_);
  for (TaskReactor* r : active_) r->Cancel();
}

void TaskRunner::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(active_mu_);
  const auto tick = std::max(std::chrono::milliseconds(10), options_.heartbeat_interval / 5);
  while (!stop_cv_.wait_for(lock, tick, [this] { return stopping_; })) {
    for (TaskReactor* r : active_) r->Heartbeat();
  }
}

grpc::ServerWriteReactor<TaskUpdate>* TaskRunner::Start(grpc::CallbackServerContext* context,
                                                        std::string what, TaskFn fn) {
  auto* reactor = new TaskReactor(this, context, std::move(what));
  const int now_running = running_.fetch_add(1) + 1;
  if (draining_.load()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "worker is shutting down; retry on another worker"));
    return reactor;
  }
  if (now_running > options_.max_tasks) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "worker busy: " + std::to_string(options_.max_tasks) +
                                     " tasks running (--max-tasks); retry on another worker"));
    return reactor;
  }
  reactor->Run(std::move(fn));
  return reactor;
}

}  // namespace framepair
