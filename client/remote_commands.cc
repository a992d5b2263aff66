// The remote commands: submit, watch, status, list, cancel, against framepair-coordinator.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/pair_check.h"
#include "client/remote.h"
#include "client/run_flags.h"
#include "client/terminal_progress.h"
#include "framepair/v1/coordinator.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "jobplan/job_plan.h"
#include "pipeline/parameters.h"
#include "services/common/channel.h"
#include "services/common/grpc_status.h"
#include "util/random_id.h"
#include "util/sha256.h"

namespace framepair::cli {
namespace po = boost::program_options;
using framepair::v1::Job;
using framepair::v1::JobEvent;

namespace {

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

}  // namespace

Remote::Remote(const RemoteOptions& o) : options(o) {
  ChannelOptions c;
  c.tls_ca_file = o.tls_ca;
  c.tls_server_name = o.tls_server_name;
  c.tls_cert_file = o.tls_cert;
  c.tls_key_file = o.tls_key;
  c.auth_token = o.token;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> made = MakeChannel(o.server, c);
  if (!made.ok()) {
    error = made.status();
    return;
  }
  channel = *std::move(made);
  stub = framepair::v1::Coordinator::NewStub(channel);
}

std::unique_ptr<grpc::ClientContext> Remote::Context(std::chrono::seconds deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (deadline.count() > 0) ctx->set_deadline(std::chrono::system_clock::now() + deadline);
  return ctx;
}

// After a refused token, wherever the refusal came from (a call or an upload).
constexpr char kTokenHint[] =
    "\n(set FRAMEPAIR_TOKEN to a token from the coordinator's --auth-token-file)";

int Fail(const std::string& command, const RemoteOptions& o, const grpc::Status& s) {
  absl::Status status = FromGrpcStatus(s);
  std::string hint;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hint =
        absl::StrCat("\n(is framepair-coordinator running at ", o.server,
                     "? Set --server or FRAMEPAIR_SERVER; scripts/local-stack.sh up starts one)");
  } else if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    hint = kTokenHint;
  }
  std::fprintf(stderr, "framepair %s: %s%s\n", command.c_str(), s.error_message().c_str(),
               hint.c_str());
  return ExitCodeFor(status, /*from_server=*/true);
}

// "framepair COMMAND: message", and what to do about a refused token.
void PrintError(const std::string& command, const absl::Status& s) {
  std::fprintf(stderr, "framepair %s: %s%s\n", command.c_str(), std::string(s.message()).c_str(),
               s.code() == absl::StatusCode::kUnauthenticated ? kTokenHint : "");
}

int ChannelError(const std::string& command, const absl::Status& s) {
  PrintError(command, s);
  return ExitCodeFor(s);
}

