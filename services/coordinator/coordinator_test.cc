// The coordinator's public API in process, over a real gRPC server on loopback: the bounds a
// client cannot push past (string sizes, ListJobs pages, uploads), WatchJob on finished jobs,
// DeleteJob, and the scheduler's janitor and busy-worker handling.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "pipeline/parameters.h"
#include "services/coordinator/coordinator_service.h"
#include "util/file.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHr[] = "footage/hr.mkv";

// Sets a file's modification time `age` in the past.
void Age(const fs::path& path, std::chrono::seconds age) {
  struct timeval times[2];
  ::gettimeofday(&times[0], nullptr);
  times[0].tv_sec -= age.count();
  times[1] = times[0];
  ASSERT_EQ(::utimes(path.c_str(), times), 0) << path;
}

// A worker that is always full: every call is refused with RESOURCE_EXHAUSTED.
class BusyIngest final : public framepair::v1::Ingest::Service {
 public:
  grpc::Status Ingest(grpc::ServerContext*, const framepair::v1::IngestRequest*,
                      grpc::ServerWriter<framepair::v1::TaskUpdate>*) override {
    ++calls;
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "all 1 task slots are taken");
  }
  std::atomic<int> calls{0};
};

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fp_coordinator_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "state");
    absl::StatusOr<StorageRoot> storage = StorageRoot::Open((root_ / "storage").string());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_.emplace(*storage);
    ASSERT_TRUE(WriteFileAtomically((root_ / "storage" / kHr).string(), "hr").ok());
    JobStoreOptions store_options;
    store_options.clock = [this] { return clock_ms_.load(); };
    auto store = JobStore::Open((root_ / "state/coordinator.db").string(), store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    for (WorkerKindOptions* k : {&scheduler_options_.ingest, &scheduler_options_.align,
                                 &scheduler_options_.scene, &scheduler_options_.packer}) {
      k->targets = {"127.0.0.1:1"};  // nothing listens: only tests that Start() dispatch
    }
  }
  void TearDown() override {
    stub_.reset();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    if (scheduler_) scheduler_->Stop();
    service_.reset();
    scheduler_.reset();
    if (worker_) worker_->Shutdown(std::chrono::system_clock::now());
    store_.reset();
    fs::remove_all(root_);
  }

  void StartServer() {
    auto scheduler = Scheduler::Create(store_.get(), *storage_, scheduler_options_, &hub_);
    ASSERT_TRUE(scheduler.ok()) << scheduler.status();
    scheduler_ = std::move(*scheduler);
    service_ = std::make_unique<CoordinatorService>(store_.get(), *storage_, scheduler_.get(),
                                                    &hub_, service_options_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = framepair::v1::Coordinator::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  static framepair::v1::SubmitJobRequest Request(int shards = 1) {
    RunOptions o;
    o.shards = shards;
    o.pack.hr_only = true;
    framepair::v1::SubmitJobRequest request;
    request.mutable_spec()->set_dataset("games");
    request.mutable_spec()->mutable_hr()->set_storage_path(kHr);
    request.mutable_spec()->mutable_hr()->set_display_name("hr.mkv");
    *request.mutable_spec()->mutable_parameters() = ParametersFor(o);
    request.mutable_spec()->mutable_parameters()->set_hr_only(true);
    return request;
  }

  // A job straight into the store (what an older coordinator may have accepted).
  std::string StoreJob(const std::string& display_name, JobState state,
                       const std::string& hr = kHr) {
    framepair::v1::JobSpec spec = Request().spec();
    spec.mutable_hr()->set_display_name(display_name);
    spec.mutable_hr()->set_storage_path(hr);
    JobRecord job;
    job.dataset = "games";
    job.spec = spec.SerializeAsString();
    TaskRecord task;
    task.name = "ingest-hr";
    task.kind = "ingest";
    auto created = store_->CreateJob(job, {task});
    EXPECT_TRUE(created.ok()) << created.status();
    const std::string id = created->job.id;
    if (state != JobState::kQueued) {
      EXPECT_TRUE(store_->SetJobState(id, state).ok());
    }
    return id;
  }

  std::vector<framepair::v1::JobEvent> Watch(const std::string& id, int64_t after_seq,
                                             grpc::Status* status) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    framepair::v1::WatchJobRequest request;
    request.set_job_id(id);
    request.set_after_seq(after_seq);
    auto reader = stub_->WatchJob(&ctx, request);
    std::vector<framepair::v1::JobEvent> events;
    framepair::v1::JobEvent event;
    while (reader->Read(&event)) events.push_back(event);
    *status = reader->Finish();
    return events;
  }

  fs::path root_;
  std::optional<StorageRoot> storage_;
  std::atomic<int64_t> clock_ms_{1'700'000'000'000};
  std::unique_ptr<JobStore> store_;
  EventHub hub_;
  SchedulerOptions scheduler_options_;
  CoordinatorServiceOptions service_options_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<framepair::v1::Coordinator::Stub> stub_;
  std::unique_ptr<grpc::Server> worker_;
};

