#include "jobs/job_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

constexpr int64_t kT0 = 1'700'000'000'000;  // a fixed "now" for created/updated times

// Task names in result order ("name" or "job:name" when `with_job`).
std::vector<std::string> Names(const std::vector<TaskRecord>& tasks, bool with_job = false) {
  std::vector<std::string> names;
  for (const TaskRecord& t : tasks) {
    names.push_back(with_job ? absl::StrCat(t.job_id, ":", t.name) : t.name);
  }
  return names;
}

std::vector<std::string> Ids(const std::vector<JobRecord>& jobs) {
  std::vector<std::string> ids;
  for (const JobRecord& j : jobs) ids.push_back(j.id);
  return ids;
}

TaskRecord Task(std::string name, std::string kind, std::vector<std::string> deps = {}) {
  TaskRecord t;
  t.name = std::move(name);
  t.kind = std::move(kind);
  t.deps = std::move(deps);
  t.input = absl::StrCat("input of ", t.name, std::string(1, '\0'), "\xff");
  return t;
}

// The coordinator's shape: two ingests in parallel, then align, then three packs.
std::vector<TaskRecord> PipelineTasks() {
  return {Task("ingest-lr", "ingest"),
          Task("ingest-hr", "ingest"),
          Task("align", "align", {"ingest-lr", "ingest-hr"}),
          Task("pack-0", "pack", {"align"}),
          Task("pack-1", "pack", {"align"}),
          Task("pack-2", "pack", {"align"})};
}

JobRecord Job(std::string dataset, std::string spec = "spec", std::string request_id = "") {
  JobRecord job;
  job.dataset = std::move(dataset);
  job.spec = std::move(spec);
  job.request_id = std::move(request_id);
  return job;
}

// A raw connection for looking at the file from outside the store.
struct RawDb {
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  std::string Query(const char* sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  void Exec(const char* sql) {
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  }
  sqlite3* db = nullptr;
};

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "job_store_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    path_ = dir_ + "/jobs.db";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  JobStoreOptions Options() {
    JobStoreOptions options;
    options.clock = [this] { return clock_ms_.load(); };
    return options;
  }
  // (Re)opens store_ on path_; the previous store is closed first.
  void Reopen() {
    store_.reset();
    auto store = JobStore::Open(path_, Options());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  std::string MustCreate(JobRecord job, std::vector<TaskRecord> tasks = PipelineTasks()) {
    auto r = store_->CreateJob(std::move(job), std::move(tasks));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_TRUE(r->created);
    clock_ms_ += 1000;  // the next job is created later
    return r->job.id;
  }
  TaskRecord MustGetTask(const std::string& job_id, const std::string& name) {
    auto tasks = store_->GetTasks(job_id);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    if (tasks.ok()) {
      for (const TaskRecord& t : *tasks) {
        if (t.name == name) return t;
      }
    }
    ADD_FAILURE() << "no task " << job_id << "/" << name;
    return {};
  }
  std::vector<TaskRecord> Ready(int64_t now = kT0, int limit = 100, std::string_view kind = "") {
    auto ready = store_->ReadyTasks(now, limit, kind);
    EXPECT_TRUE(ready.ok()) << ready.status();
    return ready.ok() ? *ready : std::vector<TaskRecord>{};
  }
  // Starts and completes a task; returns the attempt.
  int64_t RunToDone(const std::string& job_id, const std::string& name) {
    auto attempt = store_->StartAttempt(job_id, name, "worker:1", kT0);
    EXPECT_TRUE(attempt.ok()) << attempt.status();
    if (!attempt.ok()) return 0;
    EXPECT_TRUE(store_->CompleteAttempt(job_id, name, *attempt, "ok").ok());
    return *attempt;
  }

  std::string dir_;
  std::string path_;
  std::atomic<int64_t> clock_ms_{kT0};
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobStoreTest, CreateGetAndTasks) {
  Reopen();
  const std::string spec("\x08\x01\x00\xffspec", 8);  // binary, with a NUL
  auto created = store_->CreateJob(Job("ds-a", spec), PipelineTasks());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  const JobRecord& job = created->job;
  EXPECT_THAT(job.id, MatchesRegex("j[0-9a-f]{12}"));
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.created_unix_ms, kT0);
  EXPECT_EQ(job.updated_unix_ms, kT0);

  auto got = store_->GetJob(job.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, job);
  EXPECT_EQ(got->spec, spec);
  EXPECT_EQ(got->dataset, "ds-a");

  auto tasks = store_->GetTasks(job.id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_THAT(Names(*tasks),
              ElementsAre("align", "ingest-hr", "ingest-lr", "pack-0", "pack-1", "pack-2"));
  const TaskRecord& align = (*tasks)[0];
  EXPECT_EQ(align.job_id, job.id);
  EXPECT_EQ(align.kind, "align");
  EXPECT_THAT(align.deps, ElementsAre("ingest-lr", "ingest-hr"));  // caller's order
  EXPECT_EQ(align.state, TaskState::kPending);
  EXPECT_EQ(align.attempt, 0);
  EXPECT_EQ(align.input, Task("align", "align").input);
  EXPECT_THAT((*tasks)[1].deps, IsEmpty());

  // A second job gets a different id.
  EXPECT_NE(MustCreate(Job("ds-a", spec)), job.id);

  auto missing = store_->GetJob("jdoesnotexist");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("jdoesnotexist"));
  EXPECT_EQ(store_->GetTasks("jdoesnotexist").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, ListJobsPagesNewestFirstWithFilters) {
  Reopen();
  std::vector<std::string> ids;  // creation order
  for (int i = 0; i < 5; ++i) ids.push_back(MustCreate(Job(i % 2 == 0 ? "even" : "odd")));
  ASSERT_TRUE(store_->SetJobState(ids[1], JobState::kRunning).ok());
  ASSERT_TRUE(store_->SetJobState(ids[2], JobState::kRunning).ok());

  // Pages of two, newest first, covering every job exactly once.
  std::vector<std::string> listed;
  std::vector<size_t> page_sizes;
  ListJobsQuery query;
  query.limit = 2;
  for (;;) {
    auto page = store_->ListJobs(query);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->jobs.size());
    for (const JobRecord& j : page->jobs) listed.push_back(j.id);
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  EXPECT_THAT(page_sizes, ElementsAre(2, 2, 1));
  EXPECT_THAT(listed, ElementsAre(ids[4], ids[3], ids[2], ids[1], ids[0]));

  auto all = store_->ListJobs({});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Ids(all->jobs), ElementsAre(ids[4], ids[3], ids[2], ids[1], ids[0]));
  EXPECT_EQ(all->next_page_token, "");

  ListJobsQuery by_dataset;
  by_dataset.dataset = "odd";
  auto odd = store_->ListJobs(by_dataset);
  ASSERT_TRUE(odd.ok());
  EXPECT_THAT(Ids(odd->jobs), ElementsAre(ids[3], ids[1]));

  ListJobsQuery by_state;
  by_state.state = JobState::kRunning;
  auto running = store_->ListJobs(by_state);
  ASSERT_TRUE(running.ok());
  EXPECT_THAT(Ids(running->jobs), ElementsAre(ids[2], ids[1]));

  ListJobsQuery both = by_state;
  both.dataset = "even";
  auto even_running = store_->ListJobs(both);
  ASSERT_TRUE(even_running.ok());
  EXPECT_THAT(Ids(even_running->jobs), ElementsAre(ids[2]));

  // Filtered pagination.
  ListJobsQuery even_pages;
  even_pages.dataset = "even";
  even_pages.limit = 2;
  auto first = store_->ListJobs(even_pages);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Ids(first->jobs), ElementsAre(ids[4], ids[2]));
  even_pages.page_token = first->next_page_token;
  auto second = store_->ListJobs(even_pages);
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Ids(second->jobs), ElementsAre(ids[0]));
  EXPECT_EQ(second->next_page_token, "");

  ListJobsQuery bad;
  bad.page_token = "not-a-token";
  EXPECT_EQ(store_->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.page_token = "";
  bad.limit = 0;
  EXPECT_EQ(store_->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);

  // UnfinishedJobs: oldest first, without finished ones.
  ASSERT_TRUE(store_->SetJobState(ids[3], JobState::kSucceeded).ok());
  auto unfinished = store_->UnfinishedJobs();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_THAT(Ids(*unfinished), ElementsAre(ids[0], ids[1], ids[2], ids[4]));
}

