#include "services/coordinator/coordinator_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataset/dataset.h"
#include "jobplan/job_plan.h"
#include "pipeline/parameters.h"
#include "services/common/grpc_status.h"
#include "spdlog/spdlog.h"
#include "storage/inputs.h"
#include "storage/object_store.h"
#include "util/quote.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using framepair::v1::Job;
using framepair::v1::JobEvent;

framepair::v1::JobState ToProtoState(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return framepair::v1::JOB_QUEUED;
    case JobState::kRunning:
      return framepair::v1::JOB_RUNNING;
    case JobState::kSucceeded:
      return framepair::v1::JOB_SUCCEEDED;
    case JobState::kFailed:
      return framepair::v1::JOB_FAILED;
    case JobState::kCancelled:
      return framepair::v1::JOB_CANCELLED;
  }
  return framepair::v1::JOB_STATE_UNSPECIFIED;
}

std::optional<JobState> FromProtoState(framepair::v1::JobState s) {
  switch (s) {
    case framepair::v1::JOB_QUEUED:
      return JobState::kQueued;
    case framepair::v1::JOB_RUNNING:
      return JobState::kRunning;
    case framepair::v1::JOB_SUCCEEDED:
      return JobState::kSucceeded;
    case framepair::v1::JOB_FAILED:
      return JobState::kFailed;
    case framepair::v1::JOB_CANCELLED:
      return JobState::kCancelled;
    default:
      return std::nullopt;
  }
}

framepair::v1::TaskState ToProtoTaskState(TaskState s) {
  switch (s) {
    case TaskState::kPending:
      return framepair::v1::TASK_PENDING;
    case TaskState::kRunning:
      return framepair::v1::TASK_RUNNING;
    case TaskState::kDone:
      return framepair::v1::TASK_DONE;
    case TaskState::kFailed:
      return framepair::v1::TASK_FAILED;
    case TaskState::kCancelled:
      return framepair::v1::TASK_CANCELLED;
  }
  return framepair::v1::TASK_STATE_UNSPECIFIED;
}

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const absl::Status& s) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

std::string LowerJobState(JobState s) {
  std::string name(JobStateName(s));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

constexpr int kMaxRepeated = 1000;

size_t StringLimit(const std::string& field) {
  if (field == "request_id") return 128;
  if (field == "display_name" || field == "file_name") return 1024;
  if (field == "storage_path") return 4096;
  if (field == "job_id" || field == "dataset" || field == "page_token" || field == "sha256") {
    return 64;
  }
  return 256;
}

absl::Status CheckLimits(const google::protobuf::Message& m, const std::string& prefix) {
  const google::protobuf::Reflection* reflection = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);  // only the fields that are set
  for (const google::protobuf::FieldDescriptor* f : fields) {
    const std::string name = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    if (f->is_repeated()) {
      const int n = reflection->FieldSize(m, f);
      if (n > kMaxRepeated) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " has ", n, " entries; the limit is ", kMaxRepeated));
      }
      if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        for (int i = 0; i < n; ++i) {
          FP_RETURN_IF_ERROR(CheckLimits(reflection->GetRepeatedMessage(m, f, i),
                                         absl::StrCat(name, "[", i, "]")));
        }
      }
      continue;
    }
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      FP_RETURN_IF_ERROR(CheckLimits(reflection->GetMessage(m, f), name));
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      std::string scratch;
      const std::string& value = reflection->GetStringReference(m, f, &scratch);
      const size_t limit = StringLimit(f->name());
      if (value.size() > limit) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " is ", value.size(), " bytes; the limit is ", limit, " bytes"));
      }
    }
  }
  return absl::OkStatus();
}

// "ipv4:10.0.0.7:53122" -> "ipv4:10.0.0.7": one client, whatever its source port.
std::string ClientOf(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  const size_t first = peer.find(':');
  return colon == std::string::npos || colon == first ? peer : peer.substr(0, colon);
}

}  // namespace

absl::Status CheckRequestLimits(const google::protobuf::Message& request) {
  return CheckLimits(request, "");
}