TEST_F(CoordinatorTest, ListJobsPagesAroundJobsWithHugeNames) {
  StartServer();
  // Two jobs with a 3 MB display name: one page of both would exceed the 4 MiB message limit
  // every client has, and `framepair list` failed for everyone.
  const std::string big(3 << 20, 'n');
  StoreJob(big, JobState::kSucceeded);
  StoreJob(big, JobState::kFailed);
  StoreJob("small", JobState::kQueued);
  framepair::v1::ListJobsRequest request;
  int jobs = 0;
  int pages = 0;
  for (;;) {
    grpc::ClientContext ctx;
    framepair::v1::ListJobsResponse response;
    grpc::Status s = stub_->ListJobs(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LT(response.ByteSizeLong(), 4u << 20);
    jobs += response.jobs_size();
    ++pages;
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(jobs, 3);
  EXPECT_GE(pages, 2);
}

TEST_F(CoordinatorTest, StringFieldsHaveLimitsNamedInTheError) {
  StartServer();
  auto submit = [&](const framepair::v1::SubmitJobRequest& request) {
    grpc::ClientContext ctx;
    framepair::v1::SubmitJobResponse response;
    return stub_->SubmitJob(&ctx, request, &response);
  };
  framepair::v1::SubmitJobRequest request = Request();
  request.mutable_spec()->mutable_hr()->set_display_name(std::string(3 << 20, 'n'));
  grpc::Status s = submit(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "spec.hr.display_name is 3145728 bytes; the limit is 1024 bytes");

  request = Request();
  request.set_request_id(std::string(129, 'r'));
  s = submit(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("request_id is 129 bytes; the limit is 128"));

  request = Request();
  request.mutable_spec()->mutable_parameters()->set_scene_detector(std::string(100000, 'd'));
  s = submit(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.parameters.scene_detector is 100000 bytes"));

  // Shards (hence tasks) are bounded.
  s = submit(Request(4097));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("1..4096"));
  EXPECT_TRUE(submit(Request(4)).ok());

  grpc::ClientContext ctx;
  framepair::v1::GetJobRequest get;
  get.set_job_id(std::string(1 << 20, 'j'));
  framepair::v1::Job job;
  s = stub_->GetJob(&ctx, get, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(s.error_message().size(), 200u);  // the input is never echoed
}

TEST_F(CoordinatorTest, WatchAfterTheLastEventOfAFinishedJobEndsAtOnce) {
  StartServer();
  const std::string done = StoreJob("a", JobState::kQueued);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->AppendEvent(done, "", 1).ok());
  ASSERT_TRUE(store_->SetJobState(done, JobState::kSucceeded).ok());
  framepair::v1::JobEvent terminal;
  terminal.mutable_state()->set_state(framepair::v1::JOB_SUCCEEDED);
  ASSERT_TRUE(store_->AppendEvent(done, terminal.SerializeAsString(), 1).ok());  // seq 4

  // Many resumed watchers at once, each at or past the end: all end, OK, with nothing.
  std::vector<std::thread> threads;
  std::atomic<int> ended_ok{0};
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      grpc::Status status;
      auto events = Watch(done, 4 + i % 3, &status);
      if (status.ok() && events.empty()) ++ended_ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ended_ok, 20);

  // Before the end: the rest of the stream, then the end.
  grpc::Status status;
  auto events = Watch(done, 2, &status);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].seq(), 4);

  // An unfinished job cannot be resumed past its last event.
  const std::string running = StoreJob("b", JobState::kRunning);
  Watch(running, 7, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("after_seq 7 is past the last event (0)"));
}

