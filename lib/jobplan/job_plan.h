// The pipeline's task graph for one job (one footage pair): which tasks there are, what they
// are called, what each waits for, which shard a pack task writes and what request each kind
// of worker gets. The coordinator plans and schedules with it, the publisher finds results
// with it and the CLI groups tasks with it; no other code builds or parses a task name.
//
//   ingest-hr ─┐
//   ingest-lr ─┴─> align ─> scene ─> pack-00000 .. pack-<shards-1>
//
// (no ingest-lr for an HR-only job). Task state text names ("pending", "done", ...) live here
// too, so the CLI and old clients read the same words the coordinator writes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "framepair/v1/job.pb.h"
#include "framepair/v1/workers.pb.h"

namespace framepair {

enum class TaskKind { kIngest, kAlign, kScene, kPack };
inline constexpr TaskKind kTaskKinds[] = {TaskKind::kIngest, TaskKind::kAlign, TaskKind::kScene,
                                          TaskKind::kPack};
// "ingest", "align", "scene", "pack" (also the store's kind column and metric labels).
std::string_view TaskKindName(TaskKind kind);
std::optional<TaskKind> ParseTaskKind(std::string_view name);

enum class Side { kLr, kHr };

// One task of a job's plan. Name() and Parse() are inverses.
struct TaskId {
  TaskKind kind = TaskKind::kIngest;
  Side side = Side::kHr;  // ingest only
  int shard = 0;          // pack only

  static TaskId Ingest(Side side) { return {TaskKind::kIngest, side, 0}; }
  static TaskId Align() { return {TaskKind::kAlign, Side::kHr, 0}; }
  static TaskId Scene() { return {TaskKind::kScene, Side::kHr, 0}; }
  static TaskId Pack(int shard) { return {TaskKind::kPack, Side::kHr, shard}; }

  // "ingest-lr", "ingest-hr", "align", "scene", "pack-00003".
  std::string Name() const;
  // INVALID_ARGUMENT (the name quoted, bounded) for anything Name() does not produce.
  static absl::StatusOr<TaskId> Parse(std::string_view name);

  bool operator==(const TaskId&) const = default;
};

struct PlannedTask {
  TaskId id;
  std::string name;
  std::vector<std::string> deps;  // names of the tasks that must be done first
};

// The job's tasks in dependency order. `pack_tasks` >= 1 (PackTaskCount).
std::vector<PlannedTask> PlanJob(bool hr_only, int pack_tasks);

// The names of the upstream tasks whose results requests read (every task but the packs).
std::vector<std::string> UpstreamTaskNames(bool hr_only);

// The storage-relative output directory of one task attempt, "work/<job>/<task>.a<attempt>":
// the only place that attempt's worker may write, and so the only place its result may name.
std::string AttemptWorkDir(const std::string& job_id, const std::string& task, int64_t attempt);

// Shard file name of one job's shard in the dataset with the default template:
// "train_<job>_00003-of-00016.tfrecord[.gz]" (a dataset holds the shards of many footage
// pairs, one job each).
std::string JobShardFileName(const std::string& job_id, int shard, int shards, bool gzip);

// Pack tasks of a job: one per shard, and with a validation split (--val-windows,
// --val-fraction) one more, "pack-<shards>", for the job's validation windows. PlanJob takes
// this count.
int PackTaskCount(const framepair::v1::RunParameters& parameters);

// The file a job's pack task writes in its attempt directory: the shard's name in the dataset
// (--name-template, default train_{job}_{shard}-of-{shards}), or for the validation task the
// dataset's validation file name (its examples are appended to that file on publication).
std::string JobPackFileName(const std::string& job_id, int shard,
                            const framepair::v1::RunParameters& parameters);

// What one task's worker is asked to do.
using TaskRequest = std::variant<framepair::v1::IngestRequest, framepair::v1::AlignRequest,
                                 framepair::v1::SceneRequest, framepair::v1::PackRequest>;

// The request for `task` of the job `spec` describes, as attempt `attempt`, given the results
// of its upstream tasks by name (UpstreamTaskNames()). FAILED_PRECONDITION when a result the
// request needs is missing.
absl::StatusOr<TaskRequest> BuildTaskRequest(
    const std::string& job_id, const framepair::v1::JobSpec& spec, const TaskId& task,
    int64_t attempt, const std::map<std::string, framepair::v1::TaskResult>& upstream);

// Task states as the CLI prints them: "pending", "running", "done", "failed", "cancelled"
// ("unknown" for UNSPECIFIED).
std::string_view TaskStateText(framepair::v1::TaskState state);
// Sets both the enum and (for clients older than the enum) the text field of `status`.
void SetTaskState(framepair::v1::TaskStatus* status, framepair::v1::TaskState state);
// The state of `status`: the enum, or from the text field when an older coordinator sent
// only that.
framepair::v1::TaskState TaskStateOf(const framepair::v1::TaskStatus& status);

}  // namespace framepair