TEST_F(JobStoreTest, CreateJobIsIdempotentByRequestId) {
  Reopen();
  auto first = store_->CreateJob(Job("ds", "spec-1", "req-1"), PipelineTasks());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);

  clock_ms_ += 5000;
  auto again = store_->CreateJob(Job("ds", "spec-1", "req-1"), PipelineTasks());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->job, first->job);  // the stored job, creation time included
  EXPECT_EQ(store_->GetJobByRequestId("req-1")->id, first->job.id);
  EXPECT_EQ(store_->GetJobByRequestId("req-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJobByRequestId("").status().code(), absl::StatusCode::kNotFound);

  auto other_spec = store_->CreateJob(Job("ds", "spec-2", "req-1"), PipelineTasks());
  EXPECT_EQ(other_spec.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(other_spec.status().message()), HasSubstr("req-1"));
  EXPECT_THAT(std::string(other_spec.status().message()), HasSubstr(first->job.id));
  auto other_dataset = store_->CreateJob(Job("ds-2", "spec-1", "req-1"), PipelineTasks());
  EXPECT_EQ(other_dataset.status().code(), absl::StatusCode::kAlreadyExists);

  auto all = store_->ListJobs({});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Ids(all->jobs), ElementsAre(first->job.id));  // nothing else was inserted

  // Without a request_id every call creates a job.
  EXPECT_NE(MustCreate(Job("ds", "spec-1")), MustCreate(Job("ds", "spec-1")));
}

TEST_F(JobStoreTest, CreateJobRejectsBadTaskGraphsAndInsertsNothing) {
  Reopen();
  const std::vector<std::vector<TaskRecord>> bad = {
      {Task("a", "k", {"missing"})},
      {Task("a", "k"), Task("a", "k")},
      {Task("a", "k", {"b"}), Task("b", "k", {"a"})},
      {Task("a", "k", {"a"})},
      {Task("a", "k"), Task("b", "k", {"a", "a"})},
      {Task("", "k")},
      {Task("a", "")},
  };
  for (const auto& tasks : bad) {
    auto r = store_->CreateJob(Job("ds", "spec", "req"), tasks);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  }
  auto all = store_->ListJobs({});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(all->jobs, IsEmpty());
  // The request_id was not consumed by the failed calls.
  auto ok = store_->CreateJob(Job("ds", "spec", "req"), {Task("a", "k")});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->created);
}

