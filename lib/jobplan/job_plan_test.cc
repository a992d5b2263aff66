#include "jobplan/job_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace framepair {
namespace {

using ::testing::ElementsAre;

TEST(JobPlanTest, PlansThePipelineGraph) {
  std::vector<PlannedTask> plan = PlanJob(/*hr_only=*/false, 2);
  std::vector<std::string> names;
  for (const PlannedTask& t : plan) names.push_back(t.name);
  EXPECT_THAT(names,
              ElementsAre("ingest-hr", "ingest-lr", "align", "scene", "pack-00000", "pack-00001"));
  EXPECT_THAT(plan[2].deps, ElementsAre("ingest-hr", "ingest-lr"));
  EXPECT_THAT(plan[3].deps, ElementsAre("align"));
  EXPECT_THAT(plan[5].deps, ElementsAre("scene"));
  EXPECT_EQ(plan[5].id, TaskId::Pack(1));
  EXPECT_THAT(UpstreamTaskNames(true), ElementsAre("ingest-hr", "align", "scene"));
}

TEST(JobPlanTest, NamesAndParseAreInverses) {
  for (const PlannedTask& t : PlanJob(false, 3)) {
    absl::StatusOr<TaskId> parsed = TaskId::Parse(t.name);
    ASSERT_TRUE(parsed.ok()) << t.name;
    EXPECT_EQ(*parsed, t.id);
  }
  EXPECT_EQ(TaskId::Parse("pack-123456")->shard, 123456);
  for (const char* bad : {"", "pack-", "pack-1", "pack--0001", "pack-+0001", "pack-0000x",
                          "pack-99999999999999", "ingest", "ingest-xx", "Align"}) {
    EXPECT_FALSE(TaskId::Parse(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseTaskKind("pack"), TaskKind::kPack);
  EXPECT_EQ(ParseTaskKind("packer"), std::nullopt);
}

TEST(JobPlanTest, BuildsEachKindsRequest) {
  framepair::v1::JobSpec spec;
  spec.mutable_lr()->set_storage_path("footage/sha256/lr");
  spec.mutable_hr()->set_storage_path("footage/sha256/hr");
  spec.mutable_parameters()->set_shards(4);
  std::map<std::string, framepair::v1::TaskResult> up;
  up["ingest-lr"].mutable_ingest()->set_frame_table("t-lr");
  up["ingest-hr"].mutable_ingest()->set_frame_table("t-hr");
  up["align"].mutable_align()->set_pairs("pairs");
  up["scene"].mutable_scene()->set_plan("plan");

  absl::StatusOr<TaskRequest> r = BuildTaskRequest("j1", spec, TaskId::Pack(3), 2, up);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& pack = std::get<framepair::v1::PackRequest>(*r);
  EXPECT_EQ(pack.task().work_dir(), "work/j1/pack-00003.a2");
  EXPECT_EQ(pack.shard(), 3);
  EXPECT_EQ(pack.shard_file_name(), "train_j1_00003-of-00004.tfrecord");
  EXPECT_EQ(pack.lr_frame_table(), "t-lr");
  EXPECT_EQ(pack.plan(), "plan");

  r = BuildTaskRequest("j1", spec, TaskId::Ingest(Side::kLr), 1, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::get<framepair::v1::IngestRequest>(*r).video(), "footage/sha256/lr");
  EXPECT_EQ(std::get<framepair::v1::IngestRequest>(*r).role(), "lr");

  up.erase("align");
  r = BuildTaskRequest("j1", spec, TaskId::Scene(), 1, up);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(JobPlanTest, TaskStateTextRoundTripsThroughOldClients) {
  framepair::v1::TaskStatus s;
  SetTaskState(&s, framepair::v1::TASK_DONE);
  EXPECT_EQ(s.state(), "done");
  EXPECT_EQ(TaskStateOf(s), framepair::v1::TASK_DONE);
  framepair::v1::TaskStatus old;  // an older coordinator sent only the text
  old.set_state("running");
  EXPECT_EQ(TaskStateOf(old), framepair::v1::TASK_RUNNING);
}

}  // namespace
}  // namespace framepair