absl::StatusOr<Job> CoordinatorService::ToProto(const JobRecord& r, bool with_tasks) {
  Job job;
  job.set_id(r.id);
  job.set_request_id(r.request_id);
  job.mutable_spec()->ParseFromString(r.spec);
  job.set_state(ToProtoState(r.state));
  job.set_error(r.error);
  job.set_created_unix_ms(r.created_unix_ms);
  job.set_updated_unix_ms(r.updated_unix_ms);
  if (r.state == JobState::kSucceeded) {
    job.mutable_result()->ParseFromString(r.result);
    if (!job.result().dataset_dir().empty()) {
      job.mutable_result()->set_dataset_path(
          absl::StrCat(storage_.location(), "/", job.result().dataset_dir()));
    }
  }
  if (!with_tasks) return job;
  FP_ASSIGN_OR_RETURN(std::vector<TaskRecord> tasks, store_->GetTasks(r.id));
  auto progress = scheduler_->Progress(r.id);
  for (const TaskRecord& t : tasks) {
    framepair::v1::TaskStatus* s = job.add_tasks();
    s->set_name(t.name);
    s->set_kind(t.kind);
    SetTaskState(s, ToProtoTaskState(t.state));
    s->set_attempt(t.attempt);
    s->set_retries(t.retries);
    s->set_worker(t.worker);
    s->set_error(t.error);
    if (auto it = progress.find(t.name); it != progress.end() && t.state == TaskState::kRunning) {
      s->set_done(it->second.first);
      s->set_total(it->second.second);
    }
  }
  return job;
}

absl::StatusOr<JobRecord> CoordinatorService::GetJobFor(std::string_view job_id,
                                                        const Caller& caller) {
  FP_ASSIGN_OR_RETURN(JobRecord record, store_->GetJob(job_id));
  if (!caller.admin && record.owner != caller.name) {
    return absl::PermissionDeniedError(
        absl::StrCat("job ", record.id,
                     " was submitted by another client; only its submitter "
                     "or an admin token may see or change it"));
  }
  return record;
}

absl::StatusOr<framepair::v1::SubmitJobResponse> CoordinatorService::Submit(
    const framepair::v1::SubmitJobRequest& request, const Caller& caller) {
  FP_RETURN_IF_ERROR(CheckRequestLimits(request));
  const framepair::v1::JobSpec& spec = request.spec();
  FP_RETURN_IF_ERROR(StorageRoot::ValidateName("dataset name", spec.dataset()));
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFor(spec.parameters()));
  FP_RETURN_IF_ERROR(CheckNameTemplate(options.name_template, /*job=*/true));
  const bool hr_only = options.pack.hr_only;
  if (!spec.hr().storage_path().empty()) {
    FP_RETURN_IF_ERROR(CheckInput(storage_, spec.hr().storage_path(), "HR footage"));
  } else {
    return absl::InvalidArgumentError("the job names no HR footage");
  }
  if (hr_only && !spec.lr().storage_path().empty()) {
    return absl::InvalidArgumentError("an HR-only job takes no LR footage");
  }
  if (!hr_only) {
    FP_RETURN_IF_ERROR(CheckInput(storage_, spec.lr().storage_path(), "LR footage"));
  }

  // The duplicate rule up front for uploaded footage (its sha256 is its name); the publisher
  // applies it to every job once ingest knows the sources' hashes. A repeated request (same
  // request_id) is the job it created, answered below, not a duplicate.
  if (!spec.replace() && !store_->GetJobByRequestId(request.request_id()).ok()) {
    std::vector<std::string> sources;
    if (!hr_only) sources.push_back(FootageSha256(spec.lr()));
    sources.push_back(FootageSha256(spec.hr()));
    absl::StatusOr<framepair::v1::Manifest> dataset = PublishedManifest(storage_, spec.dataset());
    if (std::find(sources.begin(), sources.end(), "") == sources.end() && dataset.ok()) {
      const std::vector<std::string> same =
          DuplicateJobs(*dataset, "", sources, ParametersFor(options));
      if (!same.empty()) return DuplicateJobError(spec.dataset(), same.front());
    }
  }

  std::vector<TaskRecord> tasks;
  for (PlannedTask& planned : PlanJob(hr_only, PackTaskCount(spec.parameters()))) {
    TaskRecord t;
    t.name = std::move(planned.name);
    t.kind = std::string(TaskKindName(planned.id.kind));
    t.deps = std::move(planned.deps);
    tasks.push_back(std::move(t));
  }
  JobRecord record;
  record.request_id = request.request_id();
  record.dataset = spec.dataset();
  record.spec = spec.SerializeAsString();
  record.owner = caller.name;
  const size_t task_count = tasks.size();
  FP_ASSIGN_OR_RETURN(CreateJobResult created, store_->CreateJob(record, std::move(tasks)));
  if (created.created) {
    // The identity, never the token (handlers never see it).
    spdlog::info("{}: submitted by {} (dataset {}, {} tasks)", created.job.id,
                 caller.name.empty() ? "an anonymous client" : caller.name, spec.dataset(),
                 task_count);
    JobEvent event;
    event.mutable_state()->set_state(framepair::v1::JOB_QUEUED);
    scheduler_->RecordEvent(created.job.id, event);
    scheduler_->Wake();
  }
  framepair::v1::SubmitJobResponse response;
  FP_ASSIGN_OR_RETURN(*response.mutable_job(), ToProto(created.job, true));
  response.set_created(created.created);
  return response;
}