TEST_F(JobStoreTest, ReadyTasksFollowDependencies) {
  Reopen();
  const std::string j1 = MustCreate(Job("ds"));
  const std::string j2 = MustCreate(Job("ds"));

  // Oldest job first, then by task name.
  EXPECT_THAT(Names(Ready(), true), ElementsAre(j1 + ":ingest-hr", j1 + ":ingest-lr",
                                                j2 + ":ingest-hr", j2 + ":ingest-lr"));
  EXPECT_THAT(Names(Ready(kT0, 3), true),
              ElementsAre(j1 + ":ingest-hr", j1 + ":ingest-lr", j2 + ":ingest-hr"));

  auto lr = store_->StartAttempt(j1, "ingest-lr", "w1", kT0);
  auto hr = store_->StartAttempt(j1, "ingest-hr", "w2", kT0);
  ASSERT_TRUE(lr.ok() && hr.ok());
  EXPECT_THAT(Names(Ready(), true), ElementsAre(j2 + ":ingest-hr", j2 + ":ingest-lr"));

  // align waits for both ingests.
  ASSERT_TRUE(store_->CompleteAttempt(j1, "ingest-lr", *lr, "lr").ok());
  EXPECT_THAT(Names(Ready(), true), ElementsAre(j2 + ":ingest-hr", j2 + ":ingest-lr"));
  auto early = store_->StartAttempt(j1, "align", "w3", kT0);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MustGetTask(j1, "align").state, TaskState::kPending);

  ASSERT_TRUE(store_->CompleteAttempt(j1, "ingest-hr", *hr, "hr").ok());
  auto ready = Ready(kT0, 1);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].job_id, j1);
  EXPECT_EQ(ready[0].name, "align");
  EXPECT_THAT(ready[0].deps, ElementsAre("ingest-lr", "ingest-hr"));
  EXPECT_EQ(ready[0].input, Task("align", "align").input);

  RunToDone(j1, "align");
  EXPECT_THAT(Names(Ready(kT0, 3), true),
              ElementsAre(j1 + ":pack-0", j1 + ":pack-1", j1 + ":pack-2"));
  EXPECT_THAT(Names(Ready(kT0, 100, "pack")), ElementsAre("pack-0", "pack-1", "pack-2"));
  EXPECT_THAT(Names(Ready(kT0, 100, "ingest"), true),
              ElementsAre(j2 + ":ingest-hr", j2 + ":ingest-lr"));
  EXPECT_THAT(Ready(kT0, 100, "align"), IsEmpty());
  EXPECT_EQ(store_->ReadyTasks(kT0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

// The scheduler's one query per round lists, kind by kind, what ReadyTasks lists for each.
TEST_F(JobStoreTest, ReadyTasksOfKindsListsEachKindLikeReadyTasks) {
  Reopen();
  const std::string j1 = MustCreate(Job("ds"));
  const std::string j2 = MustCreate(Job("ds"));
  const std::string j3 = MustCreate(Job("ds"));
  RunToDone(j1, "ingest-lr");
  RunToDone(j1, "ingest-hr");
  RunToDone(j1, "align");
  auto retried = store_->StartAttempt(j2, "ingest-hr", "w", kT0);
  ASSERT_TRUE(retried.ok());
  ASSERT_TRUE(store_->RetryAttempt(j2, "ingest-hr", *retried, kT0 + 50, "unavailable").ok());

  for (const int64_t now : {kT0, kT0 + 50}) {
    auto ready = store_->ReadyTasksOfKinds(now, {{"pack", 2}, {"ingest", 4}, {"align", 9}});
    ASSERT_TRUE(ready.ok()) << ready.status();
    std::vector<TaskRecord> expected = Ready(now, 2, "pack");
    for (TaskRecord& t : Ready(now, 4, "ingest")) expected.push_back(t);
    EXPECT_THAT(Names(*ready, true), Names(expected, true));
    ASSERT_EQ(ready->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      // Everything but what dispatching does not read.
      expected[i].deps.clear();
      expected[i].input.clear();
      EXPECT_EQ((*ready)[i], expected[i]) << expected[i].name;
    }
  }
  auto later = store_->ReadyTasksOfKinds(kT0 + 50, {{"ingest", 9}});
  ASSERT_TRUE(later.ok());
  EXPECT_THAT(Names(*later, true), ElementsAre(j2 + ":ingest-hr", j2 + ":ingest-lr",
                                               j3 + ":ingest-hr", j3 + ":ingest-lr"));
  EXPECT_EQ((*later)[0].retries, 1);
  EXPECT_EQ((*later)[0].worker, "w");

  auto none = store_->ReadyTasksOfKinds(kT0, {});
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
  EXPECT_EQ(store_->ReadyTasksOfKinds(kT0, {{"pack", 0}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, BackoffDelaysReadiness) {
  Reopen();
  TaskRecord later = Task("later", "pack");
  later.not_before_unix_ms = kT0 + 1000;
  const std::string job = MustCreate(Job("ds"), {Task("t", "pack"), later});
  EXPECT_THAT(Names(Ready(kT0)), ElementsAre("t"));
  EXPECT_THAT(Names(Ready(kT0 + 1000)), ElementsAre("later", "t"));

  auto attempt = store_->StartAttempt(job, "t", "w1", kT0);
  ASSERT_TRUE(attempt.ok());
  ASSERT_TRUE(store_->RetryAttempt(job, "t", *attempt, kT0 + 5000, "worker unavailable").ok());
  const TaskRecord t = MustGetTask(job, "t");
  EXPECT_EQ(t.state, TaskState::kPending);
  EXPECT_EQ(t.retries, 1);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(t.not_before_unix_ms, kT0 + 5000);
  EXPECT_EQ(t.error, "worker unavailable");

  EXPECT_THAT(Names(Ready(kT0 + 4999)), ElementsAre("later"));
  EXPECT_THAT(Names(Ready(kT0 + 5000)), ElementsAre("later", "t"));
}

TEST_F(JobStoreTest, StaleAttemptsAreFencedOut) {
  Reopen();
  const std::string job = MustCreate(Job("ds"), {Task("t", "pack"), Task("u", "pack")});
  auto first = store_->StartAttempt(job, "t", "worker-a", kT0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 1);
  // Of two starts of one PENDING attempt, the second loses.
  EXPECT_EQ(store_->StartAttempt(job, "t", "worker-x", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(store_->RetryAttempt(job, "t", *first, kT0, "deadline exceeded").ok());
  auto second = store_->StartAttempt(job, "t", "worker-b", kT0 + 10);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 2);
  const TaskRecord running = MustGetTask(job, "t");

  // worker-a answers late: every fenced transition refuses it and nothing changes.
  const absl::Status late = store_->CompleteAttempt(job, "t", *first, "late result");
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.message()), HasSubstr("stale attempt 1"));
  EXPECT_THAT(std::string(late.message()), HasSubstr("current is 2"));
  EXPECT_EQ(store_->RetryAttempt(job, "t", *first, kT0, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->FailAttempt(job, "t", *first, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CompleteAttempt(job, "t", 7, "future").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MustGetTask(job, "t"), running);
  EXPECT_EQ(running.state, TaskState::kRunning);
  EXPECT_EQ(running.worker, "worker-b");
  EXPECT_EQ(running.started_unix_ms, kT0 + 10);

  // The current attempt wins, once.
  ASSERT_TRUE(store_->CompleteAttempt(job, "t", *second, "result").ok());
  const TaskRecord done = MustGetTask(job, "t");
  EXPECT_EQ(done.state, TaskState::kDone);
  EXPECT_EQ(done.result, "result");
  EXPECT_EQ(done.attempt, 2);
  EXPECT_EQ(done.retries, 1);
  EXPECT_EQ(store_->CompleteAttempt(job, "t", *second, "again").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->StartAttempt(job, "t", "worker-c", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MustGetTask(job, "t"), done);

  // FailAttempt ends a task.
  auto u = store_->StartAttempt(job, "u", "worker-a", kT0);
  ASSERT_TRUE(u.ok());
  ASSERT_TRUE(store_->FailAttempt(job, "u", *u, "corrupt input").ok());
  EXPECT_EQ(MustGetTask(job, "u").state, TaskState::kFailed);
  EXPECT_EQ(MustGetTask(job, "u").error, "corrupt input");

  EXPECT_EQ(store_->CompleteAttempt(job, "nope", 1, "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->StartAttempt(job, "nope", "w", kT0).status().code(),
            absl::StatusCode::kNotFound);
}

// The "done" event rides in CompleteAttempt's transaction: the file holds both or neither.
TEST_F(JobStoreTest, CompleteAttemptStoresItsDoneEventInTheSameTransaction) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  auto lr = store_->StartAttempt(job, "ingest-lr", "w1", kT0);
  auto hr = store_->StartAttempt(job, "ingest-hr", "w2", kT0);
  ASSERT_TRUE(lr.ok() && hr.ok());

  TransitionEvent done{"lr done", kT0 + 5};
  ASSERT_TRUE(store_->CompleteAttempt(job, "ingest-lr", *lr, "lr", &done).ok());
  EXPECT_EQ(done.seq, 1);
  EXPECT_EQ(MustGetTask(job, "ingest-lr").state, TaskState::kDone);
  auto events = store_->EventsAfter(job, 0, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_THAT(*events, ElementsAre(EventRecord{1, kT0 + 5, "lr done"}));

  // A fenced-out answer stores no event either.
  TransitionEvent stale{"stale", kT0 + 6};
  EXPECT_EQ(store_->CompleteAttempt(job, "ingest-lr", *lr, "again", &stale).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(stale.seq, 0);

  // The event's insert fails (an operator's trigger refuses it): the task stays RUNNING, its
  // result and its dependents untouched, and no event is stored.
  {
    RawDb raw(path_);
    raw.Exec(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, "
        "'refused'); END");
  }
  TransitionEvent refused{"hr done", kT0 + 7};
  EXPECT_FALSE(store_->CompleteAttempt(job, "ingest-hr", *hr, "hr", &refused).ok());
  EXPECT_EQ(refused.seq, 0);
  const TaskRecord running = MustGetTask(job, "ingest-hr");
  EXPECT_EQ(running.state, TaskState::kRunning);
  EXPECT_EQ(running.result, "");
  EXPECT_THAT(Ready(), IsEmpty());  // align still waits for ingest-hr
  auto last = store_->LastEventSeq(job);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 1);

  // Without the trigger the same answer goes through, with the next seq.
  RawDb(path_).Exec("DROP TRIGGER refuse_events");
  ASSERT_TRUE(store_->CompleteAttempt(job, "ingest-hr", *hr, "hr", &refused).ok());
  EXPECT_EQ(refused.seq, 2);
  EXPECT_THAT(Names(Ready()), ElementsAre("align"));
  Reopen();  // durable together
  EXPECT_EQ(MustGetTask(job, "ingest-hr").result, "hr");
  events = store_->EventsAfter(job, 1, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, ElementsAre(EventRecord{2, kT0 + 7, "hr done"}));
}

// The job's "running" event rides in the StartAttempt that moves it to RUNNING, and only there.
TEST_F(JobStoreTest, FirstStartAttemptStoresTheJobRunningEvent) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));

  // The event's insert fails: the task stays PENDING (attempt 0) and the job QUEUED.
  {
    RawDb raw(path_);
    raw.Exec(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, "
        "'refused'); END");
  }
  bool started = true;
  TransitionEvent running{"job running", kT0 + 1};
  EXPECT_FALSE(store_->StartAttempt(job, "ingest-lr", "w1", kT0, &started, &running).ok());
  EXPECT_FALSE(started);
  EXPECT_EQ(running.seq, 0);
  EXPECT_EQ(MustGetTask(job, "ingest-lr").state, TaskState::kPending);
  EXPECT_EQ(MustGetTask(job, "ingest-lr").attempt, 0);
  auto queued = store_->GetJob(job);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued->state, JobState::kQueued);
  RawDb(path_).Exec("DROP TRIGGER refuse_events");

  auto first = store_->StartAttempt(job, "ingest-lr", "w1", kT0, &started, &running);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(started);
  EXPECT_EQ(running.seq, 1);
  auto job_now = store_->GetJob(job);
  ASSERT_TRUE(job_now.ok());
  EXPECT_EQ(job_now->state, JobState::kRunning);

  // The job is RUNNING already: the next start stores no event.
  TransitionEvent again{"job running again", kT0 + 2};
  auto second = store_->StartAttempt(job, "ingest-hr", "w2", kT0, &started, &again);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(started);
  EXPECT_EQ(again.seq, 0);
  auto events = store_->EventsAfter(job, 0, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, ElementsAre(EventRecord{1, kT0 + 1, "job running"}));
}

TEST_F(JobStoreTest, TerminalJobStatesAreFinal) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  ASSERT_TRUE(store_->SetJobState(job, JobState::kRunning).ok());
  auto lr = store_->StartAttempt(job, "ingest-lr", "w1", kT0);
  ASSERT_TRUE(lr.ok());

  clock_ms_ = kT0 + 60'000;
  ASSERT_TRUE(store_->SetJobState(job, JobState::kSucceeded, "", "manifest").ok());
  auto got = store_->GetJob(job);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kSucceeded);
  EXPECT_EQ(got->result, "manifest");
  EXPECT_EQ(got->updated_unix_ms, kT0 + 60'000);

  // A cancel that lost the race is refused and changes nothing.
  const absl::Status cancel = store_->SetJobState(job, JobState::kCancelled, "user asked");
  EXPECT_EQ(cancel.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(cancel.message()), HasSubstr("SUCCEEDED"));
  EXPECT_EQ(store_->SetJobState(job, JobState::kRunning).code(),
            absl::StatusCode::kFailedPrecondition);
  auto after = store_->GetJob(job);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *got);

  // Entering the terminal state cancelled the unfinished tasks: nothing runs or becomes ready.
  auto tasks = store_->GetTasks(job);
  ASSERT_TRUE(tasks.ok());
  for (const TaskRecord& t : *tasks) EXPECT_EQ(t.state, TaskState::kCancelled) << t.name;
  EXPECT_EQ(store_->CompleteAttempt(job, "ingest-lr", *lr, "late").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Ready(), IsEmpty());

  const std::string failed = MustCreate(Job("ds"));
  ASSERT_TRUE(store_->SetJobState(failed, JobState::kFailed, "align: no overlap").ok());
  auto failed_job = store_->GetJob(failed);
  ASSERT_TRUE(failed_job.ok());
  EXPECT_EQ(failed_job->state, JobState::kFailed);
  EXPECT_EQ(failed_job->error, "align: no overlap");
  EXPECT_EQ(store_->SetJobState(failed, JobState::kFailed).code(),
            absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(store_->SetJobState("jnope", JobState::kRunning).code(), absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, CancelTasksKeepsFinishedOutcomes) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  RunToDone(job, "ingest-lr");
  auto hr = store_->StartAttempt(job, "ingest-hr", "w1", kT0);
  ASSERT_TRUE(hr.ok());

  auto cancelled = store_->CancelTasks(job);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(*cancelled, 5);  // ingest-hr (running), align, three packs
  EXPECT_EQ(MustGetTask(job, "ingest-lr").state, TaskState::kDone);
  EXPECT_EQ(MustGetTask(job, "ingest-lr").result, "ok");
  EXPECT_EQ(MustGetTask(job, "ingest-hr").state, TaskState::kCancelled);
  EXPECT_EQ(MustGetTask(job, "pack-2").state, TaskState::kCancelled);
  EXPECT_EQ(store_->CompleteAttempt(job, "ingest-hr", *hr, "late").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Ready(), IsEmpty());
  EXPECT_EQ(*store_->CancelTasks(job), 0);

  ASSERT_TRUE(store_->SetJobState(job, JobState::kCancelled, "cancelled by user").ok());
  EXPECT_EQ(store_->CancelTasks("jnope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, EverythingPersistsAcrossReopenAndRunningTasksAreRequeued) {
  Reopen();
  auto created = store_->CreateJob(Job("ds", "spec", "req-7"), PipelineTasks());
  ASSERT_TRUE(created.ok());
  const std::string job = created->job.id;
  const std::string other = MustCreate(Job("ds"));
  ASSERT_TRUE(store_->SetJobState(job, JobState::kRunning).ok());
  auto lr = store_->StartAttempt(job, "ingest-lr", "10.0.0.1:50051", kT0 + 1);
  ASSERT_TRUE(lr.ok());
  RunToDone(job, "ingest-hr");
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(store_->AppendEvent(job, "e", kT0 + i).ok());

  auto jobs_before = store_->ListJobs({});
  auto tasks_before = store_->GetTasks(job);
  auto events_before = store_->EventsAfter(job, 0, 100);
  ASSERT_TRUE(jobs_before.ok() && tasks_before.ok() && events_before.ok());

  Reopen();  // a coordinator restart
  auto jobs_after = store_->ListJobs({});
  auto tasks_after = store_->GetTasks(job);
  auto events_after = store_->EventsAfter(job, 0, 100);
  ASSERT_TRUE(jobs_after.ok() && tasks_after.ok() && events_after.ok());
  EXPECT_EQ(jobs_after->jobs, jobs_before->jobs);
  EXPECT_EQ(*tasks_after, *tasks_before);
  EXPECT_EQ(*events_after, *events_before);

  // The request_id still deduplicates.
  auto retry = store_->CreateJob(Job("ds", "spec", "req-7"), PipelineTasks());
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->created);
  EXPECT_EQ(retry->job.id, job);

  // The lost attempt goes back to PENDING with its attempt number kept...
  auto requeued = store_->RequeueRunningTasks();
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(*requeued, 1);
  const TaskRecord lr_task = MustGetTask(job, "ingest-lr");
  EXPECT_EQ(lr_task.state, TaskState::kPending);
  EXPECT_EQ(lr_task.attempt, 1);
  EXPECT_EQ(lr_task.retries, 0);
  EXPECT_EQ(lr_task.worker, "10.0.0.1:50051");
  EXPECT_EQ(*store_->RequeueRunningTasks(), 0);
  EXPECT_THAT(Names(Ready(), true),
              ElementsAre(job + ":ingest-lr", other + ":ingest-hr", other + ":ingest-lr"));

  // ...so the old worker's late answer loses to the new attempt.
  auto next = store_->StartAttempt(job, "ingest-lr", "10.0.0.2:50051", kT0 + 2);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 2);
  EXPECT_EQ(store_->CompleteAttempt(job, "ingest-lr", *lr, "late").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->CompleteAttempt(job, "ingest-lr", *next, "fresh").ok());
  EXPECT_EQ(MustGetTask(job, "ingest-lr").result, "fresh");

  auto seq = store_->AppendEvent(job, "after restart", kT0 + 4);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4);
}

TEST_F(JobStoreTest, EventSequenceIsDensePerJobAndPages) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  const std::string other = MustCreate(Job("ds"));
  EXPECT_EQ(*store_->LastEventSeq(job), 0);
  EXPECT_THAT(*store_->EventsAfter(job, 0, 10), IsEmpty());

  auto payload = [](int i) { return absl::StrCat("event ", i, std::string(1, '\0'), "!"); };
  for (int i = 1; i <= 25; ++i) {
    auto seq = store_->AppendEvent(job, payload(i), kT0 + i);
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, i);
    if (i % 5 == 0) {
      auto other_seq = store_->AppendEvent(other, "x", kT0);
      ASSERT_TRUE(other_seq.ok());
      EXPECT_EQ(*other_seq, i / 5);  // each job has its own sequence
    }
  }
  EXPECT_EQ(*store_->LastEventSeq(job), 25);
  EXPECT_EQ(*store_->LastEventSeq(other), 5);

  // Paging the way a streaming reader resumes: after the last seq it saw.
  std::vector<int64_t> seqs;
  int64_t after = 0;
  for (;;) {
    auto page = store_->EventsAfter(job, after, 10);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    EXPECT_LE(page->size(), 10u);
    for (const EventRecord& e : *page) {
      EXPECT_EQ(e.payload, payload(e.seq));
      EXPECT_EQ(e.unix_ms, kT0 + e.seq);
      seqs.push_back(e.seq);
    }
    after = page->back().seq;
  }
  ASSERT_EQ(seqs.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(seqs[i], i + 1);
  EXPECT_THAT(*store_->EventsAfter(job, 23, 10), ::testing::SizeIs(2));

  Reopen();
  EXPECT_EQ(*store_->LastEventSeq(job), 25);
  auto seq = store_->AppendEvent(job, payload(26), kT0 + 26);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 26);

  EXPECT_EQ(store_->AppendEvent("jnope", "x", kT0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->EventsAfter("jnope", 0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LastEventSeq("jnope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->EventsAfter(job, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, ConcurrentAppendsAndStartsFromTwoConnections) {
  Reopen();
  // Two stores on one file: threads contend on the mutex within a store and on SQLite's
  // lock between the two.
  auto second = JobStore::Open(path_, Options());
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<TaskRecord> tasks;
  for (int i = 0; i < 16; ++i) tasks.push_back(Task(absl::StrCat("t", i / 10, i % 10), "pack"));
  const std::string job = MustCreate(Job("ds"), tasks);

  constexpr int kThreads = 8;
  constexpr int kEventsPerThread = 20;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::vector<std::atomic<int>> wins(tasks.size());
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      JobStore* store = k % 2 == 0 ? store_.get() : second->get();
      for (int i = 0; i < kEventsPerThread; ++i) {
        auto seq = store->AppendEvent(job, absl::StrCat("thread ", k, " event ", i), kT0);
        if (seq.ok()) {
          seqs[k].push_back(*seq);
        } else {
          ++unexpected;
        }
        // Every thread tries every task, starting at a different one.
        const size_t t = (k * 2 + i) % tasks.size();
        auto attempt = store->StartAttempt(job, tasks[t].name, absl::StrCat("w", k), kT0);
        if (attempt.ok()) {
          ++wins[t];
        } else if (attempt.status().code() != absl::StatusCode::kFailedPrecondition) {
          ++unexpected;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(unexpected.load(), 0);
  std::set<int64_t> all;
  for (int k = 0; k < kThreads; ++k) {
    // A thread's own appends are ordered, so its seqs increase.
    EXPECT_TRUE(std::is_sorted(seqs[k].begin(), seqs[k].end()));
    all.insert(seqs[k].begin(), seqs[k].end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads * kEventsPerThread});  // no duplicates
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEventsPerThread);  // and no gaps
  EXPECT_EQ(*store_->LastEventSeq(job), kThreads * kEventsPerThread);
  for (size_t t = 0; t < tasks.size(); ++t) {
    EXPECT_EQ(wins[t].load(), 1) << tasks[t].name;
    EXPECT_EQ(MustGetTask(job, tasks[t].name).attempt, 1) << tasks[t].name;
  }
}

// Reads exactly n bytes; false at EOF.
bool ReadFull(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Large enough to span several pages, so a torn write would show as a wrong payload.
std::string CrashPayload(int64_t seq) {
  return absl::StrCat("event ", seq, ":", std::string(10000, static_cast<char>('a' + seq % 26)));
}

// In a forked child (only _exit there, no gtest): opens the store at `path`, commits a job,
// writes its id and a newline to `fd`, then runs `append` until the parent kills it.
[[noreturn]] void CrashingWriter(const std::string& path, int fd,
                                 const std::function<void(JobStore&, const std::string&)>& append) {
  auto store = JobStore::Open(path);
  if (!store.ok()) ::_exit(2);
  auto created = (*store)->CreateJob(Job("crash"), PipelineTasks());
  if (!created.ok()) ::_exit(3);
  const std::string id = created->job.id + "\n";
  if (::write(fd, id.data(), id.size()) != static_cast<ssize_t>(id.size())) ::_exit(4);
  append(**store, created->job.id);
  ::_exit(7);
}

TEST_F(JobStoreTest, SigkillDuringAppendsLosesNothingCommitted) {
  // Each round, a child process opens the store, commits a job and appends events until it is
  // killed, reporting every acknowledged seq through a pipe. The parent then reopens the file.
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      CrashingWriter(path_, fds[1], [&](JobStore& store, const std::string& job) {
        for (int64_t i = 1;; ++i) {
          auto seq = store.AppendEvent(job, CrashPayload(i), i);
          if (!seq.ok() || *seq != i) ::_exit(5);
          if (::write(fds[1], &i, sizeof(i)) != sizeof(i)) ::_exit(6);
        }
      });
    }
    ::close(fds[1]);
    std::string id(14, '\0');
    ASSERT_TRUE(ReadFull(fds[0], id.data(), id.size())) << "child died before creating a job";
    id.pop_back();
    int64_t acked = 0;
    for (int64_t seq; acked < 20 + 7 * round && ReadFull(fds[0], &seq, sizeof(seq));) acked = seq;
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    // Acks already in the pipe were committed before the child died.
    for (int64_t seq; ReadFull(fds[0], &seq, sizeof(seq));) acked = seq;
    ::close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
    EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);

    Reopen();
    auto job = store_->GetJob(id);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->dataset, "crash");
    auto tasks = store_->GetTasks(id);
    ASSERT_TRUE(tasks.ok());
    EXPECT_EQ(tasks->size(), PipelineTasks().size());
    auto last = store_->LastEventSeq(id);
    ASSERT_TRUE(last.ok());
    EXPECT_GE(*last, acked);      // every acknowledged event survived
    EXPECT_LE(*last, acked + 1);  // at most the one committed between ack and kill
    auto events = store_->EventsAfter(id, 0, 1000);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(static_cast<int64_t>(events->size()), *last);
    for (size_t i = 0; i < events->size(); ++i) {
      const EventRecord& e = (*events)[i];
      ASSERT_EQ(e.seq, static_cast<int64_t>(i) + 1);  // contiguous from 1
      ASSERT_EQ(e.payload, CrashPayload(e.seq));      // no torn row
      ASSERT_EQ(e.unix_ms, e.seq);
    }
    store_.reset();  // no connection is inherited by the next child
  }
}

TEST_F(JobStoreTest, ConcurrentTransitionsShareOneCommitAndAllSurviveReopen) {
  // The first write holds the commit (its clock call blocks inside the transaction) while 32
  // threads queue theirs: completions, starts (one of them refused) and events. They
  // must all go into the next single commit, each answered as if it had run alone.
  constexpr int kWriters = 32;
  std::atomic<bool> hold{false};
  std::atomic<bool> held{false};
  JobStoreOptions options = Options();
  options.clock = [&] {
    held = hold.load();
    while (hold) std::this_thread::yield();
    return clock_ms_.load();
  };
  store_.reset();
  auto opened = JobStore::Open(path_, options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  store_ = std::move(*opened);
  std::vector<TaskRecord> tasks;
  for (int i = 0; i < kWriters; ++i)
    tasks.push_back(Task(absl::StrCat("t", i / 10, i % 10), "pack"));
  const std::string job = MustCreate(Job("ds"), tasks);
  for (int i = 0; i < kWriters / 2; ++i)
    ASSERT_TRUE(store_->StartAttempt(job, tasks[i].name, "w", kT0).ok());
  const JobStoreStats before = store_->Stats();

  hold = true;
  std::thread leader([&] { EXPECT_TRUE(store_->SetJobState(job, JobState::kRunning).ok()); });
  while (!held) std::this_thread::yield();
  // Writers 0..15 complete the running tasks, 16 starts a running task (refused, and rolled
  // back alone), 17..23 start pending ones, 24..31 append events.
  constexpr int kHalf = kWriters / 2;
  constexpr int kFirstEvent = 24;
  std::vector<absl::Status> statuses(kWriters);
  std::vector<int64_t> seqs(kWriters, 0);
  std::vector<std::thread> writers;
  for (int k = 0; k < kWriters; ++k) {
    writers.emplace_back([&, k] {
      const std::string& name = tasks[k].name;
      if (k < kHalf) {
        statuses[k] = store_->CompleteAttempt(job, name, 1, absl::StrCat("result ", k));
      } else if (k == kHalf) {
        statuses[k] = store_->StartAttempt(job, tasks[0].name, "w", kT0).status();
      } else if (k < kFirstEvent) {
        statuses[k] = store_->StartAttempt(job, name, absl::StrCat("w", k), kT0).status();
      } else {
        auto seq = store_->AppendEvent(job, absl::StrCat("event ", k), kT0);
        statuses[k] = seq.status();
        if (seq.ok()) seqs[k] = *seq;
      }
    });
  }
  while (store_->Stats().queued < kWriters) std::this_thread::yield();
  hold = false;
  leader.join();
  for (std::thread& t : writers) t.join();

  const JobStoreStats after = store_->Stats();
  EXPECT_EQ(after.writes - before.writes, 1 + kWriters);
  EXPECT_EQ(after.commits - before.commits, 2);  // the held one, then all 32 together
  EXPECT_EQ(after.queued, 0);
  EXPECT_EQ(statuses[kHalf].code(), absl::StatusCode::kFailedPrecondition);
  std::set<int64_t> distinct;
  for (int k = 0; k < kWriters; ++k) {
    if (k != kHalf) {
      EXPECT_TRUE(statuses[k].ok()) << k << ": " << statuses[k];
    }
    if (seqs[k] != 0) distinct.insert(seqs[k]);
  }
  EXPECT_EQ(distinct.size(), size_t{kWriters - kFirstEvent});  // one seq each, no duplicates

  Reopen();
  auto got = store_->GetJob(job);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kRunning);
  for (int k = 0; k < kWriters; ++k) {
    const TaskRecord t = MustGetTask(job, tasks[k].name);
    if (k < kHalf) {
      EXPECT_EQ(t.state, TaskState::kDone) << t.name;
      EXPECT_EQ(t.result, absl::StrCat("result ", k));
      EXPECT_EQ(t.attempt, 1);
    } else if (k > kHalf && k < kFirstEvent) {
      EXPECT_EQ(t.state, TaskState::kRunning) << t.name;
      EXPECT_EQ(t.worker, absl::StrCat("w", k));
    }
  }
  EXPECT_EQ(*store_->LastEventSeq(job), kWriters - kFirstEvent);
}

TEST_F(JobStoreTest, SigkillDuringConcurrentWritesLosesNothingAcknowledged) {
  // As above, with four threads whose writes share commits: every acknowledged event (each
  // thread reports its seqs through the pipe after they return) is in the file after the kill.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    CrashingWriter(path_, fds[1], [&](JobStore& store, const std::string& job) {
      std::vector<std::thread> threads;
      for (int k = 0; k < 4; ++k) {
        threads.emplace_back([&] {
          for (;;) {
            auto seq = store.AppendEvent(job, "x", 0);
            if (!seq.ok()) ::_exit(5);
            const int64_t v = *seq;
            if (::write(fds[1], &v, sizeof(v)) != sizeof(v)) ::_exit(6);
          }
        });
      }
      for (std::thread& t : threads) t.join();
    });
  }
  ::close(fds[1]);
  std::string id(14, '\0');
  ASSERT_TRUE(ReadFull(fds[0], id.data(), id.size())) << "child died before creating a job";
  id.pop_back();
  std::set<int64_t> acked;
  for (int64_t seq; acked.size() < 200 && ReadFull(fds[0], &seq, sizeof(seq));) acked.insert(seq);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int64_t seq; ReadFull(fds[0], &seq, sizeof(seq));) acked.insert(seq);
  ::close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);

  Reopen();
  auto last = store_->LastEventSeq(id);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_FALSE(acked.empty());
  EXPECT_GE(*last, *acked.rbegin());  // every acknowledged event survived
  auto events = store_->EventsAfter(id, 0, 100000);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(static_cast<int64_t>(events->size()), *last);  // and the seqs have no gaps
  EXPECT_EQ(events->back().seq, *last);
}

