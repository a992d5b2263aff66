// The worker runtime in process: drain lets running tasks finish and refuses new ones; the
// task sees the call's deadline.
#include "services/worker/task_runner.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "framepair/v1/workers.grpc.pb.h"

namespace framepair {
namespace {

using std::chrono::milliseconds;

// An ingest service whose task runs until `release` (checking its cancel flag) and reports
// whether it was cancelled and how far away its deadline was.
class SlowIngest final : public framepair::v1::Ingest::CallbackService {
 public:
  explicit SlowIngest(TaskRunner* runner) : runner_(runner) {}
  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Ingest(
      grpc::CallbackServerContext* context, const framepair::v1::IngestRequest*) override {
    return runner_->Start(context, "slow",
                          [this](TaskContext& c) -> absl::StatusOr<framepair::v1::TaskResult> {
                            started = true;
                            deadline_in_ms = std::chrono::duration_cast<milliseconds>(
                                                 c.deadline() - std::chrono::steady_clock::now())
                                                 .count();
                            while (!release && !c.cancel()->load())
                              std::this_thread::sleep_for(milliseconds(5));
                            if (c.cancel()->load()) return absl::CancelledError("cancelled");
                            return framepair::v1::TaskResult();
                          });
  }
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  std::atomic<int64_t> deadline_in_ms{0};

 private:
  TaskRunner* runner_;
};

TEST(TaskRunnerTest, DrainFinishesRunningTasksAndRefusesNewOnes) {
  TaskRunner runner(WorkerOptions{});
  SlowIngest service(&runner);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = framepair::v1::Ingest::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  grpc::Status first_status;
  std::thread first([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    framepair::v1::IngestRequest request;
    auto reader = stub->Ingest(&ctx, request);
    framepair::v1::TaskUpdate update;
    while (reader->Read(&update)) {
    }
    first_status = reader->Finish();
  });
  for (int i = 0; i < 1000 && !service.started; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(service.started);
  // The call's 30 s deadline reaches the task (and from there the decoder's interrupt).
  EXPECT_GT(service.deadline_in_ms.load(), 20000);
  EXPECT_LE(service.deadline_in_ms.load(), 30000);

  runner.StopAccepting();  // SIGTERM
  {
    grpc::ClientContext ctx;
    framepair::v1::IngestRequest request;
    auto reader = stub->Ingest(&ctx, request);
    framepair::v1::TaskUpdate update;
    while (reader->Read(&update)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  std::this_thread::sleep_for(milliseconds(100));
  service.release = true;  // the running task finishes within the drain
  first.join();
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace framepair
