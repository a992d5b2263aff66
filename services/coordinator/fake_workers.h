// Fake workers for the scheduler's tests and the coordinator benchmark: every worker kind in one
// gRPC service object, answering each call at once with a result whose files lie in the
// attempt's work directory (as a real worker's must), unless a hook decides otherwise. Only the
// pack shard is written (the publisher moves it); the other results name files that need not
// exist. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "framepair/v1/workers.grpc.pb.h"

namespace framepair {

class FakeWorkers final : public framepair::v1::Ingest::Service,
                          public framepair::v1::Align::Service,
                          public framepair::v1::Scene::Service,
                          public framepair::v1::Packer::Service {
 public:
  // Asked first on every call: a non-OK status ends the call with it (the hook may block, e.g.
  // until the call is cancelled).
  using Hook = std::function<grpc::Status(const std::string& task, int64_t attempt,
                                          grpc::ServerContext* context)>;
  struct Call {
    std::string job;
    std::string task;
    int64_t attempt = 0;
    int64_t steady_ns = 0;  // arrival, steady clock
  };

  explicit FakeWorkers(std::string storage_root) : root_(std::move(storage_root)) {}

  void SetHook(Hook hook);
  // Registers the four services with `builder`.
  void RegisterWith(grpc::ServerBuilder& builder);
  std::vector<Call> Calls() const;

  grpc::Status Ingest(grpc::ServerContext* c, const framepair::v1::IngestRequest* r,
                      grpc::ServerWriter<framepair::v1::TaskUpdate>* w) override;
  grpc::Status Align(grpc::ServerContext* c, const framepair::v1::AlignRequest* r,
                     grpc::ServerWriter<framepair::v1::TaskUpdate>* w) override;
  grpc::Status Scene(grpc::ServerContext* c, const framepair::v1::SceneRequest* r,
                     grpc::ServerWriter<framepair::v1::TaskUpdate>* w) override;
  grpc::Status Pack(grpc::ServerContext* c, const framepair::v1::PackRequest* r,
                    grpc::ServerWriter<framepair::v1::TaskUpdate>* w) override;

 private:
  grpc::Status Answer(grpc::ServerContext* context, const framepair::v1::TaskRef& task,
                      grpc::ServerWriter<framepair::v1::TaskUpdate>* writer,
                      const std::function<void(framepair::v1::TaskResult*)>& produce);

  const std::string root_;
  mutable std::mutex mu_;
  Hook hook_;
  std::vector<Call> calls_;
};

}  // namespace framepair