TEST_F(JobStoreTest, OpenRefusesFilesThatAreNotJobStores) {
  // Not a database at all: refused, named, and left untouched.
  const std::string text_path = dir_ + "/notes.txt";
  std::string text;
  for (int i = 0; i < 200; ++i) text += "this is not a database\n";
  std::ofstream(text_path) << text;
  auto not_db = JobStore::Open(text_path);
  ASSERT_FALSE(not_db.ok());
  EXPECT_EQ(not_db.status().code(), absl::StatusCode::kFailedPrecondition) << not_db.status();
  EXPECT_THAT(std::string(not_db.status().message()), HasSubstr(text_path));
  EXPECT_THAT(std::string(not_db.status().message()), HasSubstr("not a database"));
  std::ifstream in(text_path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), text);

  // A directory that does not exist.
  auto no_dir = JobStore::Open(dir_ + "/missing/jobs.db");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_THAT(std::string(no_dir.status().message()), HasSubstr(dir_ + "/missing"));
  EXPECT_THAT(std::string(no_dir.status().message()), HasSubstr("does not exist"));

  // Another program's SQLite database is not migrated into a job store.
  const std::string foreign = dir_ + "/foreign.db";
  {
    RawDb raw(foreign);
    raw.Exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
  }
  auto foreign_store = JobStore::Open(foreign);
  EXPECT_EQ(foreign_store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(foreign_store.status().message()), HasSubstr("another program"));
  {
    RawDb raw(foreign);  // refused before anything was written
    EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "delete");
    EXPECT_EQ(raw.Query("PRAGMA application_id"), "0");
  }

  // A store written by a newer schema is refused rather than misread.
  Reopen();
  store_.reset();
  {
    RawDb raw(path_);
    raw.Exec("PRAGMA user_version = 99");
  }
  auto newer = JobStore::Open(path_);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(newer.status().message()), HasSubstr("99"));

  EXPECT_EQ(JobStore::Open(":memory:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JobStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, FileUsesWalAndCurrentSchema) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  ASSERT_TRUE(store_->AppendEvent(job, "e", kT0).ok());
  RawDb raw(path_);  // while the store is open, like an operator's sqlite3 shell
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("PRAGMA user_version"), "4");
  EXPECT_EQ(raw.Query("PRAGMA foreign_key_check"), "");  // no violations
  EXPECT_EQ(raw.Query("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.Query("SELECT state FROM jobs"), "QUEUED");  // readable in the shell
  EXPECT_EQ(raw.Query("SELECT COUNT(*) FROM task_deps"), "5");
  // Opening again (e.g. a second coordinator binary) migrates nothing and works.
  auto again = JobStore::Open(path_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->GetJob(job)->id, job);
}

TEST_F(JobStoreTest, CountTasksByKindForUnfinishedJobs) {
  Reopen();
  const std::string a = MustCreate(Job("ds"));
  const std::string b = MustCreate(Job("ds"));
  ASSERT_TRUE(store_->StartAttempt(a, "ingest-lr", "w", kT0).ok());
  ASSERT_TRUE(store_->StartAttempt(b, "ingest-lr", "w", kT0).ok());
  ASSERT_TRUE(store_->StartAttempt(b, "ingest-hr", "w", kT0).ok());

  auto pending = store_->CountTasks(TaskState::kPending);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, (std::map<std::string, int64_t>{{"align", 2}, {"ingest", 1}, {"pack", 6}}));
  auto running = store_->CountTasks(TaskState::kRunning);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(*running, (std::map<std::string, int64_t>{{"ingest", 3}}));

  ASSERT_TRUE(store_->SetJobState(b, JobState::kCancelled, "user").ok());
  EXPECT_EQ(*store_->CountTasks(TaskState::kPending),
            (std::map<std::string, int64_t>{{"align", 1}, {"ingest", 1}, {"pack", 3}}));
  EXPECT_EQ(*store_->CountTasks(TaskState::kRunning),
            (std::map<std::string, int64_t>{{"ingest", 1}}));
  EXPECT_THAT(*store_->CountTasks(TaskState::kCancelled), IsEmpty());  // b is finished
}

TEST_F(JobStoreTest, ListJobsPageStaysUnderItsByteBudget) {
  Reopen();
  // Two jobs whose specs carry a 3 MB display name: together above gRPC's 4 MiB message limit.
  const std::string big(3 << 20, 'x');
  const std::string a = MustCreate(Job("ds", "a" + big));
  const std::string b = MustCreate(Job("ds", "b" + big));
  const std::string c = MustCreate(Job("ds", "small"));
  ListJobsQuery query;
  query.limit = 50;
  query.max_bytes = 1 << 20;
  std::vector<std::vector<std::string>> pages;
  for (;;) {
    auto page = store_->ListJobs(query);
    ASSERT_TRUE(page.ok()) << page.status();
    pages.push_back(Ids(page->jobs));
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  // A big job gets a page of its own (a page always has one job, even above the budget).
  EXPECT_THAT(pages, ElementsAre(ElementsAre(c), ElementsAre(b), ElementsAre(a)));
}

TEST_F(JobStoreTest, TaskCountOfAJobIsBounded) {
  Reopen();
  std::vector<TaskRecord> tasks;
  for (int i = 0; i <= JobStore::kMaxTasksPerJob; ++i)
    tasks.push_back(Task(absl::StrCat("t", i), "pack"));
  auto r = store_->CreateJob(Job("ds"), std::move(tasks));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("at most 100000"));
}

// What the scheduler does per dispatched task: find a ready task, start it, read the results it
// needs, complete it, and check whether the job is done. Returns dispatches per second.
double DispatchRate(JobStore& store, int dispatches) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < dispatches; ++i) {
    auto ready = store.ReadyTasks(kT0, 1, "pack");
    EXPECT_TRUE(ready.ok() && ready->size() == 1) << ready.status();
    if (!ready.ok() || ready->empty()) return 0;
    const TaskRecord& t = ready->front();
    auto job = store.GetJob(t.job_id);
    auto deps = store.TaskResults(t.job_id, {"ingest", "scene"});
    EXPECT_TRUE(job.ok() && deps.ok() && deps->size() == 2);
    auto attempt = store.StartAttempt(t.job_id, t.name, "w:1", kT0);
    EXPECT_TRUE(attempt.ok()) << attempt.status();
    if (!attempt.ok()) return 0;
    EXPECT_TRUE(store.CompleteAttempt(t.job_id, t.name, *attempt, "r").ok());
    auto done = store.AllTasksDone(t.job_id);
    EXPECT_TRUE(done.ok() && !*done);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return dispatches / seconds;
}