absl::StatusOr<framepair::v1::ListJobsResponse> CoordinatorService::List(
    const framepair::v1::ListJobsRequest& request, const Caller& caller) {
  FP_RETURN_IF_ERROR(CheckRequestLimits(request));
  ListJobsQuery query;
  query.dataset = request.dataset();
  query.state = FromProtoState(request.state());
  query.limit = request.page_size() <= 0 ? 50 : std::min(request.page_size(), 500);
  query.page_token = request.page_token();
  query.max_bytes = options_.list_page_bytes;
  if (!caller.admin) query.owner = caller.name;
  FP_ASSIGN_OR_RETURN(JobPage page, store_->ListJobs(query));
  framepair::v1::ListJobsResponse response;
  for (const JobRecord& r : page.jobs) {
    FP_ASSIGN_OR_RETURN(*response.add_jobs(), ToProto(r, false));
  }
  response.set_next_page_token(page.next_page_token);
  return response;
}

absl::Status CoordinatorService::Delete(std::string_view job_id, const Caller& caller) {
  FP_ASSIGN_OR_RETURN(JobRecord record, GetJobFor(job_id, caller));
  if (!IsTerminal(record.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", record.id, " is ", LowerJobState(record.state),
                     "; cancel it first (framepair cancel ", record.id, ")"));
  }
  FP_RETURN_IF_ERROR(store_->DeleteJob(job_id));
  spdlog::info("{}: deleted by {}", record.id,
               caller.name.empty() ? "an anonymous client" : caller.name);
  // The last attempt of a cancelled job removes the directory again when it ends.
  (void)storage_.RemoveWorkDir(job_id);
  return absl::OkStatus();
}

bool CoordinatorService::Owns(const std::string& job_id, const Caller& caller) {
  if (caller.admin) return true;
  absl::StatusOr<JobRecord> record = store_->GetJob(job_id);
  return record.ok() && record->owner == caller.name;
}

absl::StatusOr<DatasetFile> CoordinatorService::DatasetFileFor(
    const framepair::v1::ReadDatasetFileRequest& request, const Caller& caller) {
  FP_RETURN_IF_ERROR(CheckRequestLimits(request));
  if (request.offset() < 0) return absl::InvalidArgumentError("offset must be >= 0");
  FP_ASSIGN_OR_RETURN(DatasetFile file,
                      FindDatasetFile(storage_, request.dataset(), request.file()));
  if (!file.job_id.empty()) {
    if (Owns(file.job_id, caller)) return file;
    return absl::PermissionDeniedError(
        absl::StrCat(request.file(), " belongs to job ", file.job_id,
                     ", submitted by another client; only its submitter or an admin token may "
                     "read it"));
  }
  for (const std::string& job : file.dataset_jobs) {
    if (Owns(job, caller)) return file;
  }
  if (caller.admin) return file;
  return absl::PermissionDeniedError(
      absl::StrCat("dataset '", request.dataset(),
                   "' holds no job of this client; only an "
                   "admin token or the submitter of one of its jobs may read ",
                   request.file()));
}

absl::StatusOr<framepair::v1::FindFootageResponse> CoordinatorService::Find(
    const framepair::v1::FindFootageRequest& request) {
  FP_RETURN_IF_ERROR(CheckRequestLimits(request));
  FP_RETURN_IF_ERROR(StorageRoot::ValidateSha256Hex(request.sha256()));
  framepair::v1::FindFootageResponse response;
  FP_ASSIGN_OR_RETURN(std::string path, storage_.FootagePath(request.sha256()));
  FP_ASSIGN_OR_RETURN(std::string relative, storage_.Relativize(path));
  // Stored files are named by the hash of what was checked on upload; the size guards against
  // a file changed under the storage root since. On a bucket root, the object's size.
  absl::StatusOr<int64_t> size = storage_.StoredSize(relative);
  if (!size.ok() || *size != request.size()) return response;
  response.set_storage_path(relative);
  return response;
}

absl::StatusOr<framepair::v1::ListDatasetsResponse> CoordinatorService::Datasets(
    const Caller& caller) {
  FP_ASSIGN_OR_RETURN(std::vector<framepair::v1::DatasetSummary> all,
                      ListPublishedDatasets(storage_));
  framepair::v1::ListDatasetsResponse response;
  for (framepair::v1::DatasetSummary& d : all) {
    if (!caller.admin) {
      auto* jobs = d.mutable_jobs();
      jobs->erase(std::remove_if(jobs->begin(), jobs->end(),
                                 [&](const auto& j) { return !Owns(j.job_id(), caller); }),
                  jobs->end());
      if (jobs->empty()) continue;
    }
    *response.add_datasets() = std::move(d);
  }
  return response;
}

