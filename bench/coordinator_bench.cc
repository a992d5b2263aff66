// The coordinator at scale, with fake workers that finish every task at once (bench/coordinator.sh
// drives it; figures in docs/benchmarks.md). Modes:
//   workers  --count N --storage-root DIR --targets-file F --arrivals-file A
//       N fake worker servers (all four kinds each) on loopback; F gets their addresses
//       (host:port,...); on SIGTERM every call's arrival (job, task, steady ns) goes to A.
//   populate --db FILE --jobs N     N finished jobs straight into the store (list/status load)
//   client   --server ADDR --jobs N --shards S --submitters C --submits-file F
//       submits N HR-only jobs of 3 + S tasks (one dataset each), waits for all to succeed,
//       then times ListJobs (one page of 50) and GetJob (with tasks); prints the latencies.
//   analyze  --submits-file F --arrivals-file A
//       dispatches per second and ready -> dispatched latency (p50, p99). A task is ready when
//       the worker call of its last dependency arrived (workers answer at once) or, for the
//       first task, when its job was submitted.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framepair/v1/coordinator.grpc.pb.h"
#include "framepair/v1/workers.grpc.pb.h"
#include "jobplan/job_plan.h"
#include "jobs/job_store.h"
#include "pipeline/parameters.h"
#include "services/coordinator/fake_workers.h"
#include "util/file.h"

namespace framepair {
namespace {

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::map<std::string, std::string> Flags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 2; i + 1 < argc; i += 2) flags[std::string(argv[i]).substr(2)] = argv[i + 1];
  return flags;
}

int Workers(const std::map<std::string, std::string>& f) {
  const int count = std::stoi(f.at("count"));
  FakeWorkers workers(f.at("storage-root"));
  std::vector<std::unique_ptr<grpc::Server>> servers;
  std::vector<std::string> targets;
  for (int i = 0; i < count; ++i) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    workers.RegisterWith(builder);
    servers.push_back(builder.BuildAndStart());
    targets.push_back(absl::StrCat("127.0.0.1:", port));
  }
  std::ofstream(f.at("targets-file")) << absl::StrJoin(targets, ",") << '\n';
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  {
    std::ofstream out(f.at("arrivals-file"));
    for (const FakeWorkers::Call& c : workers.Calls()) {
      out << c.job << ' ' << c.task << ' ' << c.steady_ns << '\n';
    }
  }
  for (auto& s : servers) s->Shutdown(std::chrono::system_clock::now());
  return 0;
}

int Populate(const std::map<std::string, std::string>& f) {
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(f.at("db"));
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const int jobs = std::stoi(f.at("jobs"));
  for (int i = 0; i < jobs; ++i) {
    JobRecord job;
    job.dataset = absl::StrCat("old", i);
    job.spec = "spec";
    std::vector<TaskRecord> tasks;
    for (const PlannedTask& p : PlanJob(true, 17)) {
      TaskRecord t;
      t.name = p.name;
      t.kind = std::string(TaskKindName(p.id.kind));
      t.deps = p.deps;
      tasks.push_back(std::move(t));
    }
    absl::StatusOr<CreateJobResult> created = (*store)->CreateJob(job, std::move(tasks));
    if (!created.ok() || !(*store)->SetJobState(created->job.id, JobState::kSucceeded).ok()) {
      std::fprintf(stderr, "populate failed at job %d\n", i);
      return 1;
    }
  }
  return 0;
}

std::pair<double, double> P50P99(std::vector<double> v) {
  if (v.empty()) return {0, 0};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return {at(0.50), at(0.99)};
}

