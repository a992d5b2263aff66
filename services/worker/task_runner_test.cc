// The worker runtime in process: drain lets running tasks finish and refuses new ones; the
// task sees the call's deadline.
#include "services/worker/task_runner.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "framepair/v1/workers.grpc.pb.h"
#include "storage/storage.h"

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

// `service` on a loopback port, and a stub calling it.
std::pair<std::unique_ptr<grpc::Server>, std::unique_ptr<framepair::v1::Ingest::Stub>> Serve(
    grpc::Service* service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  auto server = builder.BuildAndStart();
  return {std::move(server),
          framepair::v1::Ingest::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                             grpc::InsecureChannelCredentials()))};
}

TEST(TaskRunnerTest, DrainFinishesRunningTasksAndRefusesNewOnes) {
  TaskRunner runner(WorkerOptions{});
  SlowIngest service(&runner);
  auto served = Serve(&service);
  std::unique_ptr<grpc::Server>& server = served.first;
  framepair::v1::Ingest::Stub* stub = served.second.get();
  ASSERT_NE(server, nullptr);

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

// Errors reach clients through the coordinator: a worker's message names files as storage:...,
// never the storage root's absolute path.
TEST(TaskRunnerTest, ErrorsDoNotRevealTheStorageRoot) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("fp_runner_", getpid());
  absl::StatusOr<StorageRoot> storage = StorageRoot::Open(dir.string());
  ASSERT_TRUE(storage.ok()) << storage.status();
  WorkerOptions options;
  options.redact = [&](std::string_view message) { return storage->Redact(message); };
  TaskRunner runner(options);
  const std::string file = storage->root() + "/work/j1/pack-00001.a1/lr.frames";
  class Failing final : public framepair::v1::Ingest::CallbackService {
   public:
    Failing(TaskRunner* runner, std::string error) : runner_(runner), error_(std::move(error)) {}
    grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Ingest(
        grpc::CallbackServerContext* context, const framepair::v1::IngestRequest*) override {
      return runner_->Start(context, "failing", [this](TaskContext&) {
        return absl::StatusOr<framepair::v1::TaskResult>(absl::DataLossError(error_));
      });
    }

   private:
    TaskRunner* runner_;
    std::string error_;
  } service(&runner, file + ": header length past the end of " + storage->root());
  auto served = Serve(&service);
  std::unique_ptr<grpc::Server>& server = served.first;
  framepair::v1::Ingest::Stub* stub = served.second.get();
  ASSERT_NE(server, nullptr);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub->Ingest(&ctx, framepair::v1::IngestRequest());
  framepair::v1::TaskUpdate update;
  while (reader->Read(&update)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(status.error_message(),
            "storage:work/j1/pack-00001.a1/lr.frames: header length past the end of storage:");
  server->Shutdown(std::chrono::system_clock::now());
  std::filesystem::remove_all(dir);
}

// An ingest service whose task reserves request.video() MiB of the budget and, for role
// "hold", keeps it until `release`.
class Reserving final : public framepair::v1::Ingest::CallbackService {
 public:
  explicit Reserving(TaskRunner* runner) : runner_(runner) {}
  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Ingest(
      grpc::CallbackServerContext* context, const framepair::v1::IngestRequest* r) override {
    return runner_->Start(context, "reserving",
                          [this, r](TaskContext& c) -> absl::StatusOr<framepair::v1::TaskResult> {
                            absl::Status reserved = c.ReserveMemory(std::stoll(r->video()) << 20,
                                                                    "1920x1080 yuv420p frames");
                            if (!reserved.ok()) return reserved;
                            held = r->role() == "hold";
                            while (r->role() == "hold" && !release && !c.cancel()->load())
                              std::this_thread::sleep_for(milliseconds(5));
                            return framepair::v1::TaskResult();
                          });
  }
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};

 private:
  TaskRunner* runner_;
};

grpc::Status CallIngest(framepair::v1::Ingest::Stub* stub, int64_t mib, std::string role = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  framepair::v1::IngestRequest request;
  request.set_video(std::to_string(mib));
  request.set_role(std::move(role));
  auto reader = stub->Ingest(&ctx, request);
  framepair::v1::TaskUpdate update;
  while (reader->Read(&update)) {
  }
  return reader->Finish();
}

// Issue 13: --max-tasks alone let two 4K tasks take a pod past its memory limit. With a budget,
// a task that does not fit beside the running ones is refused as busy (the coordinator waits
// and places it again without using up a retry), one that cannot fit at all fails for good
// naming the flags, and a finished task gives its memory back.
TEST(TaskRunnerTest, MemoryBudgetAdmitsWhatFitsAndRefusesTheRest) {
  WorkerOptions options;
  options.max_tasks = 4;
  options.memory_budget = int64_t{1000} << 20;
  options.base_memory = int64_t{200} << 20;  // 800 MiB for tasks
  TaskRunner runner(options);
  Reserving service(&runner);
  auto served = Serve(&service);
  ASSERT_NE(served.first, nullptr);
  framepair::v1::Ingest::Stub* stub = served.second.get();

  grpc::Status held_status;
  std::thread holder([&] { held_status = CallIngest(stub, 500, "hold"); });
  for (int i = 0; i < 1000 && !service.held; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(service.held);
  EXPECT_EQ(runner.reserved_memory(), int64_t{500} << 20);

  const grpc::Status busy = CallIngest(stub, 400);  // 500 + 400 > 800
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << busy.error_message();
  EXPECT_THAT(busy.error_message(), ::testing::HasSubstr("worker busy: this task needs 400 MiB"));
  EXPECT_THAT(busy.error_message(), ::testing::HasSubstr("hold 500 MiB of the 800 MiB"));

  const grpc::Status too_big = CallIngest(stub, 900);  // > 800 even when idle
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << too_big.error_message();
  EXPECT_THAT(too_big.error_message(), ::testing::HasSubstr("--memory-budget (1000 MiB"));
  EXPECT_THAT(too_big.error_message(), ::testing::HasSubstr("--max-frame-pixels"));

  const grpc::Status fits = CallIngest(stub, 300);  // 500 + 300 = 800
  EXPECT_TRUE(fits.ok()) << fits.error_message();

  service.release = true;
  holder.join();
  EXPECT_TRUE(held_status.ok()) << held_status.error_message();
  EXPECT_EQ(runner.reserved_memory(), 0);
  const grpc::Status after = CallIngest(stub, 400);  // the held 500 MiB came back
  EXPECT_TRUE(after.ok()) << after.error_message();
  EXPECT_EQ(runner.reserved_memory(), 0);
  served.first->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace framepair
