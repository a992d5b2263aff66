// framepair-coordinator's public API (proto/framepair/v1/coordinator.proto) over the JobStore,
// the storage root and the Scheduler. Each method reads the request, calls those, and converts
// the status; nothing here blocks on a worker.
#pragma once

#include <cstdint>

#include "framepair/v1/coordinator.grpc.pb.h"
#include "jobs/job_store.h"
#include "services/coordinator/event_hub.h"
#include "services/coordinator/scheduler.h"
#include "storage/storage.h"

namespace framepair {

struct CoordinatorServiceOptions {
  int64_t max_upload_bytes = 64LL << 30;  // largest footage file accepted, default 64 GiB
  int max_chunk_bytes = 1 << 20;          // largest UploadFootage chunk, default 1 MiB
};

class CoordinatorService final : public framepair::v1::Coordinator::CallbackService {
 public:
  CoordinatorService(JobStore* store, StorageRoot storage, Scheduler* scheduler, EventHub* hub,
                     CoordinatorServiceOptions options)
      : store_(store),
        storage_(std::move(storage)),
        scheduler_(scheduler),
        hub_(hub),
        options_(options) {}

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

  // The library-level operations (testable without gRPC).
  absl::StatusOr<framepair::v1::SubmitJobResponse> Submit(
      const framepair::v1::SubmitJobRequest& request);
  // with_tasks = false leaves out task details (ListJobs).
  absl::StatusOr<framepair::v1::Job> Describe(std::string_view job_id, bool with_tasks = true);
  absl::StatusOr<framepair::v1::Job> Cancel(std::string_view job_id);

 private:
  friend class WatchReactor;
  absl::StatusOr<framepair::v1::Job> ToProto(const JobRecord& record, bool with_tasks);

  JobStore* store_;
  StorageRoot storage_;
  Scheduler* scheduler_;
  EventHub* hub_;
  CoordinatorServiceOptions options_;
};

}  // namespace framepair