namespace {

constexpr int64_t kChunkBytes = 1 << 20;  // the API's chunk limit

std::string StateName(framepair::v1::JobState s) {
  switch (s) {
    case framepair::v1::JOB_QUEUED:
      return "queued";
    case framepair::v1::JOB_RUNNING:
      return "running";
    case framepair::v1::JOB_SUCCEEDED:
      return "succeeded";
    case framepair::v1::JOB_FAILED:
      return "failed";
    case framepair::v1::JOB_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

bool Terminal(framepair::v1::JobState s) {
  return s == framepair::v1::JOB_SUCCEEDED || s == framepair::v1::JOB_FAILED ||
         s == framepair::v1::JOB_CANCELLED;
}

void PrintJob(const Job& job) {
  std::printf("job %s  dataset %s  %s\n", job.id().c_str(), job.spec().dataset().c_str(),
              StateName(job.state()).c_str());
  if (!job.error().empty()) std::printf("  error: %s\n", job.error().c_str());
  for (const auto& t : job.tasks()) {
    std::string progress = t.total() > 0 ? absl::StrFormat("  %d/%d", t.done(), t.total()) : "";
    std::printf("  %-12s %-9s attempt %d%s%s%s\n", t.name().c_str(),
                std::string(TaskStateText(TaskStateOf(t))).c_str(), static_cast<int>(t.attempt()),
                t.worker().empty() ? "" : (" on " + t.worker()).c_str(), progress.c_str(),
                t.error().empty() ? "" : ("  last error: " + t.error()).c_str());
  }
  if (job.state() == framepair::v1::JOB_SUCCEEDED) {
    const auto& r = job.result();
    // An older coordinator does not say where its storage root is.
    const std::string where = r.dataset_path().empty()
                                  ? absl::StrCat("<storage-root>/", r.dataset_dir())
                                  : r.dataset_path();
    std::printf("  %lld examples in %d shard(s), %.1f MiB, in %s\n",
                static_cast<long long>(r.examples()), r.shards_size(),
                static_cast<double>(r.bytes()) / (1 << 20), where.c_str());
    std::printf("  (on the coordinator's machine; elsewhere: framepair fetch %s --to DIR)\n",
                job.spec().dataset().c_str());
  }
}

// Per-stage progress while watching: redrawn lines on a terminal, plain lines otherwise.
class WatchDisplay {
 public:
  explicit WatchDisplay(bool interactive) : interactive_(interactive) {}

  void Snapshot(const Job& job) {
    for (const auto& t : job.tasks()) tasks_[t.name()] = t;
    Draw(true);
  }
  void Task(const framepair::v1::TaskStatus& t) {
    auto& known = tasks_[t.name()];
    const bool changed = TaskStateOf(known) != TaskStateOf(t) || known.attempt() != t.attempt();
    known = t;
    if (!interactive_ && changed) {
      std::fprintf(stderr, "%s %s%s%s\n", t.name().c_str(),
                   std::string(TaskStateText(TaskStateOf(t))).c_str(),
                   t.worker().empty() ? "" : (" on " + t.worker()).c_str(),
                   t.error().empty() ? "" : (" (" + t.error() + ")").c_str());
    }
    Draw(false);
  }
  void Done() {
    if (interactive_ && lines_ > 0) std::fprintf(stderr, "\n");
  }
  // A message between redraws: the drawn lines stay above it, the next draw starts below.
  void Note(const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    lines_ = 0;
  }

 private:
  // Pipeline order (the job plan's), whatever the task names sort as; LR's ingest first.
  static int Rank(const std::string& name) {
    absl::StatusOr<TaskId> id = TaskId::Parse(name);
    if (!id.ok()) return 2 * static_cast<int>(std::size(kTaskKinds));
    return 2 * static_cast<int>(id->kind) + (id->side == Side::kLr ? 0 : 1);
  }
  // " ETA m:ss" from the rate since this watch first saw the task's progress.
  std::string Eta(const framepair::v1::TaskStatus& t, std::chrono::steady_clock::time_point now) {
    if (TaskStateOf(t) == framepair::v1::TASK_DONE || t.total() <= 0 || t.done() <= 0) return "";
    auto [it, inserted] = first_seen_.try_emplace(t.name(), now, t.done());
    const double seconds = std::chrono::duration<double>(now - it->second.first).count();
    const int64_t progressed = t.done() - it->second.second;
    if (inserted || seconds < 1 || progressed <= 0) return "";
    return " ETA " + FormatDuration(seconds * static_cast<double>(t.total() - t.done()) /
                                    static_cast<double>(progressed));
  }

  // Stages: ingest-lr, ingest-hr, align, scene, and all pack-* shards as one "pack" line.
  void Draw(bool force) {
    if (!interactive_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::map<std::pair<int, std::string>, std::string> lines;
    int packs = 0, packs_done = 0;
    for (const auto& [name, t] : tasks_) {
      const framepair::v1::TaskState state = TaskStateOf(t);
      if (absl::StatusOr<TaskId> id = TaskId::Parse(name); id.ok() && id->kind == TaskKind::kPack) {
        packs++;
        packs_done += state == framepair::v1::TASK_DONE;
        continue;
      }
      std::string bar;
      if (state == framepair::v1::TASK_DONE) {
        bar = "done";
      } else if (t.total() > 0) {
        const int width = 30;
        int filled = static_cast<int>(width * t.done() / std::max<int64_t>(1, t.total()));
        bar = absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "] ",
                           t.done(), "/", t.total(), Eta(t, now));
      } else {
        bar = std::string(TaskStateText(state));
      }
      lines[{Rank(name), name}] = bar;
    }
    if (lines_ > 0) std::fprintf(stderr, "\033[%dA", lines_);
    lines_ = 0;
    for (const auto& [key, bar] : lines) {
      std::fprintf(stderr, "\r\033[K%-10s %s\n", key.second.c_str(), bar.c_str());
      lines_++;
    }
    if (packs > 0) {
      std::fprintf(stderr, "\r\033[K%-10s %d/%d shards\n", "pack", packs_done, packs);
      lines_++;
    }
  }

  bool interactive_;
  std::map<std::string, framepair::v1::TaskStatus> tasks_;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, int64_t>> first_seen_;
  int lines_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

// Ctrl-C while watching stops the watch, not the job: say so (async-signal-safe: the message
// is made before the handler is installed).
char g_watch_interrupt_message[512];
void OnWatchInterrupt(int) {
  const ssize_t ignored =
      ::write(STDERR_FILENO, g_watch_interrupt_message, std::strlen(g_watch_interrupt_message));
  (void)ignored;
  std::_Exit(kExitCancelled);
}

// Follows a job to its end, resuming after the last seen event when the stream breaks.
int Watch(Remote& remote, const std::string& job_id) {
  const bool json = remote.options.output == "json";
  WatchDisplay display(!json && isatty(STDERR_FILENO) != 0);
  std::snprintf(g_watch_interrupt_message, sizeof(g_watch_interrupt_message),
                "\nframepair watch: stopped watching; job %s keeps running (framepair watch %s "
                "to follow it again, framepair cancel %s to stop it)\n",
                job_id.c_str(), job_id.c_str(), job_id.c_str());
  std::signal(SIGINT, OnWatchInterrupt);
  int64_t last_seq = 0;
  int failures = 0;
  std::optional<framepair::v1::JobStateChange> final_state;
  while (!final_state) {
    auto ctx = remote.Context(std::chrono::seconds(0));
    framepair::v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_after_seq(last_seq);
    auto reader = remote.stub->WatchJob(ctx.get(), request);
    JobEvent event;
    while (reader->Read(&event)) {
      failures = 0;
      last_seq = std::max(last_seq, event.seq());
      if (json) std::printf("%s\n", Json(event, /*one_line=*/true).c_str());
      if (event.has_snapshot()) {
        display.Snapshot(event.snapshot());
        if (Terminal(event.snapshot().state())) {
          final_state.emplace();
          final_state->set_state(event.snapshot().state());
          final_state->set_error(event.snapshot().error());
          *final_state->mutable_result() = event.snapshot().result();
        }
      } else if (event.has_task()) {
        display.Task(event.task());
      } else if (event.has_state() && Terminal(event.state().state())) {
        final_state = event.state();
      }
    }
    grpc::Status status = reader->Finish();
    if (final_state) break;
    if (status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      if (++failures > 30) return Fail("watch", remote.options, status);
      if (failures == 1 && !status.ok()) {
        display.Note(absl::StrCat("framepair watch: lost the coordinator at ",
                                  remote.options.server, " (", status.error_message(),
                                  "); retrying for about 90 s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 200 * failures)));
      continue;  // resume after last_seq
    }
    return Fail("watch", remote.options, status);
  }
  display.Done();
  if (!json) {
    auto ctx = remote.Context(std::chrono::seconds(30));
    framepair::v1::GetJobRequest get;
    get.set_job_id(job_id);
    Job job;
    if (remote.stub->GetJob(ctx.get(), get, &job).ok()) PrintJob(job);
  }
  return final_state->state() == framepair::v1::JOB_SUCCEEDED ? kExitOk : kExitFailed;
}

// Upload progress on stderr: a redrawn line on a terminal, else a line every 10 s.
class UploadProgress {
 public:
  UploadProgress(const std::string& name, int64_t size, bool quiet)
      : name_(name), size_(size), quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
  void Sent(int64_t sent) {
    const auto now = std::chrono::steady_clock::now();
    if (quiet_ ||
        now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(10))) {
      return;
    }
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double mib = static_cast<double>(sent) / (1 << 20);
    std::fprintf(
        stderr, "%suploading %s: %.0f%% (%.1f of %.1f MiB, %.1f MiB/s)%s", tty_ ? "\r\033[K" : "",
        name_.c_str(),
        100.0 * static_cast<double>(sent) / static_cast<double>(std::max<int64_t>(1, size_)), mib,
        static_cast<double>(size_) / (1 << 20), seconds > 0 ? mib / seconds : 0.0,
        tty_ ? "" : "\n");
    drawn_ = tty_;
  }
  void Done(const std::string& message) {
    if (quiet_) return;
    std::fprintf(stderr, "%s%s\n", drawn_ ? "\r\033[K" : "", message.c_str());
  }

 private:
  const std::string name_;
  const int64_t size_;
  const bool quiet_, tty_;
  bool drawn_ = false;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_;
};

// Uploads a local file (or names a stored one: "storage:REL") and returns its reference. A
// file the coordinator already holds (same sha256 and size: FindFootage) is not sent again;
// `uploaded` receives the bytes sent.
absl::StatusOr<framepair::v1::FootageRef> Footage(Remote& remote, const std::string& arg,
                                                  bool quiet, int64_t* uploaded) {
  framepair::v1::FootageRef ref;
  if (arg.rfind("storage:", 0) == 0) {
    ref.set_storage_path(arg.substr(8));
    ref.set_display_name(arg);
    return ref;
  }
  ref.set_display_name(arg);
  Sha256 hash;
  absl::StatusOr<int64_t> size = hash.UpdateFromFile(arg);
  if (!size.ok()) return size.status();
  const std::string sha = hash.HexDigest();
  {
    auto ctx = remote.Context(std::chrono::seconds(30));
    framepair::v1::FindFootageRequest find;
    find.set_sha256(sha);
    find.set_size(*size);
    framepair::v1::FindFootageResponse found;
    grpc::Status status = remote.stub->FindFootage(ctx.get(), find, &found);
    // An older coordinator has no FindFootage: upload as before.
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
      absl::Status s = FromGrpcStatus(status);
      return absl::Status(s.code(), absl::StrCat("asking for ", arg, ": ", s.message()));
    }
    if (status.ok() && !found.storage_path().empty()) {
      if (!quiet) {
        std::fprintf(stderr, "%s: already on the coordinator (same sha256), not uploaded\n",
                     arg.c_str());
      }
      ref.set_storage_path(found.storage_path());
      return ref;
    }
  }
  std::ifstream in(arg, std::ios::binary);
  if (!in) return absl::NotFoundError(arg + ": cannot open");
  auto ctx = remote.Context(std::chrono::seconds(0));
  framepair::v1::UploadFootageResponse response;
  auto writer = remote.stub->UploadFootage(ctx.get(), &response);
  framepair::v1::UploadFootageRequest header;
  header.mutable_header()->set_sha256(sha);
  header.mutable_header()->set_size(*size);
  header.mutable_header()->set_file_name(arg);
  bool ok = writer->Write(header);
  std::string chunk(kChunkBytes, '\0');
  int64_t sent = 0;
  UploadProgress progress(arg, *size, quiet);
  while (ok && in) {
    in.read(chunk.data(), kChunkBytes);
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    framepair::v1::UploadFootageRequest part;
    part.set_chunk(chunk.data(), static_cast<size_t>(n));
    ok = writer->Write(part);
    sent += n;
    progress.Sent(sent);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) {
    progress.Done(absl::StrCat("uploading ", arg, ": failed"));
    absl::Status s = FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("uploading ", arg, ": ", s.message()));
  }
  *uploaded += sent;
  progress.Done(
      absl::StrFormat("%s: uploaded (%.1f MiB)", arg, static_cast<double>(sent) / (1 << 20)));
  ref.set_storage_path(response.storage_path());
  return ref;
}

std::string RandomRequestId() { return RandomHex(16); }

}  // namespace

bool Parse(const std::string& command, const std::vector<std::string>& args,
           po::options_description& desc, po::positional_options_description* positional,
           RemoteOptions* remote, int* exit_code) {
  desc.add_options()("help,h", "show this help")(
      "server", po::value(&remote->server),
      "coordinator address (default $FRAMEPAIR_SERVER or 127.0.0.1:50051)")(
      "output,o", po::value(&remote->output), "text (default) or json");
  po::variables_map vm;
  try {
    auto parser = po::command_line_parser(args).options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "framepair %s: %s\nRun `framepair %s --help` for the options.\n",
                 command.c_str(), e.what(), command.c_str());
    *exit_code = kExitBadInput;
    return false;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    *exit_code = kExitOk;
    return false;
  }
  if (remote->output != "text" && remote->output != "json") {
    std::fprintf(stderr, "framepair %s: -o must be text or json, not '%s'\n", command.c_str(),
                 remote->output.c_str());
    *exit_code = kExitBadInput;
    return false;
  }
  return true;
}

RemoteOptions DefaultRemoteOptions() {
  RemoteOptions o;
  o.server = Env("FRAMEPAIR_SERVER", "127.0.0.1:50051");
  o.token = Env("FRAMEPAIR_TOKEN");
  o.tls_ca = Env("FRAMEPAIR_TLS_CA");
  o.tls_server_name = Env("FRAMEPAIR_TLS_SERVER_NAME");
  o.tls_cert = Env("FRAMEPAIR_TLS_CERT");
  o.tls_key = Env("FRAMEPAIR_TLS_KEY");
  return o;
}

int SubmitCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  RunFlags flags;
  std::string lr, hr, dataset, request_id;
  bool watch = false, quiet = false, replace = false;
  po::options_description desc(
      "framepair submit: submit one footage pair as a job to framepair-coordinator.\n"
      "Local files are uploaded, with progress on stderr, unless the server already has them\n"
      "(same sha256 and size: not sent again); a path written storage:REL names a file\n"
      "already under the server's storage root. Prints the job id; --watch then follows it\n"
      "like `framepair watch`. The job's shards land in datasets/<dataset>/ under the\n"
      "coordinator's storage root (`framepair fetch DATASET --to DIR` downloads them).\n"
      "A job equal to one already in the dataset (same footage, options and seed) is refused\n"
      "(exit 2) unless --replace.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("lr", po::value(&lr), "LR recording (local path or storage:REL)")
    ("hr", po::value(&hr), "HR recording (local path or storage:REL)")
    ("dataset", po::value(&dataset), "dataset name ([A-Za-z0-9][A-Za-z0-9._-]*)")
    ("request-id", po::value(&request_id), "idempotency key: resubmitting with the same id returns the same job (default: random)")
    ("watch", po::bool_switch(&watch), "follow the job until it ends; exit 0 on success, 1 on failure")
    ("replace", po::bool_switch(&replace), "replace the job already in --dataset that has the same footage (sha256), options and seed: its shards and manifest entries give way to this job's when it is published (without --replace such a job is refused)")
    ("quiet,q", po::bool_switch(&quiet), "no upload progress");
  // clang-format on
  AddDatasetFlags(desc, &flags);
  int code = 0;
  if (!Parse("submit", args, desc, nullptr, &remote_options, &code)) return code;
  auto usage = [](const std::string& msg) {
    std::fprintf(stderr, "framepair submit: %s\nRun `framepair submit --help` for the options.\n",
                 msg.c_str());
    return kExitBadInput;
  };
  if (absl::Status s = ApplyDatasetFlags(&flags); !s.ok()) return usage(std::string(s.message()));
  if (hr.empty()) return usage("--hr is required");
  if (lr.empty() && !flags.hr_only) return usage("--lr is required (or pass --hr-only)");
  if (!lr.empty() && flags.hr_only) return usage("--hr-only takes no --lr");
  if (dataset.empty()) return usage("--dataset is required");
  RunOptions checked = flags.options;
  if (absl::Status s = NormalizeRunOptions(&checked); !s.ok()) {
    return usage(std::string(s.message()));
  }

  // The pair's headers, before any upload: a swapped or mis-scaled pair fails in
  // milliseconds, naming the flag to change. Files already on the server are checked there.
  if (!absl::StartsWith(hr, "storage:") && (lr.empty() || !absl::StartsWith(lr, "storage:"))) {
    if (absl::Status s = CheckPairLocally(flags.hr_only ? "" : lr, hr, checked.scale,
                                          checked.ingest.decoder.max_frame_pixels);
        !s.ok()) {
      std::fprintf(stderr, "framepair submit: %s\n", std::string(s.message()).c_str());
      return ExitCodeFor(s);
    }
  }
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError("submit", remote.error);
  framepair::v1::SubmitJobRequest request;
  request.set_request_id(request_id.empty() ? RandomRequestId() : request_id);
  auto* spec = request.mutable_spec();
  spec->set_dataset(dataset);
  *spec->mutable_parameters() = ParametersFor(flags.options);
  int64_t uploaded = 0;
  for (auto [arg, ref] : {std::pair{&lr, spec->mutable_lr()}, std::pair{&hr, spec->mutable_hr()}}) {
    if (arg->empty()) continue;
    absl::StatusOr<framepair::v1::FootageRef> footage = Footage(remote, *arg, quiet, &uploaded);
    if (!footage.ok()) {
      PrintError("submit", footage.status());
      return ExitCodeFor(footage.status(), /*from_server=*/true);
    }
    *ref = *footage;
  }
  if (flags.hr_only) spec->clear_lr();
  spec->set_replace(replace);
  if (!quiet) {
    std::fprintf(stderr, "framepair submit: uploaded %lld bytes\n",
                 static_cast<long long>(uploaded));
  }
  framepair::v1::SubmitJobResponse response;
  // Retried on UNAVAILABLE with the same request id: the server creates the job once.
  grpc::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto ctx = remote.Context(std::chrono::seconds(30));
    status = remote.stub->SubmitJob(ctx.get(), request, &response);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500 << attempt));
  }
  if (!status.ok()) return Fail("submit", remote.options, status);
  if (remote.options.output == "json") {
    std::printf("%s\n", Json(response.job()).c_str());
  } else {
    std::printf("%s\n", response.job().id().c_str());
  }
  std::fflush(stdout);
  if (!watch) return kExitOk;
  return Watch(remote, response.job().id());
}

