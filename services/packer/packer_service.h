// framepair-packer: pipeline step 4b as a service. Packs the windows of one shard into a
// complete shard file inside the attempt's work directory; the coordinator publishes it.
#pragma once

#include "framepair/v1/workers.grpc.pb.h"
#include "media/video.h"
#include "services/worker/task_runner.h"
#include "storage/storage.h"

namespace framepair {

struct PackerOptions {
  int threads = 0;  // decode + PNG threads per shard; 0 = hardware concurrency
  int64_t max_frame_pixels = kDefaultMaxFramePixels;  // --max-frame-pixels
};

absl::StatusOr<framepair::v1::TaskResult> RunPackTask(const StorageRoot& storage,
                                                      const framepair::v1::PackRequest& request,
                                                      const PackerOptions& options,
                                                      TaskContext& context);

class PackerService final : public framepair::v1::Packer::CallbackService {
 public:
  PackerService(StorageRoot storage, PackerOptions options, TaskRunner* runner)
      : storage_(std::move(storage)), options_(options), runner_(runner) {}

  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Pack(
      grpc::CallbackServerContext* context, const framepair::v1::PackRequest* request) override;

 private:
  StorageRoot storage_;
  PackerOptions options_;
  TaskRunner* runner_;
};

}  // namespace framepair