TEST_F(JobStoreTest, DispatchCostDoesNotGrowWithTheTasksOfTheJob) {
  Reopen();
  auto make = [&](int packs) {
    std::vector<TaskRecord> tasks = {Task("ingest", "ingest"), Task("scene", "scene", {"ingest"})};
    for (int i = 0; i < packs; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "pack-%06d", i);
      tasks.push_back(Task(name, "pack", {"scene"}));
    }
    const std::string id = MustCreate(Job("ds"), std::move(tasks));
    // Before the scene is done, no pack is ready (100 000 of them waiting cost nothing).
    EXPECT_THAT(Ready(kT0, 10, "pack"), IsEmpty());
    RunToDone(id, "ingest");
    RunToDone(id, "scene");
    return id;
  };
  const std::string small = make(100);
  const double small_rate = DispatchRate(*store_, 90);
  ASSERT_TRUE(store_->SetJobState(small, JobState::kCancelled).ok());
  const std::string big = make(JobStore::kMaxTasksPerJob - 2);
  // Far into the job, where a walk past the started tasks would show.
  ASSERT_GT(DispatchRate(*store_, 1000), 0);
  const double big_rate = DispatchRate(*store_, 90);
  std::printf("dispatches/s: job of 100 tasks %.0f, job of 100 000 tasks %.0f\n", small_rate,
              big_rate);
  EXPECT_GT(big_rate, small_rate / 3) << "dispatching slows down with the tasks of the job";
}

