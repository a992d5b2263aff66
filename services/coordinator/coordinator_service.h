// framepair-coordinator's public API (proto/framepair/v1/coordinator.proto) over the JobStore,
// the storage root and the Scheduler. Each method reads the request, calls those, and converts
// the status; nothing here blocks on a worker.
#pragma once

#include <algorithm>
#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "framepair/v1/coordinator.grpc.pb.h"
#include "jobs/job_store.h"
#include "services/common/token_auth.h"
#include "services/coordinator/datasets.h"
#include "services/coordinator/event_hub.h"
#include "services/coordinator/scheduler.h"
#include "storage/storage.h"

namespace framepair {

struct CoordinatorServiceOptions {
  int64_t max_upload_bytes = 64LL << 30;  // largest footage file accepted, default 64 GiB
  int max_chunk_bytes = 1 << 20;          // largest UploadFootage chunk, default 1 MiB
  // Concurrent uploads per client address (the coordinator's token is shared, so the peer's
  // IP address is the only identity a call has).
  int max_uploads_per_client = 4;
  // An upload must leave this much free on the storage root (the datasets and work files
  // need room too).
  int64_t min_free_bytes = 1LL << 30;
  // Free bytes of the storage root; default: statvfs (StorageRoot::FreeBytes). Tests inject.
  std::function<absl::StatusOr<int64_t>()> free_bytes;
  // A ListJobs page ends before its jobs' fields exceed this (well below the 4 MiB message
  // limit; a page always holds at least one job).
  int64_t list_page_bytes = 1 << 20;
  // Threads that run the RPCs' store calls (SQLite transactions, fsynced), so gRPC's reaction
  // threads never wait on the disk. Default 4.
  int executor_threads = 4;
  // The token file's identities (the server's --auth-token-file), to tell who calls; null =
  // no token auth: every caller is the anonymous admin.
  std::shared_ptr<const TokenIdentities> identities;
};

// Every string field of `request` (recursively) within its limit and every repeated field at
// most 1000 entries; INVALID_ARGUMENT naming the field ("spec.hr.display_name") and the limit.
// Limits: request_id 128 bytes, display_name and file_name 1024, storage_path 4096, job_id,
// dataset, page_token and sha256 64, any other string 256.
absl::Status CheckRequestLimits(const google::protobuf::Message& request);

class CoordinatorService final : public framepair::v1::Coordinator::CallbackService {
 public:
  CoordinatorService(JobStore* store, StorageRoot storage, Scheduler* scheduler, EventHub* hub,
                     CoordinatorServiceOptions options)
      : store_(store),
        storage_(std::move(storage)),
        scheduler_(scheduler),
        hub_(hub),
        options_(options),
        executor_(static_cast<size_t>(std::max(1, options.executor_threads))) {}
  // Runs what the executor still holds (gRPC waits for those calls to finish).
  ~CoordinatorService() override { executor_.join(); }

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const framepair::v1::SubmitJobRequest* request,
                                      framepair::v1::SubmitJobResponse* response) override;
  grpc::ServerReadReactor<framepair::v1::UploadFootageRequest>* UploadFootage(
      grpc::CallbackServerContext* context,
      framepair::v1::UploadFootageResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const framepair::v1::GetJobRequest* request,
                                   framepair::v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const framepair::v1::ListJobsRequest* request,
                                     framepair::v1::ListJobsResponse* response) override;
  grpc::ServerWriteReactor<framepair::v1::JobEvent>* WatchJob(
      grpc::CallbackServerContext* context, const framepair::v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const framepair::v1::CancelJobRequest* request,
                                      framepair::v1::Job* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context,
                                      const framepair::v1::DeleteJobRequest* request,
                                      framepair::v1::DeleteJobResponse* response) override;
  grpc::ServerWriteReactor<framepair::v1::ReadDatasetFileResponse>* ReadDatasetFile(
      grpc::CallbackServerContext* context,
      const framepair::v1::ReadDatasetFileRequest* request) override;
  grpc::ServerUnaryReactor* FindFootage(grpc::CallbackServerContext* context,
                                        const framepair::v1::FindFootageRequest* request,
                                        framepair::v1::FindFootageResponse* response) override;
  grpc::ServerUnaryReactor* ListDatasets(grpc::CallbackServerContext* context,
                                         const framepair::v1::ListDatasetsRequest* request,
                                         framepair::v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteDataset(grpc::CallbackServerContext* context,
                                          const framepair::v1::DeleteDatasetRequest* request,
                                          framepair::v1::DeleteDatasetResponse* response) override;

  // The library-level operations (testable without gRPC), on behalf of `caller`: a job
  // records who submitted it, and a caller that is not an admin sees, watches, cancels and
  // deletes only its own jobs (PERMISSION_DENIED for another's; List shows only its own).
  // The default caller is the anonymous admin of a server without token auth.
  absl::StatusOr<framepair::v1::SubmitJobResponse> Submit(
      const framepair::v1::SubmitJobRequest& request, const Caller& caller = {});
  // with_tasks = false leaves out task details (ListJobs).
  absl::StatusOr<framepair::v1::Job> Describe(std::string_view job_id, bool with_tasks = true,
                                              const Caller& caller = {});
  absl::StatusOr<framepair::v1::Job> Cancel(std::string_view job_id, const Caller& caller = {});
  absl::StatusOr<framepair::v1::ListJobsResponse> List(
      const framepair::v1::ListJobsRequest& request, const Caller& caller = {});
  // FAILED_PRECONDITION for a job that is not finished.
  absl::Status Delete(std::string_view job_id, const Caller& caller = {});
  // A dataset file `caller` may read (datasets.h FindDatasetFile, then the owner rule of
  // ReadDatasetFile in coordinator.proto).
  absl::StatusOr<DatasetFile> DatasetFileFor(const framepair::v1::ReadDatasetFileRequest& request,
                                             const Caller& caller);
  absl::StatusOr<framepair::v1::FindFootageResponse> Find(
      const framepair::v1::FindFootageRequest& request);
  absl::StatusOr<framepair::v1::ListDatasetsResponse> Datasets(const Caller& caller = {});
  absl::StatusOr<framepair::v1::DeleteDatasetResponse> RemoveDataset(
      const framepair::v1::DeleteDatasetRequest& request, const Caller& caller = {});

 private:
  friend class WatchReactor;
  friend class UploadReactor;
  friend class ReadFileReactor;
  // True when `caller` submitted the job (or is an admin); false also for a deleted job.
  bool Owns(const std::string& job_id, const Caller& caller);
  // Admission of one upload of `bytes` from `peer`: the per-client limit and free space.
  absl::Status AdmitUpload(const std::string& peer, int64_t bytes);
  void EndUpload(const std::string& peer, int64_t bytes);
  // Runs `fn` (returning absl::Status, writing the response) on executor_ and finishes the
  // call with its status there.
  template <typename Fn>
  grpc::ServerUnaryReactor* OnExecutor(grpc::CallbackServerContext* context, Fn fn);
  absl::StatusOr<framepair::v1::Job> ToProto(const JobRecord& record, bool with_tasks);
  // The job, if `caller` may see it.
  absl::StatusOr<JobRecord> GetJobFor(std::string_view job_id, const Caller& caller);

  JobStore* store_;
  StorageRoot storage_;
  Scheduler* scheduler_;
  EventHub* hub_;
  CoordinatorServiceOptions options_;
  std::mutex uploads_mu_;
  std::map<std::string, int> uploads_by_client_;  // guarded by uploads_mu_
  int64_t upload_bytes_reserved_ = 0;             // declared sizes of uploads in progress
  boost::asio::thread_pool executor_;             // last: joined first
};

}  // namespace framepair
