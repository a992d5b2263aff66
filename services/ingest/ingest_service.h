// framepair-ingest: pipeline step 1 as a service. Decodes one video from shared storage and
// writes its frame table (artifacts.h) into the attempt's work directory.
#pragma once

#include "framepair/v1/workers.grpc.pb.h"
#include "media/video.h"
#include "services/worker/task_runner.h"
#include "storage/storage.h"

namespace framepair {

struct IngestWorkerOptions {
  int64_t max_frame_pixels = kDefaultMaxFramePixels;  // --max-frame-pixels
};

absl::StatusOr<framepair::v1::TaskResult> RunIngestTask(const StorageRoot& storage,
                                                        const framepair::v1::IngestRequest& request,
                                                        const IngestWorkerOptions& options,
                                                        TaskContext& context);

class IngestService final : public framepair::v1::Ingest::CallbackService {
 public:
  IngestService(StorageRoot storage, IngestWorkerOptions options, TaskRunner* runner)
      : storage_(std::move(storage)), options_(options), runner_(runner) {}

  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Ingest(
      grpc::CallbackServerContext* context, const framepair::v1::IngestRequest* request) override;

 private:
  StorageRoot storage_;
  IngestWorkerOptions options_;
  TaskRunner* runner_;
};

}  // namespace framepair