TEST_F(JobStoreTest, GetTaskAndTaskResultsReadOnlyWhatTheyName) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  RunToDone(job, "ingest-lr");
  auto t = store_->GetTask(job, "align");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->deps, ElementsAre("ingest-lr", "ingest-hr"));
  EXPECT_EQ(store_->GetTask(job, "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetTask("jnope", "align").status().code(), absl::StatusCode::kNotFound);
  auto results = store_->TaskResults(job, {"ingest-lr", "ingest-hr"});
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(*results, (std::map<std::string, std::string>{{"ingest-lr", "ok"}}));
  EXPECT_FALSE(*store_->AllTasksDone(job));
}

TEST_F(JobStoreTest, RetryWithoutCountingKeepsRetries) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  auto a1 = store_->StartAttempt(job, "ingest-lr", "w:1", kT0);
  ASSERT_TRUE(a1.ok());
  ASSERT_TRUE(store_->RetryAttempt(job, "ingest-lr", *a1, kT0, "busy", false).ok());
  EXPECT_EQ(MustGetTask(job, "ingest-lr").retries, 0);
  auto a2 = store_->StartAttempt(job, "ingest-lr", "w:1", kT0);
  ASSERT_TRUE(a2.ok());
  ASSERT_TRUE(store_->RetryAttempt(job, "ingest-lr", *a2, kT0, "down").ok());
  EXPECT_EQ(MustGetTask(job, "ingest-lr").retries, 1);
}