absl::StatusOr<framepair::v1::DeleteDatasetResponse> CoordinatorService::RemoveDataset(
    const framepair::v1::DeleteDatasetRequest& request, const Caller& caller) {
  FP_RETURN_IF_ERROR(CheckRequestLimits(request));
  if (!request.job_id().empty()) {
    FP_RETURN_IF_ERROR(StorageRoot::ValidateName("job id", request.job_id()));
  }
  FP_ASSIGN_OR_RETURN(DatasetFile manifest,
                      FindDatasetFile(storage_, request.dataset(), "manifest.json"));
  for (const std::string& job : manifest.dataset_jobs) {
    if ((request.job_id().empty() || job == request.job_id()) && !Owns(job, caller)) {
      return absl::PermissionDeniedError(
          absl::StrCat("job ", job, " of dataset '", request.dataset(),
                       "' was submitted by another client; only its submitter or an admin token "
                       "may remove it"));
    }
  }
  if (!caller.admin && manifest.dataset_jobs.empty()) {
    return absl::PermissionDeniedError("only an admin token may remove a dataset without jobs");
  }
  absl::StatusOr<framepair::v1::DeleteDatasetResponse> removed = scheduler_->WhilePublishingPaused(
      [&] { return RemoveFromDataset(storage_, request.dataset(), request.job_id()); });
  if (removed.ok()) {
    spdlog::info("dataset {}: {} removed by {}", request.dataset(),
                 request.job_id().empty() ? "everything" : "job " + request.job_id(),
                 caller.name.empty() ? "an anonymous client" : caller.name);
  }
  return removed;
}

absl::Status CoordinatorService::AdmitUpload(const std::string& peer, int64_t bytes) {
  std::lock_guard<std::mutex> lock(uploads_mu_);
  int& mine = uploads_by_client_[peer];
  if (mine >= options_.max_uploads_per_client) {
    if (mine == 0) uploads_by_client_.erase(peer);
    return absl::ResourceExhaustedError(
        absl::StrCat("this client already has ", options_.max_uploads_per_client,
                     " uploads in progress; wait for one to finish and retry"));
  }
  absl::StatusOr<int64_t> free = options_.free_bytes ? options_.free_bytes() : storage_.FreeBytes();
  if (!free.ok()) return free.status();
  const int64_t available = *free - upload_bytes_reserved_ - options_.min_free_bytes;
  if (bytes > available) {
    if (mine == 0) uploads_by_client_.erase(peer);
    return absl::ResourceExhaustedError(absl::StrCat(
        "the storage root has no room for ", bytes, " more bytes (", *free, " free, of which ",
        upload_bytes_reserved_, " are promised to uploads in progress and ",
        options_.min_free_bytes, " are kept free); retry later or ask the operator to free space"));
  }
  ++mine;
  upload_bytes_reserved_ += bytes;
  return absl::OkStatus();
}

void CoordinatorService::EndUpload(const std::string& peer, int64_t bytes) {
  std::lock_guard<std::mutex> lock(uploads_mu_);
  upload_bytes_reserved_ -= bytes;
  if (--uploads_by_client_[peer] <= 0) uploads_by_client_.erase(peer);
}

absl::StatusOr<Job> CoordinatorService::Describe(std::string_view job_id, bool with_tasks,
                                                 const Caller& caller) {
  FP_ASSIGN_OR_RETURN(JobRecord record, GetJobFor(job_id, caller));
  return ToProto(record, with_tasks);
}

absl::StatusOr<Job> CoordinatorService::Cancel(std::string_view job_id, const Caller& caller) {
  FP_ASSIGN_OR_RETURN(JobRecord record, GetJobFor(job_id, caller));
  if (!IsTerminal(record.state)) {
    absl::Status s = store_->SetJobState(job_id, JobState::kCancelled, "cancelled by the user");
    if (s.ok()) {
      spdlog::info("{}: cancelled by {}", record.id,
                   caller.name.empty() ? "an anonymous client" : caller.name);
      scheduler_->CancelJob(std::string(job_id));
      JobEvent event;
      event.mutable_state()->set_state(framepair::v1::JOB_CANCELLED);
      event.mutable_state()->set_error("cancelled by the user");
      scheduler_->RecordEvent(std::string(job_id), event);
    } else if (s.code() != absl::StatusCode::kFailedPrecondition) {
      return s;  // FAILED_PRECONDITION: it finished meanwhile; report what it is
    }
  }
  return Describe(job_id, true, caller);
}

