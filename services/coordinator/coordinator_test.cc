// The coordinator in process, over real gRPC servers on loopback: the bounds a client cannot
// push past (string sizes, ListJobs pages, uploads), WatchJob on finished jobs, DeleteJob,
// identities, the scheduler's janitor and busy-worker handling, its pure decisions
// (scheduling.h), and the scheduler against fake workers (SchedulerTest).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "pipeline/parameters.h"
#include "services/common/channel.h"
#include "services/common/metrics.h"
#include "services/common/token_auth.h"
#include "services/coordinator/coordinator_service.h"
#include "services/coordinator/fake_workers.h"
#include "services/coordinator/scheduling.h"
#include "util/file.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
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
  request = Request();
  request.mutable_spec()->mutable_parameters()->set_windows(10'000'001);
  s = submit(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("--windows 10000001 must be 0..10000000"));
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

// Not only at start: an upload abandoned while the coordinator runs is swept by the next
// periodic run (before issue 13 the sweeper was never called outside tests).
TEST_F(CoordinatorTest, JanitorRunsAgainEveryInterval) {
  scheduler_options_.abandoned_upload_age = std::chrono::hours(1);
  scheduler_options_.janitor_interval = std::chrono::milliseconds(50);
  const auto abandon = [&](const char* name) {
    const fs::path part = root_ / "storage/uploads" / name;
    EXPECT_TRUE(WriteFileAtomically(part.string(), "partial").ok());
    Age(part, std::chrono::hours(2));
    return part;
  };
  const auto swept = [](const fs::path& part) {
    for (int i = 0; i < 1000 && fs::exists(part); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return !fs::exists(part);
  };
  const fs::path before = abandon("before-start.part");
  StartServer();
  ASSERT_TRUE(scheduler_->Start().ok());
  ASSERT_TRUE(swept(before));  // the run at start is over
  const fs::path later = abandon("abandoned-later.part");
  EXPECT_TRUE(swept(later));
  scheduler_->Stop();
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

// Named tokens: a job records its submitter; a client sees, watches, cancels and deletes only
// its own jobs unless its token is an admin's. (Before identities, any token holder could
// read and cancel every job: each PERMISSION_DENIED below was OK.)
TEST_F(CoordinatorTest, ClientsSeeAndCancelOnlyTheirOwnJobsUnlessAdmin) {
  auto scheduler = Scheduler::Create(store_.get(), *storage_, scheduler_options_, &hub_);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  scheduler_ = std::move(*scheduler);
  absl::StatusOr<std::vector<TokenIdentity>> identities =
      ParseTokenFile("# clients\nalice a-secret\nbob b-secret\nops o-secret admin\n");
  ASSERT_TRUE(identities.ok()) << identities.status();
  service_options_.identities = std::make_shared<const TokenIdentities>(*identities);
  service_ = std::make_unique<CoordinatorService>(store_.get(), *storage_, scheduler_.get(), &hub_,
                                                  service_options_);
  auto auth = std::make_shared<BearerTokenAuthProcessor>(
      service_options_.identities, GrpcServerMetrics::Register(DefaultMetricsRegistry()));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", InsecureServerCredentialsWithAuth(auth), &port);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  stub_ = framepair::v1::Coordinator::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  auto context = [](const char* token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    AttachToken(ctx.get(), token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  };

  framepair::v1::SubmitJobResponse submitted;
  std::ostringstream log;  // what the coordinator logs about the submission
  const std::shared_ptr<spdlog::logger> previous_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  const grpc::Status submit = stub_->SubmitJob(context("a-secret").get(), Request(), &submitted);
  spdlog::set_default_logger(previous_logger);
  ASSERT_TRUE(submit.ok()) << submit.error_message();
  const std::string id = submitted.job().id();
  EXPECT_EQ(store_->GetJob(id)->owner, "alice");
  EXPECT_THAT(log.str(), HasSubstr("submitted by alice"));  // the identity, never the token
  EXPECT_THAT(log.str(), Not(HasSubstr("a-secret")));

  framepair::v1::GetJobRequest get;
  get.set_job_id(id);
  framepair::v1::Job job;
  EXPECT_TRUE(stub_->GetJob(context("a-secret").get(), get, &job).ok());
  EXPECT_EQ(stub_->GetJob(context("b-secret").get(), get, &job).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stub_->GetJob(context("wrong").get(), get, &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  framepair::v1::ListJobsRequest list;
  framepair::v1::ListJobsResponse listed;
  ASSERT_TRUE(stub_->ListJobs(context("b-secret").get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 0);
  ASSERT_TRUE(stub_->ListJobs(context("o-secret").get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 1);

  {
    auto ctx = context("b-secret");
    framepair::v1::WatchJobRequest watch;
    watch.set_job_id(id);
    auto reader = stub_->WatchJob(ctx.get(), watch);
    framepair::v1::JobEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }

  framepair::v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  EXPECT_EQ(stub_->CancelJob(context("b-secret").get(), cancel, &job).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(store_->GetJob(id)->state, JobState::kQueued);
  ASSERT_TRUE(stub_->CancelJob(context("o-secret").get(), cancel, &job).ok());  // admin
  EXPECT_EQ(job.state(), framepair::v1::JOB_CANCELLED);
}

// ---- pure decisions ----

TEST(SchedulingTest, ChooseTargetTakesTheLeastLoadedFreeTargetAvoidingTheLastFailure) {
  std::vector<TargetLoad> targets = {{"a", 1, 2, false}, {"b", 0, 2, false}, {"c", 0, 1, true}};
  EXPECT_EQ(ChooseTarget(targets, 0, ""), 1);
  EXPECT_EQ(ChooseTarget(targets, 1, "b"), 0);  // b failed the last attempt; a is free
  EXPECT_EQ(ChooseTarget(targets, 0, "b"), 1);  // never failed: b is simply the least loaded
  targets[0].in_flight = 2;                     // a full
  EXPECT_EQ(ChooseTarget(targets, 1, "b"), 1);  // only b is left, failed or not
  targets[1].in_flight = 2;
  EXPECT_EQ(ChooseTarget(targets, 0, ""), -1);  // c rests, the others are full
}

TEST(SchedulingTest, DecideFollowsTheErrorClasses) {
  using absl::StatusCode;
  EXPECT_EQ(Decide(StatusCode::kOk, false, 0, 5), AttemptVerdict::kDone);
  EXPECT_EQ(Decide(StatusCode::kInvalidArgument, false, 0, 5), AttemptVerdict::kFail);
  EXPECT_EQ(Decide(StatusCode::kUnauthenticated, false, 0, 5), AttemptVerdict::kFail);
  EXPECT_EQ(Decide(StatusCode::kUnimplemented, false, 0, 5), AttemptVerdict::kFail);
  EXPECT_EQ(Decide(StatusCode::kUnavailable, false, 4, 5), AttemptVerdict::kRetry);
  EXPECT_EQ(Decide(StatusCode::kUnavailable, false, 5, 5), AttemptVerdict::kFail);
  EXPECT_EQ(Decide(StatusCode::kResourceExhausted, false, 99, 5), AttemptVerdict::kWait);
  // A stall is the coordinator's own cancel: retried, whatever code the call ended with.
  EXPECT_EQ(Decide(StatusCode::kCancelled, true, 0, 5), AttemptVerdict::kRetry);
  EXPECT_EQ(Decide(StatusCode::kInvalidArgument, true, 0, 5), AttemptVerdict::kRetry);
}

TEST(SchedulingTest, BackoffDoublesAndCapsAndRestsFollowFailures) {
  EXPECT_EQ(RetryBackoff(milliseconds(500), 0, false), milliseconds(500));
  EXPECT_EQ(RetryBackoff(milliseconds(500), 3, false), milliseconds(4000));
  EXPECT_EQ(RetryBackoff(milliseconds(500), 60, false), milliseconds(30000));
  EXPECT_EQ(RetryBackoff(milliseconds(500), 7, true), milliseconds(500));
  EXPECT_EQ(TargetRest("h:1", 1, false), milliseconds(1000));
  EXPECT_EQ(TargetRest("h:1", 3, false), milliseconds(4000));
  EXPECT_EQ(TargetRest("h:1", 50, false), milliseconds(32000));
  EXPECT_EQ(TargetRest("h:1", 50, true), milliseconds(8000));
  EXPECT_EQ(TargetRest("dns:///workers:1", 3, false), milliseconds(0));
}

// ---- fake workers ----

// Blocks the call until the coordinator cancels it (or 20 s pass).
grpc::Status WaitForCancel(grpc::ServerContext* context, std::atomic<int>* cancelled) {
  for (int i = 0; i < 2000 && !context->IsCancelled(); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  if (context->IsCancelled()) ++*cancelled;
  return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
}

// The scheduler and the service against fake workers served on port 0 (real gRPC, one
// process): a job runs through, retries, permanent failures, stalls, cancellation, Stop() in
// the middle of attempts (run under ASan in CI), and the order of a watch's events.
class SchedulerTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    CoordinatorTest::SetUp();
    workers_ = std::make_unique<FakeWorkers>((root_ / "storage").string());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    workers_->RegisterWith(builder);
    worker_ = builder.BuildAndStart();
    ASSERT_NE(worker_, nullptr);
    for (WorkerKindOptions* k : {&scheduler_options_.ingest, &scheduler_options_.align,
                                 &scheduler_options_.scene, &scheduler_options_.packer}) {
      k->targets = {absl::StrCat("127.0.0.1:", port)};
    }
    scheduler_options_.retry_backoff = milliseconds(10);
    scheduler_options_.poll_interval = milliseconds(10);
    scheduler_options_.max_retries = 2;
    scheduler_options_.retain = milliseconds(0);  // the store's clock is pinned in the past
  }

  void Start() {
    StartServer();
    ASSERT_TRUE(scheduler_->Start().ok());
  }

  std::string Submit() {
    auto submitted = service_->Submit(Request());
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->job().id() : "";
  }

  // Polls the store until the job is terminal (or 20 s pass).
  JobState WaitForEnd(const std::string& id) {
    for (int i = 0; i < 2000; ++i) {
      absl::StatusOr<JobRecord> job = store_->GetJob(id);
      if (job.ok() && IsTerminal(job->state)) return job->state;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return store_->GetJob(id)->state;
  }

  std::unique_ptr<FakeWorkers> workers_;  // outlives worker_ (shut down by TearDown)
};

TEST_F(SchedulerTest, JobRunsThroughFakeWorkersAndWatchSeesEveryEventInOrder) {
  Start();
  const std::string id = Submit();
  // Watch from the start while the job runs: a snapshot, then events seq+1, seq+2, ... up to
  // the terminal state, nothing after it.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  framepair::v1::WatchJobRequest watch;
  watch.set_job_id(id);
  auto reader = stub_->WatchJob(&ctx, watch);
  std::vector<framepair::v1::JobEvent> events;
  framepair::v1::JobEvent event;
  while (reader->Read(&event)) events.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(events.size(), 2u);
  EXPECT_TRUE(events.front().has_snapshot());
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), events[i - 1].seq() + 1) << "event " << i;
  }
  ASSERT_TRUE(events.back().has_state());
  EXPECT_EQ(events.back().state().state(), framepair::v1::JOB_SUCCEEDED);
  EXPECT_EQ(*store_->LastEventSeq(id), events.back().seq());

  EXPECT_EQ(WaitForEnd(id), JobState::kSucceeded);
  EXPECT_TRUE(fs::exists(root_ / "storage/datasets/games/manifest.json"));
  // The work files go right after the terminal event is stored.
  for (int i = 0; i < 500 && fs::exists(root_ / "storage/work" / id); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_FALSE(fs::exists(root_ / "storage/work" / id));
  auto tasks = store_->GetTasks(id);
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(tasks->size(), 4u);  // ingest-hr, align, scene, pack-00000
}

// Per attempt the store keeps one "running" event, which carries the worker's first progress
// report, and one "done" event: the first progress message is no event of its own (each event is
// a stored row; at scale they were a third of the store's writes).
TEST_F(SchedulerTest, FirstProgressRidesOnTheRunningEvent) {
  Start();
  const std::string id = Submit();
  ASSERT_EQ(WaitForEnd(id), JobState::kSucceeded);
  scheduler_->Stop();  // every attempt's events are stored
  absl::StatusOr<std::vector<EventRecord>> events = store_->EventsAfter(id, 0, 1000);
  ASSERT_TRUE(events.ok()) << events.status();
  std::map<std::string, std::vector<framepair::v1::TaskStatus>> by_task;
  for (const EventRecord& e : *events) {
    framepair::v1::JobEvent event;
    ASSERT_TRUE(event.ParseFromString(e.payload));
    if (event.has_task()) by_task[event.task().name()].push_back(event.task());
  }
  ASSERT_EQ(by_task.size(), 4u);  // ingest-hr, align, scene, pack-00000
  for (const auto& [name, statuses] : by_task) {
    // The fake workers report progress 1 of 1, then their result.
    ASSERT_EQ(statuses.size(), 2u) << name;
    EXPECT_EQ(statuses[0].task_state(), framepair::v1::TASK_RUNNING) << name;
    EXPECT_EQ(statuses[0].done(), 1) << name;
    EXPECT_EQ(statuses[0].total(), 1) << name;
    EXPECT_EQ(statuses[1].task_state(), framepair::v1::TASK_DONE) << name;
  }
}

// A published dataset's files, listing and removal follow the job owner rule.
TEST_F(SchedulerTest, DatasetFilesBelongToTheirJobsSubmitters) {
  Start();
  const Caller alice{"alice", false}, bob{"bob", false};
  auto submitted = service_->Submit(Request(), alice);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().id();
  ASSERT_EQ(WaitForEnd(id), JobState::kSucceeded);
  auto manifest = ReadManifest((root_ / "storage/datasets/games").string());
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_EQ(manifest->shards_size(), 1);
  for (const std::string& file : {std::string("manifest.json"), manifest->shards(0).file()}) {
    framepair::v1::ReadDatasetFileRequest request;
    request.set_dataset("games");
    request.set_file(file);
    EXPECT_TRUE(service_->DatasetFileFor(request, alice).ok()) << file;
    EXPECT_TRUE(service_->DatasetFileFor(request, Caller{}).ok()) << file;  // an admin
    EXPECT_EQ(service_->DatasetFileFor(request, bob).status().code(),
              absl::StatusCode::kPermissionDenied)
        << file;
  }
  EXPECT_EQ(service_->Datasets(bob)->datasets_size(), 0);
  ASSERT_EQ(service_->Datasets(alice)->datasets_size(), 1);
  EXPECT_EQ(service_->Datasets(alice)->datasets(0).jobs(0).job_id(), id);
  framepair::v1::DeleteDatasetRequest rm;
  rm.set_dataset("games");
  EXPECT_EQ(service_->RemoveDataset(rm, bob).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(fs::exists(root_ / "storage/datasets/games/manifest.json"));
  auto removed = service_->RemoveDataset(rm, alice);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->jobs_removed_size(), 1);
  EXPECT_FALSE(fs::exists(root_ / "storage/datasets/games/manifest.json"));
}

TEST_F(SchedulerTest, RetryableFailureIsRetriedAndPermanentOneFailsTheJob) {
  std::atomic<int> ingest_calls{0};
  workers_->SetHook([&](const std::string& task, int64_t, grpc::ServerContext*) {
    if (task == "ingest-hr" && ingest_calls++ == 0) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "worker restarting");
    }
    if (task == "scene") return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad plan");
    return grpc::Status::OK;
  });
  Start();
  const std::string id = Submit();
  EXPECT_EQ(WaitForEnd(id), JobState::kFailed);
  auto ingest = store_->GetTask(id, "ingest-hr");
  ASSERT_TRUE(ingest.ok());
  EXPECT_EQ(ingest->state, TaskState::kDone);
  EXPECT_EQ(ingest->retries, 1);
  EXPECT_EQ(ingest->attempt, 2);
  auto scene = store_->GetTask(id, "scene");
  EXPECT_EQ(scene->state, TaskState::kFailed);
  EXPECT_EQ(scene->attempt, 1);  // permanent: not retried
  EXPECT_THAT(store_->GetJob(id)->error, ::testing::HasSubstr("bad plan"));
}

TEST_F(SchedulerTest, StalledAttemptIsCancelledAndItsSuccessorIsTheOneThatCounts) {
  std::atomic<int> cancelled{0};
  workers_->SetHook([&](const std::string& task, int64_t attempt, grpc::ServerContext* c) {
    // The first attempt goes silent: the coordinator must give up on it (stall timeout),
    // cancel it, and fence it out; the second one finishes the task.
    if (task == "ingest-hr" && attempt == 1) return WaitForCancel(c, &cancelled);
    return grpc::Status::OK;
  });
  scheduler_options_.stall_timeout = milliseconds(200);
  Start();
  const std::string id = Submit();
  EXPECT_EQ(WaitForEnd(id), JobState::kSucceeded);
  EXPECT_EQ(cancelled.load(), 1);
  auto ingest = store_->GetTask(id, "ingest-hr");
  EXPECT_EQ(ingest->attempt, 2);
  EXPECT_EQ(ingest->retries, 1);
  // The late answer of attempt 1 would be refused by the store's fencing.
  EXPECT_EQ(store_->CompleteAttempt(id, "ingest-hr", 1, "late").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest, CancelReachesTheRunningAttemptAndRemovesTheWorkFiles) {
  std::atomic<int> cancelled{0};
  std::atomic<bool> running{false};
  workers_->SetHook([&](const std::string&, int64_t, grpc::ServerContext* c) {
    running = true;
    return WaitForCancel(c, &cancelled);
  });
  Start();
  const std::string id = Submit();
  for (int i = 0; i < 1000 && !running; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(running);
  fs::create_directories(root_ / "storage/work" / id / "ingest-hr.a1");
  auto cancelled_job = service_->Cancel(id);
  ASSERT_TRUE(cancelled_job.ok()) << cancelled_job.status();
  EXPECT_EQ(cancelled_job->state(), framepair::v1::JOB_CANCELLED);
  // The worker sees the cancel when it next looks (every 10 ms).
  for (int i = 0; i < 1000 && (fs::exists(root_ / "storage/work" / id) || cancelled == 0); ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(cancelled.load(), 1);
  EXPECT_FALSE(fs::exists(root_ / "storage/work" / id));
  EXPECT_EQ(store_->GetTask(id, "ingest-hr")->state, TaskState::kCancelled);
}

// Stop() with attempts in flight cancels them and returns only when every attempt has ended;
// the scheduler is destroyed right after (under ASan a callback touching it afterwards is a
// use-after-free report).
TEST_F(SchedulerTest, StopInTheMiddleOfAttemptsWaitsForThemAll) {
  std::atomic<int> cancelled{0};
  std::atomic<int> running{0};
  workers_->SetHook([&](const std::string&, int64_t, grpc::ServerContext* c) {
    ++running;
    return WaitForCancel(c, &cancelled);
  });
  scheduler_options_.ingest.concurrency = 4;
  Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Submit());
  for (int i = 0; i < 1000 && running < 3; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_EQ(running.load(), 3);
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  scheduler_->Stop();
  scheduler_.reset();  // nothing may touch it any more
  // Every attempt ended; the store keeps them RUNNING for the next coordinator to requeue.
  for (const std::string& id : ids) {
    EXPECT_EQ(store_->GetTask(id, "ingest-hr")->state, TaskState::kRunning);
  }
  for (int i = 0; i < 1000 && cancelled < 3; ++i) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(cancelled.load(), 3);
}

}  // namespace
}  // namespace framepair