TEST_F(CoordinatorTest, DeleteJobRefusesUnfinishedJobsAndRemovesWorkFiles) {
  StartServer();
  const std::string running = StoreJob("a", JobState::kRunning);
  const std::string cancelled = StoreJob("b", JobState::kCancelled);
  ASSERT_TRUE(storage_->WorkDir(cancelled).ok());
  auto remove = [&](const std::string& id) {
    grpc::ClientContext ctx;
    framepair::v1::DeleteJobRequest request;
    request.set_job_id(id);
    framepair::v1::DeleteJobResponse response;
    return stub_->DeleteJob(&ctx, request, &response);
  };
  grpc::Status s = remove(running);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("cancel it first"));
  EXPECT_TRUE(remove(cancelled).ok());
  EXPECT_FALSE(fs::exists(root_ / "storage/work" / cancelled));
  EXPECT_EQ(remove(cancelled).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(store_->GetJob(running).ok());
}

// Starts an upload declaring `bytes`; returns the open call (header sent).
struct OpenUpload {
  grpc::ClientContext ctx;
  framepair::v1::UploadFootageResponse response;
  std::unique_ptr<grpc::ClientWriter<framepair::v1::UploadFootageRequest>> writer;
};
std::unique_ptr<OpenUpload> BeginUpload(framepair::v1::Coordinator::Stub& stub, int64_t bytes) {
  auto u = std::make_unique<OpenUpload>();
  u->writer = stub.UploadFootage(&u->ctx, &u->response);
  framepair::v1::UploadFootageRequest header;
  header.mutable_header()->set_sha256(std::string(64, 'a'));
  header.mutable_header()->set_size(bytes);
  u->writer->Write(header);
  return u;
}