template <typename Fn>
grpc::ServerUnaryReactor* CoordinatorService::OnExecutor(grpc::CallbackServerContext* context,
                                                         Fn fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(
      executor_, [reactor, fn = std::move(fn)]() mutable { reactor->Finish(ToGrpcStatus(fn())); });
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::SubmitJob(
    grpc::CallbackServerContext* context, const framepair::v1::SubmitJobRequest* request,
    framepair::v1::SubmitJobResponse* response) {
  return OnExecutor(
      context, [this, request, response, caller = CallerOf(options_.identities.get(), *context)] {
        absl::StatusOr<framepair::v1::SubmitJobResponse> r = Submit(*request, caller);
        if (r.ok()) *response = *std::move(r);
        return r.status();
      });
}

grpc::ServerUnaryReactor* CoordinatorService::GetJob(grpc::CallbackServerContext* context,
                                                     const framepair::v1::GetJobRequest* request,
                                                     Job* response) {
  if (absl::Status s = CheckRequestLimits(*request); !s.ok()) return Reply(context, s);
  return OnExecutor(
      context, [this, request, response, caller = CallerOf(options_.identities.get(), *context)] {
        absl::StatusOr<Job> r = Describe(request->job_id(), true, caller);
        if (r.ok()) *response = *std::move(r);
        return r.status();
      });
}

grpc::ServerUnaryReactor* CoordinatorService::ListJobs(
    grpc::CallbackServerContext* context, const framepair::v1::ListJobsRequest* request,
    framepair::v1::ListJobsResponse* response) {
  return OnExecutor(
      context, [this, request, response, caller = CallerOf(options_.identities.get(), *context)] {
        absl::StatusOr<framepair::v1::ListJobsResponse> r = List(*request, caller);
        if (r.ok()) *response = *std::move(r);
        return r.status();
      });
}

grpc::ServerUnaryReactor* CoordinatorService::DeleteJob(
    grpc::CallbackServerContext* context, const framepair::v1::DeleteJobRequest* request,
    framepair::v1::DeleteJobResponse*) {
  if (absl::Status s = CheckRequestLimits(*request); !s.ok()) return Reply(context, s);
  return OnExecutor(context,
                    [this, request, caller = CallerOf(options_.identities.get(), *context)] {
                      return Delete(request->job_id(), caller);
                    });
}

grpc::ServerUnaryReactor* CoordinatorService::CancelJob(
    grpc::CallbackServerContext* context, const framepair::v1::CancelJobRequest* request,
    Job* response) {
  if (absl::Status s = CheckRequestLimits(*request); !s.ok()) return Reply(context, s);
  return OnExecutor(
      context, [this, request, response, caller = CallerOf(options_.identities.get(), *context)] {
        absl::StatusOr<Job> r = Cancel(request->job_id(), caller);
        if (r.ok()) *response = *std::move(r);
        return r.status();
      });
}

grpc::ServerUnaryReactor* CoordinatorService::FindFootage(
    grpc::CallbackServerContext* context, const framepair::v1::FindFootageRequest* request,
    framepair::v1::FindFootageResponse* response) {
  return OnExecutor(context, [this, request, response] {
    absl::StatusOr<framepair::v1::FindFootageResponse> r = Find(*request);
    if (r.ok()) *response = *std::move(r);
    return r.status();
  });
}

grpc::ServerUnaryReactor* CoordinatorService::ListDatasets(
    grpc::CallbackServerContext* context, const framepair::v1::ListDatasetsRequest*,
    framepair::v1::ListDatasetsResponse* response) {
  return OnExecutor(context,
                    [this, response, caller = CallerOf(options_.identities.get(), *context)] {
                      absl::StatusOr<framepair::v1::ListDatasetsResponse> r = Datasets(caller);
                      if (r.ok()) *response = *std::move(r);
                      return r.status();
                    });
}

grpc::ServerUnaryReactor* CoordinatorService::DeleteDataset(
    grpc::CallbackServerContext* context, const framepair::v1::DeleteDatasetRequest* request,
    framepair::v1::DeleteDatasetResponse* response) {
  return OnExecutor(
      context, [this, request, response, caller = CallerOf(options_.identities.get(), *context)] {
        absl::StatusOr<framepair::v1::DeleteDatasetResponse> r = RemoveDataset(*request, caller);
        if (r.ok()) *response = *std::move(r);
        return r.status();
      });
}

// ReadDatasetFile: the checks on the executor (they read the manifest and the job store),
// then the file in chunks, one write at a time. A chunk is read on the thread that saw the
// previous write complete: one bounded pread of a local file. gRPC calls OnDone only after
// Finish, and only this reactor calls Finish (never OnCancel: a cancelled call fails its
// write), so nothing runs after deletion.
class ReadFileReactor : public grpc::ServerWriteReactor<framepair::v1::ReadDatasetFileResponse> {
 public:
  static constexpr int64_t kChunkBytes = 1 << 20;

  ReadFileReactor(CoordinatorService* service, framepair::v1::ReadDatasetFileRequest request,
                  Caller caller)
      : service_(service), request_(std::move(request)), caller_(std::move(caller)) {
    boost::asio::post(service_->executor_, [this] { Start(); });
  }
  ~ReadFileReactor() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::CANCELLED);
    if (offset_ >= size_) return Finish(grpc::Status::OK);
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Start() {
    absl::StatusOr<DatasetFile> file = service_->DatasetFileFor(request_, caller_);
    if (!file.ok()) return Finish(ToGrpcStatus(file.status()));
    if (!file->key.empty()) {  // an object of a bucket root: ranged GETs on the executor
      absl::StatusOr<std::unique_ptr<ObjectStore>> store = service_->storage_.OpenStore();
      if (!store.ok()) return Finish(ToGrpcStatus(store.status()));
      store_ = *std::move(store);
      key_ = file->key;
      size_ = file->size;
      return Begin();
    }
    fd_ = ::open(file->path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) {
      return Finish(ToGrpcStatus(absl::InternalError(absl::StrCat(
          "cannot open ", request_.file(), " of dataset '", request_.dataset(), "'"))));
    }
    size_ = st.st_size;
    Begin();
  }

  void Begin() {
    offset_ = request_.offset();
    if (offset_ > size_) {
      return Finish(ToGrpcStatus(absl::OutOfRangeError(absl::StrCat(
          "offset ", offset_, " is past the end of ", request_.file(), " (", size_, " bytes)"))));
    }
    Next();  // at the end already: one message with the size and no bytes
  }

  void Next() {
    if (store_ != nullptr) {
      // A request to the bucket may take long: not on a gRPC thread.
      return boost::asio::post(service_->executor_, [this] { NextObjectChunk(); });
    }
    const int64_t want = std::min(kChunkBytes, size_ - offset_);
    std::string* chunk = out_.mutable_chunk();
    chunk->resize(static_cast<size_t>(want));
    int64_t got = 0;
    while (got < want) {
      const ssize_t n = ::pread(fd_, chunk->data() + got, static_cast<size_t>(want - got),
                                static_cast<off_t>(offset_ + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Finish(ToGrpcStatus(
            absl::DataLossError(absl::StrCat(request_.file(), " of dataset '", request_.dataset(),
                                             "' became shorter while it was read; ask again"))));
      }
      got += n;
    }
    out_.set_size(size_);
    offset_ += want;
    StartWrite(&out_);
  }

  void NextObjectChunk() {
    const int64_t want = std::min(kChunkBytes, size_ - offset_);
    absl::StatusOr<std::string> chunk = store_->GetRange(key_, offset_, want);
    if (!chunk.ok()) return Finish(ToGrpcStatus(chunk.status()));
    if (static_cast<int64_t>(chunk->size()) != want) {
      return Finish(ToGrpcStatus(
          absl::DataLossError(absl::StrCat(request_.file(), " of dataset '", request_.dataset(),
                                           "' changed while it was read; ask again"))));
    }
    *out_.mutable_chunk() = *std::move(chunk);
    out_.set_size(size_);
    offset_ += want;
    StartWrite(&out_);
  }

  CoordinatorService* service_;
  const framepair::v1::ReadDatasetFileRequest request_;
  const Caller caller_;
  std::unique_ptr<ObjectStore> store_;  // a bucket root's object, read in ranges
  std::string key_;
  int fd_ = -1;
  int64_t size_ = 0;
  int64_t offset_ = 0;
  framepair::v1::ReadDatasetFileResponse out_;
};

grpc::ServerWriteReactor<framepair::v1::ReadDatasetFileResponse>*
CoordinatorService::ReadDatasetFile(grpc::CallbackServerContext* context,
                                    const framepair::v1::ReadDatasetFileRequest* request) {
  return new ReadFileReactor(this, *request, CallerOf(options_.identities.get(), *context));
}

// UploadFootage: header, then chunks straight into a FootageUpload (hashed on the way).
class UploadReactor : public grpc::ServerReadReactor<framepair::v1::UploadFootageRequest> {
 public:
  UploadReactor(CoordinatorService* service, std::string client,
                framepair::v1::UploadFootageResponse* response)
      : service_(service),
        storage_(service->storage_),
        options_(service->options_),
        client_(std::move(client)),
        response_(response) {
    StartRead(&request_);
  }
  ~UploadReactor() override {
    if (admitted_) service_->EndUpload(client_, admitted_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // client finished writing
      if (!upload_) return Done(absl::InvalidArgumentError("upload ended before its header"));
      absl::StatusOr<std::string> path = upload_->Commit();
      if (!path.ok()) return Done(path.status());
      response_->set_storage_path(*path);
      response_->set_bytes(upload_->bytes_received());
      return Done(absl::OkStatus());
    }
    if (request_.has_header()) {
      if (upload_) return Done(absl::InvalidArgumentError("a second upload header"));
      if (absl::Status s = CheckRequestLimits(request_); !s.ok()) return Done(s);
      const int64_t declared = request_.header().size();
      if (declared >= 0 && declared <= options_.max_upload_bytes) {
        // (Begin() explains the other sizes.)
        if (absl::Status s = service_->AdmitUpload(client_, declared); !s.ok()) return Done(s);
        admitted_ = true;
        admitted_bytes_ = declared;
      }
      absl::StatusOr<FootageUpload> upload =
          FootageUpload::Begin(storage_, request_.header().sha256(), request_.header().size(),
                               options_.max_upload_bytes);
      if (!upload.ok()) return Done(upload.status());
      upload_.emplace(*std::move(upload));
    } else {
      if (!upload_) return Done(absl::InvalidArgumentError("the first message must be the header"));
      if (static_cast<int64_t>(request_.chunk().size()) > options_.max_chunk_bytes) {
        return Done(absl::InvalidArgumentError(absl::StrCat(
            "chunk of ", request_.chunk().size(), " bytes; at most ", options_.max_chunk_bytes)));
      }
      absl::Status s = upload_->Append(request_.chunk());
      if (!s.ok()) return Done(s);
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  void Done(const absl::Status& s) {
    if (!s.ok()) upload_.reset();  // removes the temporary file
    Finish(ToGrpcStatus(s));
  }

  CoordinatorService* service_;
  const StorageRoot& storage_;
  const CoordinatorServiceOptions& options_;
  const std::string client_;
  bool admitted_ = false;
  int64_t admitted_bytes_ = 0;
  framepair::v1::UploadFootageResponse* response_;
  framepair::v1::UploadFootageRequest request_;
  std::optional<FootageUpload> upload_;
};

grpc::ServerReadReactor<framepair::v1::UploadFootageRequest>* CoordinatorService::UploadFootage(
    grpc::CallbackServerContext* context, framepair::v1::UploadFootageResponse* response) {
  return new UploadReactor(this, ClientOf(context->peer()), response);
}

// A WatchJob refused before it started.
class RefusedWatch : public grpc::ServerWriteReactor<JobEvent> {
 public:
  void Refuse(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// WatchJob: a snapshot, then stored events as they arrive, one write at a time, until the
// job's terminal state has been sent. Every store read runs on the service's executor, never
// on a gRPC reaction thread and never inside EventHub::Notify (which only records the seq).
// The reactor deletes itself once gRPC is done with it and no executor task of it is left.
class WatchReactor : public grpc::ServerWriteReactor<JobEvent>, public EventListener {
 public:
  WatchReactor(CoordinatorService* service, std::string job_id, int64_t after_seq, Caller caller)
      : service_(service),
        job_id_(std::move(job_id)),
        caller_(std::move(caller)),
        last_seq_(after_seq) {}

  void Begin() {
    std::lock_guard<std::mutex> lock(mu_);
    PostLocked([this] { Start(); });
  }

  void OnJobEvent(int64_t seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    notified_seq_ = std::max(notified_seq_, seq);
    ScheduleFetchLocked();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) return FinishLocked(grpc::Status::CANCELLED);
    PumpLocked();
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      if (ops_ > 0) return;  // the last executor task destroys it
    }
    Destroy();
  }

 private:
  static bool IsTerminalProto(framepair::v1::JobState s) {
    return s == framepair::v1::JOB_SUCCEEDED || s == framepair::v1::JOB_FAILED ||
           s == framepair::v1::JOB_CANCELLED;
  }

  // Runs `fn` on the service's executor; the reactor stays alive until it has run.
  void PostLocked(std::function<void()> fn) {
    ++ops_;
    boost::asio::post(service_->executor_, [this, fn = std::move(fn)] {
      fn();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--ops_ > 0 || !done_) return;
      }
      Destroy();
    });
  }
  // Only when gRPC is done and no task is left: nothing else can touch the reactor, and after
  // Unsubscribe (which waits for a running Notify) the hub cannot either.
  void Destroy() {
    if (subscribed_) service_->hub_->Unsubscribe(job_id_, this);
    delete this;
  }

  // On the executor. The store is read without holding mu_ (Notify takes mu_ through
  // OnJobEvent, and must never wait for SQLite).
  void Start() {
    if (absl::StatusOr<JobRecord> job = service_->GetJobFor(job_id_, caller_); !job.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      return FinishLocked(ToGrpcStatus(job.status()));
    }
    // Subscribed before anything is read: an event stored meanwhile is notified, not lost.
    service_->hub_->Subscribe(job_id_, this);
    subscribed_ = true;
    std::optional<JobEvent> snapshot;
    bool drain_only = false;
    int64_t last_seq = last_seq_;
    if (last_seq == 0) {
      absl::StatusOr<int64_t> seq = service_->store_->LastEventSeq(job_id_);
      absl::StatusOr<Job> job = service_->Describe(job_id_, true, caller_);
      if (!seq.ok() || !job.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        return FinishLocked(ToGrpcStatus(!seq.ok() ? seq.status() : job.status()));
      }
      // Events up to `seq` are in the snapshot; later ones follow.
      last_seq = *seq;
      snapshot.emplace();
      snapshot->set_seq(*seq);
      *snapshot->mutable_snapshot() = *std::move(job);
    } else {
      absl::StatusOr<JobRecord> job = service_->store_->GetJob(job_id_);
      absl::StatusOr<int64_t> seq = service_->store_->LastEventSeq(job_id_);
      if (!job.ok() || !seq.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        return FinishLocked(ToGrpcStatus(!job.ok() ? job.status() : seq.status()));
      }
      if (IsTerminal(job->state)) {
        // Nothing more will come than what is stored now (its terminal event possibly at or
        // before after_seq): send that, then end.
        drain_only = true;
      } else if (last_seq > *seq) {
        std::lock_guard<std::mutex> lock(mu_);
        return FinishLocked(ToGrpcStatus(absl::OutOfRangeError(
            absl::StrCat("after_seq ", last_seq, " is past the last event (", *seq, ") of job ",
                         job->id, "; resume with a seq you have seen, or 0 for a snapshot"))));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    last_seq_ = last_seq;
    drain_only_ = drain_only;
    if (snapshot) {
      if (IsTerminalProto(snapshot->snapshot().state())) terminal_sent_ = true;
      queue_.push_back(*std::move(snapshot));
    }
    started_ = true;
    more_stored_ = true;  // one read for what was stored before the subscription
    PumpLocked();
  }

  // Reads the next events when the queue is empty and the store holds more than was read.
  void ScheduleFetchLocked() {
    if (!started_ || fetching_ || finished_ || done_ || terminal_queued_ || terminal_sent_ ||
        !queue_.empty()) {
      return;
    }
    if (!more_stored_ && notified_seq_ <= fetched_seq()) return;
    fetching_ = true;
    more_stored_ = false;
    PostLocked([this] { Fetch(); });
  }

  // On the executor.
  void Fetch() {
    int64_t after = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      after = fetched_seq();
    }
    absl::StatusOr<std::vector<EventRecord>> events =
        service_->store_->EventsAfter(job_id_, after, kFetchLimit);
    std::lock_guard<std::mutex> lock(mu_);
    fetching_ = false;
    if (!events.ok()) return FinishLocked(ToGrpcStatus(events.status()));
    more_stored_ = events->size() == kFetchLimit;
    // A finished job's stream is complete once a read comes back short.
    if (drain_only_ && !more_stored_) terminal_queued_ = true;
    for (const EventRecord& e : *events) {
      JobEvent event;
      event.ParseFromString(e.payload);
      event.set_seq(e.seq);
      fetched_ = e.seq;
      const bool terminal = event.has_state() && IsTerminalProto(event.state().state());
      queue_.push_back(std::move(event));
      if (terminal) {
        terminal_queued_ = true;
        break;
      }
    }
    PumpLocked();
  }
  int64_t fetched_seq() const { return std::max(fetched_, last_seq_); }

  void PumpLocked() {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&out_);
      return;
    }
    if (terminal_sent_ || terminal_queued_) return FinishLocked(grpc::Status::OK);
    ScheduleFetchLocked();
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  static constexpr size_t kFetchLimit = 256;
  CoordinatorService* service_;
  const std::string job_id_;
  const Caller caller_;
  bool subscribed_ = false;  // written by Start (an executor task), read by Destroy (after all)
  std::mutex mu_;
  int64_t last_seq_;          // the client's after_seq, then the snapshot's seq
  int64_t fetched_ = 0;       // seq of the last event read
  int64_t notified_seq_ = 0;  // highest seq the hub announced
  int ops_ = 0;               // executor tasks not yet finished
  std::deque<JobEvent> queue_;
  JobEvent out_;
  bool started_ = false;
  bool fetching_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool done_ = false;  // OnDone: gRPC no longer uses the reactor
  bool terminal_sent_ = false;
  bool terminal_queued_ = false;
  bool drain_only_ = false;   // the job was already finished when the watch began
  bool more_stored_ = false;  // the last read was full: more events may be stored
};

grpc::ServerWriteReactor<JobEvent>* CoordinatorService::WatchJob(
    grpc::CallbackServerContext* context, const framepair::v1::WatchJobRequest* request) {
  if (absl::Status s = CheckRequestLimits(*request); !s.ok()) {
    auto* reactor = new RefusedWatch;
    reactor->Refuse(ToGrpcStatus(s));
    return reactor;
  }
  auto* reactor = new WatchReactor(this, request->job_id(), request->after_seq(),
                                   CallerOf(options_.identities.get(), *context));
  reactor->Begin();
  return reactor;
}

}  // namespace framepair
