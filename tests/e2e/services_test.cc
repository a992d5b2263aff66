// The service system end to end: the five real server binaries started by
// scripts/local-stack.sh on loopback, a real SQLite state file, real encoded footage, and the
// `framepair` CLI as a user drives it. Faults are real too: kill -9, SIGSTOP/SIGCONT.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framepair/v1/coordinator.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "support/footage.h"
#include "support/process.h"
#include "util/file.h"
#include "util/sha256.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::RunProcess;

// The dataset options every test uses: small, several shards, deterministic.
const std::vector<std::string> kOptions = {"--shards", "2", "--windows", "24", "--seed", "11"};

const footage::Footage& Pair() {
  static const footage::Footage* pair = [] {
    // Shared with every other test process (one encode per machine): read, never change.
    absl::StatusOr<footage::Footage> f = footage::CachedFootage(footage::DefaultSpec());
    EXPECT_TRUE(f.ok()) << f.status();
    return new footage::Footage(*f);
  }();
  return *pair;
}

std::string Framepair() { return testing::BuiltBinary("client/framepair"); }

std::map<int, std::string> ShardsOf(const fs::path& dir) {
  std::map<int, std::string> out;
  std::regex shard(R"(.*[-_](\d{5})-of-\d{5}\.tfrecord)");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, shard)) out[std::stoi(m[1])] = *ReadFile(e.path().string());
  }
  return out;
}

// The same pair through `framepair run`: the reference bytes. Made once per machine for this
// very binary (its sha256 is in the cache key) and shared by every test process.
const std::map<int, std::string>& RunShards() {
  static const auto* shards = [] {
    absl::StatusOr<std::string> binary = Sha256File(Framepair());
    EXPECT_TRUE(binary.ok()) << binary.status();
    std::vector<std::string> argv = {Framepair(), "run",          "--lr", Pair().lr_path,
                                     "--hr",      Pair().hr_path, "-q"};
    argv.insert(argv.end(), kOptions.begin(), kOptions.end());
    absl::StatusOr<std::string> dir = footage::CachedDirectory(
        footage::kDefaultCacheDir, "services-run",
        absl::StrCat(binary.value_or("?"), " ", Pair().truth.key, " ", absl::StrJoin(argv, " ")),
        [&](const std::string& tmp) {
          std::vector<std::string> args = argv;
          args.insert(args.end(), {"--out", tmp + "/run"});
          ProcessResult r = RunProcess(args);
          return r.exit_code == 0 ? absl::OkStatus()
                                  : absl::InternalError("framepair run: " + r.err);
        });
    EXPECT_TRUE(dir.ok()) << dir.status();
    return new std::map<int, std::string>(dir.ok() ? ShardsOf(*dir + "/run")
                                                   : std::map<int, std::string>{});
  }();
  return *shards;
}