int Client(const std::map<std::string, std::string>& f) {
  auto stub = framepair::v1::Coordinator::NewStub(
      grpc::CreateChannel(f.at("server"), grpc::InsecureChannelCredentials()));
  const int jobs = std::stoi(f.at("jobs"));
  const int shards = std::stoi(f.at("shards"));
  const int submitters = std::stoi(f.at("submitters"));
  RunOptions o;
  o.shards = shards;
  o.pack.hr_only = true;
  const framepair::v1::RunParameters params = ParametersFor(o);
  std::mutex mu;
  std::vector<std::pair<std::string, int64_t>> submitted;  // job id, steady ns
  std::atomic<int> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < submitters; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < jobs; i = next++) {
        framepair::v1::SubmitJobRequest request;
        request.set_request_id(absl::StrCat("bench-", i));
        request.mutable_spec()->set_dataset(absl::StrCat("bench", i));
        request.mutable_spec()->mutable_hr()->set_storage_path("footage/hr.mkv");
        *request.mutable_spec()->mutable_parameters() = params;
        request.mutable_spec()->mutable_parameters()->set_hr_only(true);
        grpc::ClientContext ctx;
        framepair::v1::SubmitJobResponse response;
        const int64_t ns = SteadyNs();
        grpc::Status s = stub->SubmitJob(&ctx, request, &response);
        if (!s.ok()) {
          std::fprintf(stderr, "submit: %s\n", s.error_message().c_str());
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        submitted.emplace_back(response.job().id(), ns);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double submit_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::ofstream out(f.at("submits-file"));
    for (const auto& [id, ns] : submitted) out << id << ' ' << ns << '\n';
  }
  // Until no job is queued or running.
  for (;;) {
    int unfinished = 0;
    for (auto state : {framepair::v1::JOB_QUEUED, framepair::v1::JOB_RUNNING}) {
      grpc::ClientContext ctx;
      framepair::v1::ListJobsRequest list;
      list.set_state(state);
      list.set_page_size(1);
      framepair::v1::ListJobsResponse page;
      if (stub->ListJobs(&ctx, list, &page).ok()) unfinished += page.jobs_size();
    }
    if (unfinished == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double all_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> list_ms, status_ms;
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext ctx;
    framepair::v1::ListJobsRequest list;
    framepair::v1::ListJobsResponse page;
    const auto a = std::chrono::steady_clock::now();
    stub->ListJobs(&ctx, list, &page);
    list_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    grpc::ClientContext ctx2;
    framepair::v1::GetJobRequest get;
    get.set_job_id(submitted[static_cast<size_t>(i) % submitted.size()].first);
    framepair::v1::Job job;
    const auto b = std::chrono::steady_clock::now();
    stub->GetJob(&ctx2, get, &job);
    status_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - b).count());
  }
  auto [l50, l99] = P50P99(list_ms);
  auto [s50, s99] = P50P99(status_ms);
  std::printf("jobs %zu submitted in %.1f s, all done after %.1f s\n", submitted.size(), submit_s,
              all_s);
  std::printf("list (50 jobs) p50 %.1f ms p99 %.1f ms; status (%d tasks) p50 %.1f ms p99 %.1f ms\n",
              l50, l99, shards + 3, s50, s99);
  return 0;
}

int Analyze(const std::map<std::string, std::string>& f) {
  std::map<std::string, int64_t> submit_ns;
  {
    std::ifstream in(f.at("submits-file"));
    std::string id;
    int64_t ns;
    while (in >> id >> ns) submit_ns[id] = ns;
  }
  // job -> task -> arrival of its last attempt
  std::map<std::string, std::map<std::string, int64_t>> arrivals;
  int64_t first = INT64_MAX, last = 0, calls = 0;
  {
    std::ifstream in(f.at("arrivals-file"));
    std::string job, task;
    int64_t ns;
    while (in >> job >> task >> ns) {
      if (!submit_ns.count(job)) continue;
      arrivals[job][task] = ns;
      first = std::min(first, ns);
      last = std::max(last, ns);
      ++calls;
    }
  }
  std::vector<double> latency_ms;
  for (const auto& [job, tasks] : arrivals) {
    for (const auto& [task, ns] : tasks) {
      absl::StatusOr<TaskId> id = TaskId::Parse(task);
      if (!id.ok()) continue;
      int64_t ready = 0;
      switch (id->kind) {
        case TaskKind::kIngest:
          ready = submit_ns[job];
          break;
        case TaskKind::kAlign:
          ready = tasks.count("ingest-hr") ? tasks.at("ingest-hr") : 0;
          break;
        case TaskKind::kScene:
          ready = tasks.count("align") ? tasks.at("align") : 0;
          break;
        case TaskKind::kPack:
          ready = tasks.count("scene") ? tasks.at("scene") : 0;
          break;
      }
      if (ready > 0) latency_ms.push_back(static_cast<double>(ns - ready) / 1e6);
    }
  }
  int64_t start = INT64_MAX;
  for (const auto& [id, ns] : submit_ns) start = std::min(start, ns);
  const double seconds = static_cast<double>(last - start) / 1e9;
  auto [p50, p99] = P50P99(latency_ms);
  std::printf(
      "dispatches %lld in %.1f s: %.0f per second; ready -> dispatched p50 %.1f ms p99 %.1f ms\n",
      static_cast<long long>(calls), seconds, static_cast<double>(calls) / seconds, p50, p99);
  return 0;
}

}  // namespace
}  // namespace framepair

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: coordinator_bench workers|populate|client|analyze --flag value ...\n");
    return 2;
  }
  const std::string mode = argv[1];
  const auto flags = framepair::Flags(argc, argv);
  try {
    if (mode == "workers") return framepair::Workers(flags);
    if (mode == "populate") return framepair::Populate(flags);
    if (mode == "client") return framepair::Client(flags);
    if (mode == "analyze") return framepair::Analyze(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coordinator_bench %s: %s (missing flag?)\n", mode.c_str(), e.what());
    return 2;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
