// framepair-coordinator: the public API, durable job state and the scheduler.
#include <boost/program_options.hpp>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "services/common/server_main.h"
#include "services/coordinator/coordinator_service.h"
#include "util/file.h"
#include "util/memory.h"
#include "util/status_macros.h"

namespace {

std::vector<std::string> SplitTargets(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view t : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    out.emplace_back(t);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  using namespace framepair;
  // Many threads (gRPC's, the executors') allocate and free small messages; with glibc's
  // default trimming each thread arena gave pages back with madvise, and the TLB shootdowns
  // that follow took a sixth of the coordinator's CPU under load (perf, bench/coordinator.sh).
  KeepLargeBlocksInHeap();
#ifdef NDEBUG
  // Debian's Abseil is built with its lock-order graph on: every Mutex (gRPC's too) was tracked
  // in it, 1.4-2.8 % of the coordinator's CPU (perf, bench/coordinator.sh). Debug builds (the
  // ASan CI) keep the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  std::string state_dir, ingest, align, scene, packer, worker_ca, worker_token_file;
  SchedulerOptions scheduler_options;
  CoordinatorServiceOptions service_options;
  int64_t stall_ms = scheduler_options.stall_timeout.count();
  int64_t deadline_s = scheduler_options.task_deadline.count() / 1000;
  int64_t backoff_ms = scheduler_options.retry_backoff.count();
  int64_t retain_days = 30;
  std::unique_ptr<JobStore> store;
  std::unique_ptr<EventHub> hub;
  std::unique_ptr<Scheduler> scheduler;

  ServiceFactory factory;
  factory.add_flags = [&](po::options_description& flags) {
    // clang-format off
    flags.add_options()
      ("state-dir", po::value(&state_dir), "directory of the job database (coordinator.db, SQLite); on a local disk, never NFS")
      ("ingest", po::value(&ingest), "framepair-ingest workers: host:port,host:port or dns:///name:port")
      ("align", po::value(&align), "framepair-align workers (same forms)")
      ("scene", po::value(&scene), "framepair-scene workers (same forms)")
      ("packer", po::value(&packer), "framepair-packer workers (same forms)")
      ("ingest-concurrency", po::value(&scheduler_options.ingest.concurrency)->default_value(2), "ingest calls in flight per target")
      ("align-concurrency", po::value(&scheduler_options.align.concurrency)->default_value(2), "align calls in flight per target")
      ("scene-concurrency", po::value(&scheduler_options.scene.concurrency)->default_value(2), "scene calls in flight per target")
      ("packer-concurrency", po::value(&scheduler_options.packer.concurrency)->default_value(1), "pack calls in flight per target (for dns:/// targets: per Service, so raise it with the replicas)")
      ("max-retries", po::value(&scheduler_options.max_retries)->default_value(scheduler_options.max_retries), "retryable failures of a task before its job fails")
      ("retry-backoff-ms", po::value(&backoff_ms)->default_value(backoff_ms), "first retry delay; doubles per retry, at most 30 s")
      ("stall-timeout-ms", po::value(&stall_ms)->default_value(stall_ms), "a worker silent for this long (no progress, no heartbeat: workers send one every --heartbeat-ms, default 1 s) is considered dead and its task retried elsewhere; keep it at several heartbeats")
      ("task-deadline-seconds", po::value(&deadline_s)->default_value(deadline_s), "deadline of one task attempt")
      ("max-upload-bytes", po::value(&service_options.max_upload_bytes)->default_value(service_options.max_upload_bytes), "largest footage file UploadFootage accepts")
      ("max-uploads-per-client", po::value(&service_options.max_uploads_per_client)->default_value(service_options.max_uploads_per_client), "concurrent uploads per client IP address")
      ("min-free-bytes", po::value(&service_options.min_free_bytes)->default_value(service_options.min_free_bytes), "an upload must leave this much free on the storage root")
      ("retain", po::value(&retain_days)->default_value(retain_days), "days to keep finished jobs (tasks, events, work files) and footage no job names; 0 = forever")
      ("worker-keepalive-ms", po::value(&scheduler_options.worker_channel.keepalive_time_ms)->default_value(10000), "ping a worker connection after this long without traffic; an unanswered ping (--worker-keepalive-timeout-ms) closes it, so a cut-off host stops getting tasks")
      ("worker-keepalive-timeout-ms", po::value(&scheduler_options.worker_channel.keepalive_timeout_ms)->default_value(5000), "how long an unanswered keepalive ping may take")
      ("worker-tls-ca", po::value(&worker_ca), "CA bundle (PEM) of the workers' certificates: call workers over TLS, and only workers holding a certificate it signed")
      ("worker-tls-cert", po::value(&scheduler_options.worker_channel.tls_cert_file), "client certificate (PEM) the coordinator presents to workers started with --tls-client-ca (mutual TLS); needs --worker-tls-ca")
      ("worker-tls-key", po::value(&scheduler_options.worker_channel.tls_key_file), "private key (PEM) of --worker-tls-cert")
      ("worker-token-file", po::value(&worker_token_file), "token sent to workers started with --auth-token-file");
    // clang-format on
  };
  factory.create = [&](const ServerOptions& options) -> absl::StatusOr<ServiceSet> {
    if (options.storage_root.empty()) {
      return absl::InvalidArgumentError(
          "--storage-root is required: the shared storage directory or bucket "
          "(s3://BUCKET/PREFIX)");
    }
    if (state_dir.empty()) {
      return absl::InvalidArgumentError("--state-dir is required: where the job database lives");
    }
    FP_RETURN_IF_ERROR(EnsureWritableDirectory(state_dir));
    FP_ASSIGN_OR_RETURN(StorageRoot storage, StorageRoot::Open(options.storage_root));
    // A bucket the coordinator cannot use is an error now, not at the first upload.
    FP_RETURN_IF_ERROR(storage.Check());
    FP_ASSIGN_OR_RETURN(store, JobStore::Open(state_dir + "/coordinator.db"));
    scheduler_options.ingest.targets = SplitTargets(ingest);
    scheduler_options.align.targets = SplitTargets(align);
    scheduler_options.scene.targets = SplitTargets(scene);
    scheduler_options.packer.targets = SplitTargets(packer);
    scheduler_options.stall_timeout = std::chrono::milliseconds(stall_ms);
    scheduler_options.task_deadline = std::chrono::seconds(deadline_s);
    scheduler_options.retry_backoff = std::chrono::milliseconds(backoff_ms);
    if (retain_days < 0 || retain_days > 36500) {
      return absl::InvalidArgumentError("--retain must be 0 (keep forever) .. 36500 days");
    }
    if (service_options.max_uploads_per_client < 1) {
      return absl::InvalidArgumentError("--max-uploads-per-client must be at least 1");
    }
    scheduler_options.retain = std::chrono::hours(24 * retain_days);
    scheduler_options.worker_channel.tls_ca_file = worker_ca;
    if (!worker_token_file.empty()) {
      FP_ASSIGN_OR_RETURN(std::string token, ReadFile(worker_token_file));
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
        token.pop_back();
      }
      scheduler_options.worker_channel.auth_token = token;
    }
    if (!options.auth_token_file.empty()) {
      // The same file the server's token auth reads: handlers tell who calls from it.
      FP_ASSIGN_OR_RETURN(std::string tokens, ReadFile(options.auth_token_file));
      absl::StatusOr<std::vector<TokenIdentity>> identities = ParseTokenFile(tokens);
      if (!identities.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--auth-token-file: ", identities.status().message()));
      }
      service_options.identities = std::make_shared<const TokenIdentities>(*std::move(identities));
    }
    hub = std::make_unique<EventHub>();
    FP_ASSIGN_OR_RETURN(scheduler,
                        Scheduler::Create(store.get(), storage, scheduler_options, hub.get()));
    FP_RETURN_IF_ERROR(scheduler->Start());
    ServiceSet set;
    set.services.push_back(std::make_unique<CoordinatorService>(
        store.get(), storage, scheduler.get(), hub.get(), service_options));
    // Calls to workers in flight are cancelled; their tasks resume on the next start.
    set.on_drain = [&] { scheduler->Stop(); };
    return set;
  };
  int code = ServerMain(argc, argv, "framepair-coordinator",
                        "framepair-coordinator: accepts jobs (one per footage pair), keeps their "
                        "state in SQLite,\nschedules ingest, align, scene and packer tasks on the "
                        "workers, and publishes\nshards to <storage-root>/datasets/<name>/.",
                        factory);
  if (scheduler) scheduler->Stop();
  return code;
}