class Stack {
 public:
  // `tls_dir`: certificates of deploy/scripts/make-certs.sh; the workers then serve mutual TLS
  // (local-stack.sh --tls).
  explicit Stack(int packers = 1, std::string coordinator_flags = "", std::string tls_dir = "")
      : packers_(packers), tls_dir_(std::move(tls_dir)) {
    dir_ = fs::temp_directory_path() / ("framepair-stack-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    // Per-process port block: ctest runs test cases as separate processes in parallel.
    port_ = 20000 + static_cast<int>(getpid() % 3000) * 10;
    coordinator_flags_ = std::move(coordinator_flags);
    Up();
  }
  ~Stack() { Script("down"); }

  void Up() {
    ProcessResult r = Script("up");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  ProcessResult Cli(std::vector<std::string> args, int timeout = 300) const {
    args.insert(args.begin(), {Framepair(), "--server", server()});
    args.insert(args.begin(), cli_env_.begin(), cli_env_.end());
    return RunProcess(args, timeout);
  }
  // Environment of every later Cli() call, e.g. {"FRAMEPAIR_TOKEN=..."}.
  void set_cli_env(const std::vector<std::string>& env) {
    cli_env_ = {"/usr/bin/env"};
    cli_env_.insert(cli_env_.end(), env.begin(), env.end());
  }

  // Submits the shared pair; returns the job id.
  std::string Submit(const std::string& dataset, std::vector<std::string> extra = {},
                     const std::vector<std::string>& options = kOptions) const {
    std::vector<std::string> args = {"submit",       "--lr",      Pair().lr_path, "--hr",
                                     Pair().hr_path, "--dataset", dataset,        "-q"};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::string(absl::StripAsciiWhitespace(r.out));
  }

  // `framepair status JOB -o json` as text (good enough to look for states and workers).
  std::string Status(const std::string& job) const {
    return Cli({"status", job, "-o", "json"}).out;
  }

  // Waits until `predicate(status json)` holds; false after `seconds`.
  bool WaitFor(const std::string& job, const std::function<bool(const std::string&)>& predicate,
               int seconds = 60) const {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (predicate(Status(job))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  pid_t Pid(const std::string& name) const {
    std::ifstream in(dir_ / "run" / (name + ".pid"));
    pid_t pid = 0;
    in >> pid;
    return pid;
  }
  // The pid file name of the packer listening on `address`.
  std::string PackerName(const std::string& address) const {
    const int port = std::stoi(address.substr(address.rfind(':') + 1));
    const int i = port - port_ - 3;
    return i == 1 ? "framepair-packer" : "framepair-packer-" + std::to_string(i);
  }

  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string ingest() const { return "127.0.0.1:" + std::to_string(port_ + 1); }
  fs::path storage() const { return dir_ / "storage"; }
  fs::path dataset(const std::string& name) const { return storage() / "datasets" / name; }

 private:
  ProcessResult Script(const std::string& command) const {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "FRAMEPAIR_COORDINATOR_FLAGS=" + coordinator_flags_,
                                     std::string(FRAMEPAIR_SOURCE_DIR) + "/scripts/local-stack.sh",
                                     command,
                                     "--dir",
                                     dir_.string(),
                                     "--port",
                                     std::to_string(port_),
                                     "--packers",
                                     std::to_string(packers_),
                                     "--bin",
                                     std::getenv("FRAMEPAIR_BUILD_DIR")};
    if (!tls_dir_.empty()) argv.insert(argv.end(), {"--tls", tls_dir_});
    return RunProcess(argv, 120);
  }

  int packers_;
  std::string tls_dir_;
  std::vector<std::string> cli_env_;
  fs::path dir_;
  int port_;
  std::string coordinator_flags_;
};

std::string RunningPackWorker(const std::string& status) {
  // "name": "pack-0000N", ... "state": "running", ... "worker": "127.0.0.1:P"
  std::regex running(
      R"re("name": "pack-\d+",\s*"kind": "pack",\s*"state": "running",\s*"attempt": "?\d+"?,(?:\s*"retries": "?\d+"?,)?\s*"worker": "([^"]+)")re");
  std::smatch m;
  return std::regex_search(status, m, running) ? m[1].str() : "";
}

void ExpectSameShardsAsRun(const fs::path& dataset) {
  std::map<int, std::string> got = ShardsOf(dataset);
  const std::map<int, std::string>& want = RunShards();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [i, bytes] : want) EXPECT_TRUE(got[i] == bytes) << "shard " << i << " differs";
}

void ExpectVerifies(const fs::path& dataset) {
  ProcessResult v = RunProcess({Framepair(), "verify", dataset.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

class ServicesByPackers : public ::testing::TestWithParam<int> {};

TEST_P(ServicesByPackers, SubmitWatchVerifyGivesTheBytesOfRun) {
  Stack stack(GetParam());
  const std::string job = stack.Submit("byte-identical", {"--request-id", "req-1"});
  ASSERT_THAT(job, ::testing::MatchesRegex("j[0-9a-f]{12}"));
  ProcessResult watch = stack.Cli({"watch", job});
  ASSERT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  EXPECT_THAT(watch.out, ::testing::HasSubstr("succeeded"));
  EXPECT_THAT(watch.err, ::testing::HasSubstr("pack-00001 done"));
  // -o json: JSON Lines, one event per line, read back by protobuf's own JSON parser; the
  // job's end among them.
  ProcessResult lines = stack.Cli({"watch", job, "-o", "json"});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  bool ended = false;
  for (absl::string_view line :
       absl::StrSplit(absl::StripTrailingAsciiWhitespace(lines.out), '\n')) {
    framepair::v1::JobEvent event;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &event).ok())
        << "not one JSON event per line: " << line;
    ended = ended ||
            (event.has_snapshot() && event.snapshot().state() == framepair::v1::JOB_SUCCEEDED) ||
            (event.has_state() && event.state().state() == framepair::v1::JOB_SUCCEEDED);
  }
  EXPECT_TRUE(ended) << lines.out;
  ExpectSameShardsAsRun(stack.dataset("byte-identical"));
  ExpectVerifies(stack.dataset("byte-identical"));

  // Idempotent submit: the same request id is the same job, and nothing runs twice.
  EXPECT_EQ(stack.Submit("byte-identical", {"--request-id", "req-1"}), job);
  ProcessResult list = stack.Cli({"list", "-o", "json"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(std::count(list.out.begin(), list.out.end(), '{') > 0, true);
  EXPECT_THAT(list.out, ::testing::HasSubstr(job));
  EXPECT_EQ(ShardsOf(stack.dataset("byte-identical")).size(), 2u);
  // Nothing of the job's work files is left behind.
  EXPECT_FALSE(fs::exists(stack.storage() / "work" / job));
}

INSTANTIATE_TEST_SUITE_P(Packers, ServicesByPackers, ::testing::Values(1, 3));

// Watches the dataset folder while a job runs: every file that ever appears there must be a
// final name (no temporary file), and a shard must never be seen shorter than it ends up.
class DatasetWatcher {
 public:
  explicit DatasetWatcher(fs::path dir) : dir_(std::move(dir)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir_, ec)) {
          const std::string name = e.path().filename().string();
          std::error_code size_ec;
          const auto size = static_cast<int64_t>(fs::file_size(e.path(), size_ec));
          if (size_ec) continue;
          if (min_size_.count(name) == 0 || size < min_size_[name]) min_size_[name] = size;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  void StopAndCheck() {
    stop_ = true;
    thread_.join();
    const std::regex shard(R"(train_j[0-9a-f]{12}_\d{5}-of-\d{5}\.tfrecord)");
    // manifest.json is replaced atomically through a hidden temporary name beside it; no
    // other visible name (a reader's glob for manifest.json or shards) may ever appear.
    for (const auto& [name, size] : min_size_) {
      if (name.starts_with(".")) continue;  // hidden: what a glob does not match
      if (name == "manifest.json") continue;
      EXPECT_TRUE(std::regex_match(name, shard))
          << "a non-final file was visible in the dataset: " << name;
      std::error_code ec;
      const auto final_size = fs::file_size(dir_ / name, ec);
      EXPECT_FALSE(ec) << name << " was visible, then vanished";
      if (!ec) {
        EXPECT_EQ(size, static_cast<int64_t>(final_size))
            << name << " was visible while incomplete";
      }
    }
  }

 private:
  fs::path dir_;
  std::atomic<bool> stop_{false};
  std::map<std::string, int64_t> min_size_;
  std::thread thread_;
};

TEST(Services, PackerKilledMidShardJobStillSucceeds) {
  Stack stack(2, "--retry-backoff-ms 100");
  fs::create_directories(stack.dataset("killed-packer"));
  DatasetWatcher watcher(stack.dataset("killed-packer"));
  const std::string job = stack.Submit("killed-packer");
  std::string worker;
  ASSERT_TRUE(stack.WaitFor(job, [&](const std::string& s) {
    worker = RunningPackWorker(s);
    return !worker.empty();
  })) << stack.Status(job);
  const pid_t pid = stack.Pid(stack.PackerName(worker));
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ProcessResult watch = stack.Cli({"watch", job});
  watcher.StopAndCheck();
  ASSERT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  // The killed attempt was retried (on the surviving packer).
  EXPECT_THAT(stack.Status(job), ::testing::HasSubstr("\"retries\""));
  ExpectSameShardsAsRun(stack.dataset("killed-packer"));
  ExpectVerifies(stack.dataset("killed-packer"));
}

TEST(Services, CoordinatorKilledAndRestartedResumesTheJob) {
  Stack stack(1);
  const std::string job = stack.Submit("restarted");
  ASSERT_TRUE(stack.WaitFor(job, [](const std::string& s) {
    return s.find("\"state\": \"running\"") != std::string::npos;
  })) << stack.Status(job);
  // A watcher follows the job across the coordinator's death: it resumes after the last event
  // it saw once the coordinator is back.
  ProcessResult watch;
  std::thread watcher([&] { watch = stack.Cli({"watch", job}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(stack.Pid("framepair-coordinator"), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stack.Up();  // restarts only what is not running: the coordinator
  watcher.join();
  ASSERT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  EXPECT_THAT(watch.err, ::testing::HasSubstr("lost the coordinator"));
  EXPECT_THAT(watch.out, ::testing::HasSubstr("succeeded"));
  ExpectSameShardsAsRun(stack.dataset("restarted"));
  ExpectVerifies(stack.dataset("restarted"));
}

TEST(Services, CancelStopsTheJobAndLeavesNoWorkFiles) {
  Stack stack(1);
  const std::string job = stack.Submit("cancelled", {}, {"--windows", "200", "--shards", "1"});
  std::string worker;
  ASSERT_TRUE(stack.WaitFor(job, [&](const std::string& s) {
    worker = RunningPackWorker(s);
    return !worker.empty();
  })) << stack.Status(job);
  // The packer is held (SIGSTOP) until the job is cancelled: on a fast machine the job would
  // otherwise finish before the steps below reach it.
  const pid_t packer = stack.Pid(stack.PackerName(worker));
  ASSERT_EQ(kill(packer, SIGSTOP), 0);
  // Ctrl-C stops the watch, not the job: the message says so, and the job runs on.
  ProcessResult interrupted =
      RunProcess({"/bin/bash", "-c", "\"$@\" & pid=$!; sleep 2; kill -INT $pid; wait $pid",
                  "watch-then-ctrl-c", Framepair(), "--server", stack.server(), "watch", job});
  EXPECT_EQ(interrupted.exit_code, 130) << interrupted.err;
  EXPECT_THAT(interrupted.err, ::testing::HasSubstr("job " + job + " keeps running"));
  EXPECT_THAT(stack.Status(job), ::testing::Not(::testing::HasSubstr("JOB_CANCELLED")));
  // A running job cannot be deleted.
  ProcessResult rm_running = stack.Cli({"jobs", "rm", job});
  EXPECT_NE(rm_running.exit_code, 0);
  EXPECT_THAT(rm_running.err, ::testing::HasSubstr("cancel it first"));
  ProcessResult cancel = stack.Cli({"cancel", job});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, ::testing::HasSubstr("cancelled"));
  ASSERT_EQ(kill(packer, SIGCONT), 0);
  ProcessResult watch = stack.Cli({"watch", job});
  EXPECT_EQ(watch.exit_code, 1) << watch.out;
  EXPECT_THAT(stack.Status(job), ::testing::HasSubstr("JOB_CANCELLED"));
  EXPECT_THAT(stack.Cli({"list", "--limit", "0"}).out, ::testing::HasSubstr(job));
  // The work directory goes with the job (the sweep runs every 30 s at the latest).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (fs::exists(stack.storage() / "work" / job) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_FALSE(fs::exists(stack.storage() / "work" / job));
  EXPECT_TRUE(!fs::exists(stack.dataset("cancelled") / "manifest.json"));
  // Once cancelled it can be deleted: gone from status and list.
  ProcessResult rm = stack.Cli({"jobs", "rm", job});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_NE(stack.Cli({"status", job}).exit_code, 0);
  EXPECT_THAT(stack.Cli({"list", "--limit", "0"}).out, ::testing::Not(::testing::HasSubstr(job)));
}

TEST(Services, StoppedWorkerIsReplacedAndItsLateOutputIsNotUsed) {
  Stack stack(2, "--stall-timeout-ms 4000 --retry-backoff-ms 100");
  const std::string job = stack.Submit("stopped-worker");
  std::string worker;
  ASSERT_TRUE(stack.WaitFor(job, [&](const std::string& s) {
    worker = RunningPackWorker(s);
    return !worker.empty();
  })) << stack.Status(job);
  const pid_t pid = stack.Pid(stack.PackerName(worker));
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  ProcessResult watch = stack.Cli({"watch", job});
  EXPECT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  EXPECT_THAT(watch.err, ::testing::HasSubstr("stopped reporting progress"));
  const std::map<int, std::string> before = ShardsOf(stack.dataset("stopped-worker"));
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let the late worker run on
  EXPECT_TRUE(ShardsOf(stack.dataset("stopped-worker")) == before);
  ExpectSameShardsAsRun(stack.dataset("stopped-worker"));
  ExpectVerifies(stack.dataset("stopped-worker"));
  EXPECT_EQ(stack.Cli({"health"}).exit_code, 0);
}

TEST(Services, BadInputFailsItsJobWhileGoodJobsSucceed) {
  Stack stack(2);
  fs::path bad =
      fs::temp_directory_path() / ("framepair-notvideo-" + std::to_string(getpid()) + ".mp4");
  std::ofstream(bad) << "this is not a video\n";
  // submit checks local files before uploading them (issue 10): refused here, exit 2.
  ProcessResult local =
      stack.Cli({"submit", "--lr", Pair().lr_path, "--hr", bad.string(), "--dataset", "bad", "-q"});
  EXPECT_EQ(local.exit_code, 2) << local.err;
  EXPECT_THAT(local.err, ::testing::HasSubstr(bad.string()));
  // A file already in storage is the server's to check: its job fails there.
  fs::create_directories(stack.storage() / "footage");
  fs::copy_file(bad, stack.storage() / "footage" / bad.filename(),
                fs::copy_options::overwrite_existing);
  ProcessResult submitted = stack.Cli({"submit", "--lr", Pair().lr_path, "--hr",
                                       "storage:footage/" + bad.filename().string(), "--dataset",
                                       "bad", "-q", "--watch"});
  std::vector<std::string> good;
  // Ten concurrent jobs (small ones: the machine has two cores), in three datasets.
  for (int i = 0; i < 10; ++i) {
    // A seed each: a dataset refuses a second job of the same footage, options and seed.
    good.push_back(stack.Submit("good-" + std::to_string(i % 3), {},
                                {"--windows", "4", "--seed", std::to_string(i)}));
  }
  EXPECT_EQ(submitted.exit_code, 1) << submitted.out << submitted.err;
  EXPECT_THAT(submitted.out, ::testing::HasSubstr(bad.filename().string()));
  EXPECT_THAT(submitted.out, ::testing::HasSubstr("failed"));
  // The error names the file as the user did, never where the storage root is mounted.
  EXPECT_THAT(submitted.out, ::testing::Not(::testing::HasSubstr(stack.storage().string())));
  for (const std::string& job : good) {
    ProcessResult watch = stack.Cli({"watch", job});
    EXPECT_EQ(watch.exit_code, 0) << job << watch.out << watch.err;
  }
  for (int i = 0; i < 3; ++i) ExpectVerifies(stack.dataset("good-" + std::to_string(i)));
  EXPECT_EQ(stack.Cli({"health"}).exit_code, 0);
  fs::remove(bad);
}

// Certificates from deploy/scripts/make-certs.sh for servers on loopback, in a fresh `dir`.
void MakeCerts(const fs::path& dir) {
  fs::remove_all(dir);
  ProcessResult made =
      RunProcess({std::string(FRAMEPAIR_SOURCE_DIR) + "/deploy/scripts/make-certs.sh",
                  "--namespace", "e2e", "--out", dir.string(), "--san", "IP:127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
}

// The coordinator and the workers as deploy/k8s runs them (issue 13): mutual TLS with the
// certificates of make-certs.sh, named client tokens. A job runs through; a worker completes
// a handshake only with a client holding the coordinator's client certificate; a client with
// no token, a wrong one or another client's job ends with exit code 5.
TEST(Services, MutualTlsToWorkersAndNamedTokensAsDeployed) {
  const fs::path certs =
      fs::temp_directory_path() / ("framepair-certs-" + std::to_string(getpid()));
  MakeCerts(certs);
  MakeCerts(certs / "other");  // another deployment's CA
  const fs::path tokens = certs / "client-tokens";
  std::ofstream(tokens) << "alice a-secret\nbob b-secret\n";
  Stack stack(1, "--auth-token-file " + tokens.string(), certs.string());
  stack.set_cli_env({"FRAMEPAIR_TOKEN=a-secret"});
  const std::string job = stack.Submit("mtls", {}, {"--windows", "4"});
  ProcessResult watch = stack.Cli({"watch", job});
  ASSERT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  ExpectVerifies(stack.dataset("mtls"));

  stack.set_cli_env({"FRAMEPAIR_TOKEN=b-secret"});
  ProcessResult other_client = stack.Cli({"status", job});
  EXPECT_EQ(other_client.exit_code, 5) << other_client.out << other_client.err;
  stack.set_cli_env({"FRAMEPAIR_TOKEN=wrong"});
  EXPECT_EQ(stack.Cli({"list"}).exit_code, 5);
  stack.set_cli_env({});
  EXPECT_EQ(stack.Cli({"list"}).exit_code, 5);

  // `framepair health` against the ingest worker, as a client with `env`: 0 = admitted,
  // 4 = the handshake failed (unreachable).
  auto health_as = [&](std::vector<std::string> env) {
    env.insert(env.begin(), "/usr/bin/env");
    env.insert(env.end(), {Framepair(), "health", "--server", stack.ingest()});
    return RunProcess(env, 30);
  };
  auto client = [&](const fs::path& cert, const fs::path& key) {
    return std::vector<std::string>{"FRAMEPAIR_TLS_CA=" + (certs / "ca.crt").string(),
                                    "FRAMEPAIR_TLS_CERT=" + cert.string(),
                                    "FRAMEPAIR_TLS_KEY=" + key.string()};
  };
  ProcessResult coordinator =
      health_as(client(certs / "coordinator.crt", certs / "coordinator.key"));
  EXPECT_EQ(coordinator.exit_code, 0) << coordinator.out << coordinator.err;
  ProcessResult plaintext = health_as({});
  EXPECT_EQ(plaintext.exit_code, 4) << plaintext.out << plaintext.err;
  ProcessResult no_cert = health_as({"FRAMEPAIR_TLS_CA=" + (certs / "ca.crt").string()});
  EXPECT_EQ(no_cert.exit_code, 4) << no_cert.out << no_cert.err;
  ProcessResult other_ca =
      health_as(client(certs / "other" / "coordinator.crt", certs / "other" / "coordinator.key"));
  EXPECT_EQ(other_ca.exit_code, 4) << other_ca.out << other_ca.err;
  // A worker's own certificate is for serving only (serverAuth): it cannot call its peers.
  ProcessResult peer = health_as(client(certs / "packer.crt", certs / "packer.key"));
  EXPECT_EQ(peer.exit_code, 4) << peer.out << peer.err;
  fs::remove_all(certs);
}

TEST(Services, FootageOutsideTheStorageRootIsRefused) {
  Stack stack(1);
  fs::create_directories(stack.storage() / "footage" / "mine");
  fs::create_symlink("/etc", stack.storage() / "footage" / "mine" / "escape");
  for (const char* path : {"storage:../state/coordinator.db", "storage:/etc/passwd",
                           "storage:footage/mine/escape/passwd", "storage:footage/../../x"}) {
    ProcessResult r = stack.Cli({"submit", "--lr", path, "--hr", path, "--dataset", "outside"});
    EXPECT_EQ(r.exit_code, 2) << path << ": " << r.out << r.err;
    EXPECT_THAT(r.err,
                ::testing::AnyOf(::testing::HasSubstr("not below the storage root"),
                                 ::testing::HasSubstr("absolute"), ::testing::HasSubstr("..")))
        << path << ": " << r.err;
  }
  ProcessResult list = stack.Cli({"list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, ::testing::Not(::testing::HasSubstr("outside")));
}

// UploadFootage through the API: a file arrives only whole and with the declared sha256.
TEST(Services, BrokenUploadsLeaveNothingUsable) {
  Stack stack(1);
  auto stub = framepair::v1::Coordinator::NewStub(
      grpc::CreateChannel(stack.server(), grpc::InsecureChannelCredentials()));
  const std::string data(3 << 20, 'x');
  auto upload = [&](const std::string& sha, int64_t size, const std::vector<std::string>& chunks,
                    framepair::v1::UploadFootageResponse* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto writer = stub->UploadFootage(&ctx, response);
    framepair::v1::UploadFootageRequest header;
    header.mutable_header()->set_sha256(sha);
    header.mutable_header()->set_size(size);
    writer->Write(header);
    for (const std::string& c : chunks) {
      framepair::v1::UploadFootageRequest part;
      part.set_chunk(c);
      if (!writer->Write(part)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  };
  auto files_under = [&](const std::string& sub) {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(stack.storage() / sub)) {
      n += e.is_regular_file();
    }
    return n;
  };
  const std::string mb(1 << 20, 'x');
  framepair::v1::UploadFootageResponse response;
  // Wrong checksum: refused, nothing stored, no temporary file left.
  grpc::Status wrong = upload(std::string(64, '0'), data.size(), {mb, mb, mb}, &response);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::DATA_LOSS) << wrong.error_message();
  // Fewer bytes than declared (a client that died half-way).
  grpc::Status short_upload = upload(Sha256Hex(data), data.size(), {mb}, &response);
  EXPECT_EQ(short_upload.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A chunk above the 1 MiB limit.
  grpc::Status big = upload(Sha256Hex(data), data.size(), {data}, &response);
  EXPECT_NE(big.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(files_under("footage"), 0);
  EXPECT_EQ(files_under("uploads"), 0);
  // The good one lands content-addressed.
  grpc::Status good = upload(Sha256Hex(data), data.size(), {mb, mb, mb}, &response);
  ASSERT_TRUE(good.ok()) << good.error_message();
  EXPECT_EQ(response.storage_path(), "footage/sha256/" + Sha256Hex(data));
  EXPECT_EQ(*ReadFile((stack.storage() / response.storage_path()).string()), data);
  EXPECT_EQ(files_under("uploads"), 0);
}

// A number field of the CLI's one-object JSON output; -1 when absent.
int64_t JsonNumber(const std::string& json, const std::string& field) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + field + "\": (\\d+)"))) return -1;
  return std::stoll(m[1]);
}

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("framepair-services-" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  return dir;
}

// The validation split too: its file is one of those a fetch and a removal must get right.
std::vector<std::string> WithValidation(const std::string& seed = "11") {
  return {"--shards", "2", "--windows", "24", "--seed", seed, "--val-windows", "4"};
}

// A dataset downloaded over gRPC, without the shared storage: the same bytes, verified,
// manifest last; an interrupted download is continued, and bytes that do not match the
// manifest never become a file.
TEST(Services, FetchDownloadsTheDatasetAndResumesAPartialFile) {
  Stack stack(1);
  const std::string job = stack.Submit("fetched", {}, WithValidation());
  ProcessResult watch = stack.Cli({"watch", job});
  ASSERT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  // The summary names where the dataset is, and how to get it elsewhere.
  EXPECT_THAT(watch.out, ::testing::HasSubstr(fs::canonical(stack.dataset("fetched")).string()));
  EXPECT_THAT(watch.out, ::testing::Not(::testing::HasSubstr("<storage-root>")));
  EXPECT_THAT(watch.out, ::testing::HasSubstr("framepair fetch fetched --to DIR"));

  const fs::path to = TempDir("fetched");
  ProcessResult fetch = stack.Cli({"fetch", "fetched", "--to", to.string(), "-o", "json"});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.out << fetch.err;
  ExpectVerifies(to);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(stack.dataset("fetched"))) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    names.push_back(name);
    EXPECT_EQ(*ReadFile((to / name).string()), *ReadFile(e.path().string())) << name;
  }
  EXPECT_EQ(names.size(), 4u);  // two shards, validate.tfrecord, manifest.json
  EXPECT_EQ(JsonNumber(fetch.out, "bytes_resumed"), 0);
  // The job's report page came along.
  EXPECT_TRUE(fs::is_regular_file(to / "reports" / (job + ".html")));

  // Interrupted half-way through a shard: the partial file is continued, not restarted.
  std::string shard;
  for (const auto& e : fs::directory_iterator(to)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("train_")) shard = name;
  }
  ASSERT_FALSE(shard.empty());
  const std::string bytes = *ReadFile((to / shard).string());
  const size_t half = bytes.size() / 2;
  fs::remove(to / shard);
  fs::remove(to / "manifest.json");
  ASSERT_TRUE(
      WriteFileAtomically((to / ("." + shard + ".partial")).string(), bytes.substr(0, half)).ok());
  ProcessResult resumed = stack.Cli({"fetch", "fetched", "--to", to.string(), "-o", "json"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(JsonNumber(resumed.out, "bytes_resumed"), static_cast<int64_t>(half)) << resumed.out;
  EXPECT_EQ(JsonNumber(resumed.out, "files_present"), 2) << resumed.out;
  EXPECT_EQ(*ReadFile((to / shard).string()), bytes);
  EXPECT_FALSE(fs::exists(to / ("." + shard + ".partial")));
  ExpectVerifies(to);

  // A partial file that is not a prefix of the shard: the whole file fails its sha256, is
  // refused (exit 2, the partial removed, no shard written) and the next fetch gets it right.
  fs::remove(to / shard);
  ASSERT_TRUE(
      WriteFileAtomically((to / ("." + shard + ".partial")).string(), std::string(half, 'x')).ok());
  ProcessResult corrupt = stack.Cli({"fetch", "fetched", "--to", to.string()});
  EXPECT_EQ(corrupt.exit_code, 2) << corrupt.out << corrupt.err;
  EXPECT_THAT(corrupt.err, ::testing::HasSubstr("sha256"));
  EXPECT_FALSE(fs::exists(to / shard));
  EXPECT_FALSE(fs::exists(to / ("." + shard + ".partial")));
  ASSERT_EQ(stack.Cli({"fetch", "fetched", "--to", to.string()}).exit_code, 0);
  ExpectVerifies(to);

  // One job's part: its shards and a manifest of its own, which verify accepts.
  const fs::path one = TempDir("one-job");
  ProcessResult by_job = stack.Cli({"fetch", job, "--to", one.string()});
  ASSERT_EQ(by_job.exit_code, 0) << by_job.out << by_job.err;
  ExpectVerifies(one);
  EXPECT_EQ(ShardsOf(one).size(), 2u);

  // The job's report page, fetched by job id: the report of this job.
  const fs::path page = TempDir("page") / "job.html";
  fs::create_directories(page.parent_path());
  ProcessResult report = stack.Cli({"report", job, "-o", page.string()});
  ASSERT_EQ(report.exit_code, 0) << report.out << report.err;
  const std::string html = *ReadFile(page.string());
  EXPECT_THAT(html, ::testing::HasSubstr("job " + job + " of dataset fetched"));
  for (const char* section :
       {"<h2>Inputs</h2>", "<h2>Timeline</h2>", "<h2>Alignment residual per pair</h2>",
        "<h2>Contact sheet</h2>", "<h2>Accounting</h2>"}) {
    EXPECT_THAT(html, ::testing::HasSubstr(section));
  }
  EXPECT_THAT(html, ::testing::Not(::testing::HasSubstr("not shown")));  // the sidecar matched

  // The RPC itself: bounded chunks, only what the manifest lists, offsets checked.
  auto stub = framepair::v1::Coordinator::NewStub(
      grpc::CreateChannel(stack.server(), grpc::InsecureChannelCredentials()));
  auto read = [&](const std::string& dataset, const std::string& file, int64_t offset,
                  std::string* data) {
    grpc::ClientContext ctx;
    framepair::v1::ReadDatasetFileRequest request;
    request.set_dataset(dataset);
    request.set_file(file);
    request.set_offset(offset);
    auto reader = stub->ReadDatasetFile(&ctx, request);
    framepair::v1::ReadDatasetFileResponse chunk;
    while (reader->Read(&chunk)) {
      EXPECT_LE(chunk.chunk().size(), 1u << 20);
      data->append(chunk.chunk());
    }
    return reader->Finish();
  };
  std::string data;
  EXPECT_TRUE(read("fetched", shard, static_cast<int64_t>(half), &data).ok());
  EXPECT_EQ(data, bytes.substr(half));
  fs::create_symlink("/etc/passwd", stack.dataset("fetched") / "train_escape.tfrecord");
  for (const char* file : {"../../state/coordinator.db", "train_escape.tfrecord", "/etc/passwd",
                           "reports/../manifest.json", "report.binpb"}) {
    data.clear();
    grpc::Status s = read("fetched", file, 0, &data);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << file << ": " << s.error_message();
    EXPECT_TRUE(data.empty()) << file;
  }
  EXPECT_EQ(read("fetched", shard, static_cast<int64_t>(bytes.size()) + 1, &data).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(read("../datasets", "manifest.json", 0, &data).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A job equal to one already in the dataset is refused unless --replace; the same footage is
// not uploaded twice; `datasets` lists the jobs and `datasets rm` removes one atomically.
TEST(Services, DuplicateJobsAreRefusedReplacedAndRemoved) {
  Stack stack(1);
  const std::string first = stack.Submit("dup", {}, WithValidation());
  ASSERT_EQ(stack.Cli({"watch", first}).exit_code, 0);

  std::vector<std::string> again = {"submit",       "--lr",      Pair().lr_path, "--hr",
                                    Pair().hr_path, "--dataset", "dup"};
  for (const std::string& o : WithValidation()) again.push_back(o);
  ProcessResult refused = stack.Cli(again);
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_THAT(refused.err, ::testing::HasSubstr("--replace"));
  EXPECT_THAT(refused.err, ::testing::HasSubstr(first));
  // The footage was already there: nothing was sent.
  EXPECT_THAT(refused.err, ::testing::HasSubstr("already on the coordinator"));
  EXPECT_THAT(refused.err, ::testing::HasSubstr("uploaded 0 bytes"));

  // Another seed is another job; --replace swaps the first one's pairs for the new job's.
  const std::string second = stack.Submit("dup", {}, WithValidation("12"));
  ASSERT_EQ(stack.Cli({"watch", second}).exit_code, 0);
  // The replacement is one manifest write, seen by inotify in the order the directory changed:
  // the manifest changes once (never removed), and the replaced job's shards go only after it.
  const int changes = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(changes, 0);
  ASSERT_GE(inotify_add_watch(changes, stack.dataset("dup").c_str(), IN_MOVED_TO | IN_DELETE), 0);
  const std::string replacing = stack.Submit("dup", {"--replace"}, WithValidation());
  ProcessResult watched = stack.Cli({"watch", replacing});
  ASSERT_EQ(watched.exit_code, 0) << watched.out << watched.err;
  std::vector<std::pair<std::string, uint32_t>> events;  // (file, IN_MOVED_TO or IN_DELETE)
  alignas(inotify_event) char buffer[1 << 16];
  for (ssize_t n; (n = read(changes, buffer, sizeof buffer)) > 0;) {
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buffer + at);
      if (e->len > 0) events.push_back({e->name, e->mask & (IN_MOVED_TO | IN_DELETE)});
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  close(changes);
  size_t commit = events.size(), writes = 0, replaced_removed = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].first != "manifest.json") continue;
    EXPECT_EQ(events[i].second, IN_MOVED_TO) << "manifest.json was removed";
    ++writes;
    commit = i;
  }
  EXPECT_EQ(writes, 1u);
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].first.find(first) == std::string::npos || events[i].second != IN_DELETE) continue;
    ++replaced_removed;
    EXPECT_GT(i, commit) << events[i].first << " removed before the manifest that drops it";
  }
  EXPECT_EQ(replaced_removed, 2u);  // its two shards
  ProcessResult listed = stack.Cli({"datasets", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, ::testing::HasSubstr(second));
  EXPECT_THAT(listed.out, ::testing::HasSubstr(replacing));
  EXPECT_THAT(listed.out, ::testing::Not(::testing::HasSubstr(first)));
  for (const auto& e : fs::directory_iterator(stack.dataset("dup"))) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(::testing::HasSubstr(first)));
  }
  ExpectVerifies(stack.dataset("dup"));

  // One job fetched from a dataset of two: its shards and its own validation examples (the
  // part of the dataset's validate.tfrecord after the other job's), which verify accepts.
  const fs::path own = TempDir("own-job");
  ProcessResult fetched = stack.Cli({"fetch", replacing, "--to", own.string()});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.out << fetched.err;
  ExpectVerifies(own);
  EXPECT_EQ(ShardsOf(own).size(), 2u);
  ASSERT_TRUE(fs::is_regular_file(own / "validate.tfrecord"));
  const std::string own_validation = *ReadFile((own / "validate.tfrecord").string());
  EXPECT_LT(own_validation.size(), fs::file_size(stack.dataset("dup") / "validate.tfrecord"));

  // One job's pairs removed: its shards, report and validation part go, the rest verifies.
  ProcessResult rm = stack.Cli({"datasets", "rm", "dup", "--job", second});
  ASSERT_EQ(rm.exit_code, 0) << rm.out << rm.err;
  ExpectVerifies(stack.dataset("dup"));
  // What is left of validate.tfrecord is the remaining job's part: what `fetch JOB` gave.
  EXPECT_EQ(*ReadFile((stack.dataset("dup") / "validate.tfrecord").string()), own_validation);
  absl::StatusOr<std::string> manifest =
      ReadFile((stack.dataset("dup") / "manifest.json").string());
  ASSERT_TRUE(manifest.ok());
  EXPECT_THAT(*manifest, ::testing::Not(::testing::HasSubstr(second)));
  EXPECT_FALSE(fs::exists(stack.dataset("dup") / "reports" / (second + ".html")));
  EXPECT_EQ(ShardsOf(stack.dataset("dup")).size(), 2u);
  EXPECT_EQ(stack.Cli({"datasets", "rm", "dup", "--job", second}).exit_code, 2);

  // The whole dataset.
  ASSERT_EQ(stack.Cli({"datasets", "rm", "dup"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(stack.dataset("dup")));
  ProcessResult none = stack.Cli({"datasets"});
  EXPECT_THAT(none.out, ::testing::HasSubstr("no published datasets"));
}

}  // namespace
}  // namespace framepair