TEST_F(JobStoreTest, DeleteJobRemovesEverythingOfAFinishedJob) {
  Reopen();
  const std::string running = MustCreate(Job("ds"));
  const std::string done = MustCreate(Job("ds"));
  ASSERT_TRUE(store_->AppendEvent(done, "e", kT0).ok());
  ASSERT_TRUE(store_->SetJobState(running, JobState::kRunning).ok());
  EXPECT_EQ(store_->DeleteJob(running).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->SetJobState(done, JobState::kCancelled).ok());
  // Retention: finished before the cutoff only.
  EXPECT_THAT(*store_->FinishedJobsBefore(clock_ms_ + 1, 10), ElementsAre(done));
  EXPECT_THAT(*store_->FinishedJobsBefore(kT0, 10), IsEmpty());
  ASSERT_TRUE(store_->DeleteJob(done).ok());
  EXPECT_EQ(store_->GetJob(done).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteJob(done).code(), absl::StatusCode::kNotFound);
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("SELECT COUNT(*) FROM tasks"), "6");  // the running job's only
  EXPECT_EQ(raw.Query("SELECT COUNT(*) FROM task_deps"), "5");
  EXPECT_EQ(raw.Query("SELECT COUNT(*) FROM events"), "0");
  EXPECT_EQ(raw.Query("PRAGMA foreign_key_check"), "");
}