int JobCommand(const std::string& command, const std::string& help,
               const std::vector<std::string>& args, RemoteOptions remote_options,
               const std::function<int(Remote&, const std::string&)>& body) {
  std::string job_id;
  po::options_description desc(help + "\n\nOptions");
  desc.add_options()("job", po::value(&job_id), "job id (positional)");
  po::positional_options_description positional;
  positional.add("job", 1);
  int code = 0;
  if (!Parse(command, args, desc, &positional, &remote_options, &code)) return code;
  if (job_id.empty()) {
    std::fprintf(stderr, "framepair %s: a job id is required: framepair %s JOB\n", command.c_str(),
                 command.c_str());
    return kExitBadInput;
  }
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError(command, remote.error);
  return body(remote, job_id);
}

int WatchCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  return JobCommand("watch",
                    "framepair watch JOB: follow a job until it ends (progress per stage).\n"
                    "Exit 0 when it succeeded, 1 when it failed or was cancelled.",
                    args, remote_options,
                    [](Remote& remote, const std::string& id) { return Watch(remote, id); });
}

int StatusCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  return JobCommand("status", "framepair status JOB: a job's state, tasks and result.", args,
                    remote_options, [](Remote& remote, const std::string& id) {
                      auto ctx = remote.Context(std::chrono::seconds(30));
                      framepair::v1::GetJobRequest request;
                      request.set_job_id(id);
                      Job job;
                      grpc::Status s = remote.stub->GetJob(ctx.get(), request, &job);
                      if (!s.ok()) return Fail("status", remote.options, s);
                      if (remote.options.output == "json") {
                        std::printf("%s\n", Json(job).c_str());
                      } else {
                        PrintJob(job);
                      }
                      return kExitOk;
                    });
}

int CancelCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  return JobCommand("cancel", "framepair cancel JOB: stop a job; its work in flight is cancelled.",
                    args, remote_options, [](Remote& remote, const std::string& id) {
                      auto ctx = remote.Context(std::chrono::seconds(30));
                      framepair::v1::CancelJobRequest request;
                      request.set_job_id(id);
                      Job job;
                      grpc::Status s = remote.stub->CancelJob(ctx.get(), request, &job);
                      if (!s.ok()) return Fail("cancel", remote.options, s);
                      if (remote.options.output == "json") {
                        std::printf("%s\n", Json(job).c_str());
                      } else {
                        std::printf("job %s: %s\n", job.id().c_str(),
                                    StateName(job.state()).c_str());
                      }
                      return kExitOk;
                    });
}

int ListCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  std::string dataset, state;
  int limit = 50;
  po::options_description desc("framepair list: jobs, newest first.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("dataset", po::value(&dataset), "only jobs of this dataset")
    ("state", po::value(&state), "only jobs in this state: queued, running, succeeded, failed, cancelled")
    ("limit", po::value(&limit)->default_value(50), "at most this many jobs (0 = all); fetched page by page");
  // clang-format on
  int code = 0;
  if (!Parse("list", args, desc, nullptr, &remote_options, &code)) return code;
  if (limit < 0) {
    std::fprintf(stderr, "framepair list: --limit must be >= 0\n");
    return kExitBadInput;
  }
  framepair::v1::ListJobsRequest request;
  request.set_dataset(dataset);
  if (!state.empty()) {
    framepair::v1::JobState s;
    std::string upper = "JOB_";
    for (char c : state) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!framepair::v1::JobState_Parse(upper, &s)) {
      std::fprintf(stderr, "framepair list: unknown --state '%s'\n", state.c_str());
      return kExitBadInput;
    }
    request.set_state(s);
  }
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError("list", remote.error);
  // Page by page: the server keeps each page below the message limit, whatever the jobs hold.
  framepair::v1::ListJobsResponse response;
  for (;;) {
    const int wanted = limit == 0 ? 500 : std::min(500, limit - response.jobs_size());
    request.set_page_size(wanted);
    auto ctx = remote.Context(std::chrono::seconds(30));
    framepair::v1::ListJobsResponse page;
    grpc::Status s = remote.stub->ListJobs(ctx.get(), request, &page);
    if (!s.ok()) return Fail("list", remote.options, s);
    for (Job& job : *page.mutable_jobs()) {
      if (limit > 0 && response.jobs_size() >= limit) break;
      *response.add_jobs() = std::move(job);
    }
    response.set_next_page_token(page.next_page_token());
    if (page.next_page_token().empty() || (limit > 0 && response.jobs_size() >= limit)) break;
    request.set_page_token(page.next_page_token());
  }
  if (remote.options.output == "json") {
    std::printf("%s\n", Json(response).c_str());
    return kExitOk;
  }
  std::printf("%-14s %-20s %-10s %s\n", "JOB", "DATASET", "STATE", "EXAMPLES / ERROR");
  for (const Job& job : response.jobs()) {
    std::string detail = job.state() == framepair::v1::JOB_SUCCEEDED
                             ? std::to_string(job.result().examples())
                             : job.error();
    std::printf("%-14s %-20s %-10s %s\n", job.id().c_str(), job.spec().dataset().c_str(),
                StateName(job.state()).c_str(), detail.c_str());
  }
  return kExitOk;
}

int JobsCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  if (args.empty() || args[0] != "rm") {
    const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
    std::fprintf(help ? stdout : stderr,
                 "framepair jobs: usage: framepair jobs rm JOB\n"
                 "  rm   delete a finished job (record, tasks, events, work files)\n");
    return help ? kExitOk : kExitBadInput;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  return JobCommand(
      "jobs rm",
      "framepair jobs rm JOB: delete a finished job: its record, tasks, events and work files\n"
      "(published datasets stay). A queued or running job must be cancelled first.",
      rest, remote_options, [](Remote& remote, const std::string& id) {
        auto ctx = remote.Context(std::chrono::seconds(30));
        framepair::v1::DeleteJobRequest request;
        request.set_job_id(id);
        framepair::v1::DeleteJobResponse response;
        grpc::Status s = remote.stub->DeleteJob(ctx.get(), request, &response);
        if (!s.ok()) return Fail("jobs rm", remote.options, s);
        if (remote.options.output == "json") {
          std::printf("{\"deleted\": \"%s\"}\n", id.c_str());
        } else {
          std::printf("job %s deleted\n", id.c_str());
        }
        return kExitOk;
      });
}

int HealthCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  std::string service;
  int timeout_ms = 2000;
  po::options_description desc(
      "framepair health: ask any framepair server for its gRPC health (grpc.health.v1).\n"
      "Exit 0 when SERVING, 1 when NOT_SERVING (e.g. draining), 4 when unreachable.\n\nOptions");
  desc.add_options()("service", po::value(&service), "service name (default: the whole server)")(
      "timeout-ms", po::value(&timeout_ms)->default_value(2000), "deadline of the check");
  int code = 0;
  if (!Parse("health", args, desc, nullptr, &remote_options, &code)) return code;
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError("health", remote.error);
  // No generated stub for grpc.health.v1 ships with Debian's gRPC; the messages are one field
  // each: HealthCheckRequest{string service = 1}, HealthCheckResponse{enum status = 1}.
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::GenericStub stub(remote.channel);
  grpc::CompletionQueue cq;
  auto ctx = remote.Context(std::chrono::seconds(0));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  auto call = stub.PrepareUnaryCall(ctx.get(), "/grpc.health.v1.Health/Check", request_buffer, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  if (!status.ok()) return Fail("health", remote.options, status);
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  const int serving = bytes.size() >= 2 && bytes[0] == 0x08 ? bytes[1] : 0;  // 1 = SERVING
  if (remote_options.output == "json") {
    std::printf("{\"status\": \"%s\"}\n", serving == 1 ? "SERVING" : "NOT_SERVING");
  } else {
    std::printf("%s\n", serving == 1 ? "SERVING" : "NOT_SERVING");
  }
  return serving == 1 ? kExitOk : kExitFailed;
}

}  // namespace framepair::cli
