#include "jobplan/job_plan.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataset/dataset.h"
#include "util/quote.h"

namespace framepair {
namespace {

using framepair::v1::TaskResult;

constexpr std::string_view kPackPrefix = "pack-";
constexpr int kShardDigits = 5;

}  // namespace

std::string_view TaskKindName(TaskKind kind) {
  switch (kind) {
    case TaskKind::kIngest:
      return "ingest";
    case TaskKind::kAlign:
      return "align";
    case TaskKind::kScene:
      return "scene";
    case TaskKind::kPack:
      return "pack";
  }
  return "unknown";
}

std::optional<TaskKind> ParseTaskKind(std::string_view name) {
  for (TaskKind kind : kTaskKinds) {
    if (TaskKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

std::string TaskId::Name() const {
  switch (kind) {
    case TaskKind::kIngest:
      return side == Side::kLr ? "ingest-lr" : "ingest-hr";
    case TaskKind::kAlign:
      return "align";
    case TaskKind::kScene:
      return "scene";
    case TaskKind::kPack:
      return absl::StrFormat("pack-%0*d", kShardDigits, shard);
  }
  return "";
}

absl::StatusOr<TaskId> TaskId::Parse(std::string_view name) {
  if (name == "ingest-lr") return Ingest(Side::kLr);
  if (name == "ingest-hr") return Ingest(Side::kHr);
  if (name == "align") return Align();
  if (name == "scene") return Scene();
  if (name.starts_with(kPackPrefix)) {
    // Exactly what Name() writes: at least five digits, no sign, no leading '+', so one shard
    // has one name.
    const std::string_view digits = name.substr(kPackPrefix.size());
    int shard = -1;
    const bool all_digits = digits.size() >= kShardDigits &&
                            digits.find_first_not_of("0123456789") == std::string_view::npos;
    if (all_digits && absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &shard) &&
        shard >= 0 && Pack(shard).Name() == name) {
      return Pack(shard);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "no task of a job is called ", QuoteUserText(absl::string_view(name.data(), name.size())),
      "; tasks are ingest-lr, ingest-hr, align, scene and pack-NNNNN"));
}

std::vector<PlannedTask> PlanJob(bool hr_only, int shards) {
  std::vector<PlannedTask> plan;
  auto add = [&plan](TaskId id, std::vector<std::string> deps) {
    plan.push_back(PlannedTask{id, id.Name(), std::move(deps)});
  };
  std::vector<std::string> ingests;
  add(TaskId::Ingest(Side::kHr), {});
  ingests.push_back(plan.back().name);
  if (!hr_only) {
    add(TaskId::Ingest(Side::kLr), {});
    ingests.push_back(plan.back().name);
  }
  add(TaskId::Align(), ingests);
  add(TaskId::Scene(), {TaskId::Align().Name()});
  for (int shard = 0; shard < shards; ++shard) add(TaskId::Pack(shard), {TaskId::Scene().Name()});
  return plan;
}

std::vector<std::string> UpstreamTaskNames(bool hr_only) {
  std::vector<std::string> names;
  for (const PlannedTask& t : PlanJob(hr_only, 0)) names.push_back(t.name);
  return names;
}

std::string AttemptWorkDir(const std::string& job_id, const std::string& task, int64_t attempt) {
  return absl::StrFormat("work/%s/%s.a%d", job_id, task, attempt);
}

std::string JobShardFileName(const std::string& job_id, int shard, int shards, bool gzip) {
  return ShardFileNameFrom(kDefaultJobNameTemplate, job_id, shard, shards, gzip);
}

namespace {
bool HasValidation(const framepair::v1::RunParameters& p) {
  return p.val_windows() > 0 || p.val_fraction() > 0;
}
}  // namespace

int PackTaskCount(const framepair::v1::RunParameters& parameters) {
  return parameters.shards() + (HasValidation(parameters) ? 1 : 0);
}

std::string JobPackFileName(const std::string& job_id, int shard,
                            const framepair::v1::RunParameters& parameters) {
  if (HasValidation(parameters) && shard == parameters.shards()) {
    return ValidationFileName(parameters.gzip());
  }
  return ShardFileNameFrom(parameters.name_template(), job_id, shard, parameters.shards(),
                           parameters.gzip());
}

absl::StatusOr<TaskRequest> BuildTaskRequest(const std::string& job_id,
                                             const framepair::v1::JobSpec& spec, const TaskId& task,
                                             int64_t attempt,
                                             const std::map<std::string, TaskResult>& upstream) {
  const framepair::v1::RunParameters& params = spec.parameters();
  const std::string name = task.Name();
  framepair::v1::TaskRef ref;
  ref.set_job_id(job_id);
  ref.set_task(name);
  ref.set_attempt(attempt);
  ref.set_work_dir(AttemptWorkDir(job_id, name, attempt));
  absl::Status missing;
  auto result = [&](const TaskId& id) -> const TaskResult& {
    static const TaskResult* const kEmpty = new TaskResult;
    auto it = upstream.find(id.Name());
    if (it != upstream.end()) return it->second;
    if (missing.ok()) {
      missing = absl::FailedPreconditionError(absl::StrCat(
          job_id, "/", name, " needs the result of ", id.Name(), ", which is not done"));
    }
    return *kEmpty;
  };
  auto table = [&](Side side) -> const std::string& {
    return result(TaskId::Ingest(side)).ingest().frame_table();
  };

  TaskRequest request;
  switch (task.kind) {
    case TaskKind::kIngest: {
      const bool lr = task.side == Side::kLr;
      const framepair::v1::FootageRef& footage = lr ? spec.lr() : spec.hr();
      framepair::v1::IngestRequest r;
      *r.mutable_task() = ref;
      r.set_video(footage.storage_path());
      r.set_role(lr ? "lr" : "hr");
      r.set_display_name(footage.display_name());
      *r.mutable_parameters() = params;
      request = std::move(r);
      break;
    }
    case TaskKind::kAlign: {
      framepair::v1::AlignRequest r;
      *r.mutable_task() = ref;
      if (!params.hr_only()) r.set_lr_frame_table(table(Side::kLr));
      r.set_hr_frame_table(table(Side::kHr));
      *r.mutable_parameters() = params;
      request = std::move(r);
      break;
    }
    case TaskKind::kScene: {
      framepair::v1::SceneRequest r;
      *r.mutable_task() = ref;
      if (!params.hr_only()) r.set_lr_frame_table(table(Side::kLr));
      r.set_hr_frame_table(table(Side::kHr));
      r.set_pairs(result(TaskId::Align()).align().pairs());
      *r.mutable_parameters() = params;
      request = std::move(r);
      break;
    }
    case TaskKind::kPack: {
      framepair::v1::PackRequest r;
      *r.mutable_task() = ref;
      if (!params.hr_only()) {
        r.set_lr_video(spec.lr().storage_path());
        r.set_lr_frame_table(table(Side::kLr));
      }
      r.set_hr_video(spec.hr().storage_path());
      r.set_hr_frame_table(table(Side::kHr));
      r.set_pairs(result(TaskId::Align()).align().pairs());
      r.set_plan(result(TaskId::Scene()).scene().plan());
      r.set_shard(task.shard);
      r.set_shard_file_name(JobPackFileName(job_id, task.shard, params));
      *r.mutable_parameters() = params;
      request = std::move(r);
      break;
    }
  }
  if (!missing.ok()) return missing;
  return request;
}

std::string_view TaskStateText(framepair::v1::TaskState state) {
  switch (state) {
    case framepair::v1::TASK_PENDING:
      return "pending";
    case framepair::v1::TASK_RUNNING:
      return "running";
    case framepair::v1::TASK_DONE:
      return "done";
    case framepair::v1::TASK_FAILED:
      return "failed";
    case framepair::v1::TASK_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

void SetTaskState(framepair::v1::TaskStatus* status, framepair::v1::TaskState state) {
  status->set_task_state(state);
  status->set_state(std::string(TaskStateText(state)));
}

framepair::v1::TaskState TaskStateOf(const framepair::v1::TaskStatus& status) {
  if (status.task_state() != framepair::v1::TASK_STATE_UNSPECIFIED) return status.task_state();
  for (auto s : {framepair::v1::TASK_PENDING, framepair::v1::TASK_RUNNING, framepair::v1::TASK_DONE,
                 framepair::v1::TASK_FAILED, framepair::v1::TASK_CANCELLED}) {
    if (status.state() == TaskStateText(s)) return s;
  }
  return framepair::v1::TASK_STATE_UNSPECIFIED;
}

}  // namespace framepair