TEST_F(CoordinatorTest, UploadThatCannotFitIsRefusedUpFront) {
  service_options_.free_bytes = []() -> absl::StatusOr<int64_t> { return 10 << 20; };
  service_options_.min_free_bytes = 1 << 20;
  StartServer();
  auto big = BeginUpload(*stub_, 20 << 20);
  big->writer->WritesDone();
  grpc::Status s = big->writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("no room for 20971520 more bytes"));
  // Uploads in progress count against the free space too.
  auto first = BeginUpload(*stub_, 5 << 20);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // header handled
  auto second = BeginUpload(*stub_, 5 << 20);
  second->writer->WritesDone();
  EXPECT_EQ(second->writer->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  first->writer->WritesDone();
  // (declared 5 MiB, sent nothing: refused as short, but not for space)
  s = first->writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(CoordinatorTest, ConcurrentUploadsPerClientAreLimited) {
  service_options_.max_uploads_per_client = 2;
  StartServer();
  auto a = BeginUpload(*stub_, 10);
  auto b = BeginUpload(*stub_, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto c = BeginUpload(*stub_, 10);
  c->writer->WritesDone();
  grpc::Status s = c->writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("already has 2 uploads in progress"));
  a->writer->WritesDone();
  (void)a->writer->Finish();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto d = BeginUpload(*stub_, 10);
  d->writer->WritesDone();
  EXPECT_NE(d->writer->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  b->writer->WritesDone();
  (void)b->writer->Finish();
}

TEST_F(CoordinatorTest, JanitorRunsAtStartAndDeletesWhatIsPastRetention) {
  scheduler_options_.retain = std::chrono::hours(1);
  scheduler_options_.abandoned_upload_age = std::chrono::hours(1);
  // Abandoned uploads of a crashed coordinator.
  for (int i = 0; i < 20; ++i) {
    const fs::path part = root_ / "storage/uploads" / absl::StrCat("crashed", i, ".part");
    ASSERT_TRUE(WriteFileAtomically(part.string(), "partial").ok());
    Age(part, std::chrono::hours(2));
  }
  const fs::path fresh_part = root_ / "storage/uploads/fresh.part";
  ASSERT_TRUE(WriteFileAtomically(fresh_part.string(), "in progress").ok());
  // A job that ended two hours ago (the store's clock), one that ended just now.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  clock_ms_ = now - 2 * 3600 * 1000;
  const std::string old_job = StoreJob("old", JobState::kQueued);
  ASSERT_TRUE(store_->AppendEvent(old_job, "e", 1).ok());
  ASSERT_TRUE(store_->SetJobState(old_job, JobState::kSucceeded).ok());
  ASSERT_TRUE(storage_->WorkDir(old_job).ok());
  clock_ms_ = now;
  // Footage: referenced by the new job (old file), unreferenced old, unreferenced fresh.
  const fs::path footage = root_ / "storage/footage/sha256";
  const std::string referenced(64, 'a'), unref_old(64, 'b'), unref_fresh(64, 'c');
  const std::string new_job = StoreJob("new", JobState::kFailed, "footage/sha256/" + referenced);
  for (const std::string& name : {referenced, unref_old, unref_fresh}) {
    ASSERT_TRUE(WriteFileAtomically((footage / name).string(), "f").ok());
  }
  Age(footage / referenced, std::chrono::hours(2));
  Age(footage / unref_old, std::chrono::hours(2));
  Age(root_ / "storage" / kHr, std::chrono::hours(2));  // named directly, not under sha256/

  StartServer();
  ASSERT_TRUE(scheduler_->Start().ok());  // the janitor's first run
  // The janitor's last step is the footage: wait for it.
  for (int i = 0; i < 500 && fs::exists(footage / unref_old); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(fs::exists(root_ / "storage/uploads" / absl::StrCat("crashed", i, ".part")));
  }
  scheduler_->Stop();
  EXPECT_TRUE(fs::exists(fresh_part));
  EXPECT_EQ(store_->GetJob(old_job).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(root_ / "storage/work" / old_job));
  EXPECT_TRUE(store_->GetJob(new_job).ok());
  EXPECT_FALSE(fs::exists(footage / unref_old));
  EXPECT_TRUE(fs::exists(footage / referenced));
  EXPECT_TRUE(fs::exists(footage / unref_fresh));
  EXPECT_TRUE(fs::exists(root_ / "storage" / kHr));
}

TEST_F(CoordinatorTest, BusyRefusalsUseNoRetriesAndStoreNoEvents) {
  BusyIngest busy;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&busy);
  worker_ = builder.BuildAndStart();
  ASSERT_NE(worker_, nullptr);
  scheduler_options_.ingest.targets = {absl::StrCat("127.0.0.1:", port)};
  scheduler_options_.max_retries = 1;
  scheduler_options_.retry_backoff = std::chrono::milliseconds(10);
  scheduler_options_.poll_interval = std::chrono::milliseconds(10);
  StartServer();
  auto submitted = service_->Submit(Request());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().id();
  ASSERT_TRUE(scheduler_->Start().ok());
  for (int i = 0; i < 300 && busy.calls < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  scheduler_->Stop();
  EXPECT_GE(busy.calls, 2);
  auto task = store_->GetTask(id, "ingest-hr");
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->retries, 0);  // max_retries = 1, yet the job goes on waiting
  EXPECT_EQ(store_->GetJob(id)->state, JobState::kRunning);
  // QUEUED and RUNNING; no "running"/"pending" pair per refusal.
  EXPECT_LE(*store_->LastEventSeq(id), 2);
}

}  // namespace
}  // namespace framepair
