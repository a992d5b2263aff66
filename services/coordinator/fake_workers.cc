#include "services/coordinator/fake_workers.h"

#include <chrono>
#include <filesystem>

#include "util/file.h"
#include "util/sha256.h"

namespace framepair {

using framepair::v1::TaskResult;
using framepair::v1::TaskUpdate;

void FakeWorkers::SetHook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hook_ = std::move(hook);
}

void FakeWorkers::RegisterWith(grpc::ServerBuilder& builder) {
  builder.RegisterService(static_cast<framepair::v1::Ingest::Service*>(this));
  builder.RegisterService(static_cast<framepair::v1::Align::Service*>(this));
  builder.RegisterService(static_cast<framepair::v1::Scene::Service*>(this));
  builder.RegisterService(static_cast<framepair::v1::Packer::Service*>(this));
}

std::vector<FakeWorkers::Call> FakeWorkers::Calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

grpc::Status FakeWorkers::Ingest(grpc::ServerContext* c, const framepair::v1::IngestRequest* r,
                                 grpc::ServerWriter<TaskUpdate>* w) {
  return Answer(c, r->task(), w, [&](TaskResult* out) {
    out->mutable_ingest()->set_frame_table(r->task().work_dir() + "/" + r->role() + ".frames");
    out->mutable_ingest()->mutable_source()->set_role(r->role());
    out->mutable_ingest()->mutable_source()->set_width(64);
    out->mutable_ingest()->mutable_source()->set_height(48);
  });
}

grpc::Status FakeWorkers::Align(grpc::ServerContext* c, const framepair::v1::AlignRequest* r,
                                grpc::ServerWriter<TaskUpdate>* w) {
  return Answer(c, r->task(), w, [&](TaskResult* out) {
    out->mutable_align()->set_pairs(r->task().work_dir() + "/pairs");
    out->mutable_align()->set_pairs_aligned(10);
  });
}

grpc::Status FakeWorkers::Scene(grpc::ServerContext* c, const framepair::v1::SceneRequest* r,
                                grpc::ServerWriter<TaskUpdate>* w) {
  return Answer(c, r->task(), w, [&](TaskResult* out) {
    out->mutable_scene()->set_plan(r->task().work_dir() + "/plan");
    out->mutable_scene()->set_windows(1);
  });
}

grpc::Status FakeWorkers::Pack(grpc::ServerContext* c, const framepair::v1::PackRequest* r,
                               grpc::ServerWriter<TaskUpdate>* w) {
  return Answer(c, r->task(), w, [&](TaskResult* out) {
    const std::string bytes = "shard of " + r->task().job_id();
    const std::string dir = r->task().work_dir();
    std::error_code ec;
    std::filesystem::create_directories(root_ + "/" + dir, ec);
    (void)WriteFileAtomically(root_ + "/" + dir + "/" + r->shard_file_name(), bytes);
    auto* pack = out->mutable_pack();
    pack->set_shard(dir + "/" + r->shard_file_name());
    pack->mutable_entry()->set_file(r->shard_file_name());
    pack->mutable_entry()->set_examples(1);
    pack->mutable_entry()->set_bytes(static_cast<int64_t>(bytes.size()));
    pack->mutable_entry()->set_sha256(Sha256Hex(bytes));
  });
}

grpc::Status FakeWorkers::Answer(grpc::ServerContext* context, const framepair::v1::TaskRef& task,
                                 grpc::ServerWriter<TaskUpdate>* writer,
                                 const std::function<void(TaskResult*)>& produce) {
  Hook hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(Call{task.job_id(), task.task(), task.attempt(),
                          std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count()});
    hook = hook_;
  }
  if (hook) {
    grpc::Status s = hook(task.task(), task.attempt(), context);
    if (!s.ok()) return s;
  }
  TaskUpdate progress;
  progress.mutable_progress()->set_done(1);
  progress.mutable_progress()->set_total(1);
  writer->Write(progress);
  TaskUpdate result;
  produce(result.mutable_result());
  writer->Write(result);
  return grpc::Status::OK;
}

}  // namespace framepair