TEST_F(JobStoreTest, MigrationFromSchemaOneCountsWaitingDeps) {
  Reopen();
  const std::string job = MustCreate(Job("ds"));
  RunToDone(job, "ingest-lr");
  store_.reset();
  {
    // Back to what a version-1 file holds: no waiting column or new indexes.
    RawDb raw(path_);
    raw.Exec(
        "DROP INDEX tasks_ready; DROP INDEX task_deps_by_dep; DROP INDEX jobs_by_updated;"
        " DROP INDEX jobs_by_owner; ALTER TABLE jobs DROP COLUMN owner;"
        " DROP INDEX tasks_ready_by_age; ALTER TABLE tasks DROP COLUMN job_seq;"
        " ALTER TABLE tasks DROP COLUMN waiting; PRAGMA user_version = 1;");
  }
  Reopen();
  EXPECT_THAT(Names(Ready()), ElementsAre("ingest-hr"));
  RunToDone(job, "ingest-hr");
  EXPECT_THAT(Names(Ready()), ElementsAre("align"));
}

TEST_F(JobStoreTest, JobsRecordTheirOwnerAndListFiltersOnIt) {
  Reopen();
  JobRecord alice = Job("ds");
  alice.owner = "alice";
  alice.request_id = "r1";
  auto created = store_->CreateJob(alice, {});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->job.owner, "alice");
  JobRecord bob = Job("ds");
  bob.owner = "bob";
  ASSERT_TRUE(store_->CreateJob(bob, {}).ok());
  EXPECT_EQ(store_->GetJob(created->job.id)->owner, "alice");

  ListJobsQuery query;
  query.owner = "alice";
  auto page = store_->ListJobs(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, created->job.id);
  query.owner.reset();
  EXPECT_EQ(store_->ListJobs(query)->jobs.size(), 2u);

  // Another client reusing alice's request id gets neither her job nor a new one.
  JobRecord replay = alice;
  replay.owner = "bob";
  EXPECT_EQ(store_->CreateJob(replay, {}).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(JobStateNames, AreTheStoredSpellings) {
  EXPECT_EQ(JobStateName(JobState::kQueued), "QUEUED");
  EXPECT_EQ(JobStateName(JobState::kCancelled), "CANCELLED");
  EXPECT_EQ(TaskStateName(TaskState::kDone), "DONE");
  EXPECT_TRUE(IsTerminal(JobState::kFailed));
  EXPECT_FALSE(IsTerminal(JobState::kRunning));
}

}  // namespace
}  // namespace framepair
