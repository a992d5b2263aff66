// The remote commands about published datasets: fetch (download over gRPC, for a user without
// the coordinator's storage), datasets (list, rm), and the remote half of `report JOB`.
#include <boost/program_options.hpp>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/remote.h"
#include "dataset/dataset.h"
#include "services/common/grpc_status.h"
#include "storage/storage.h"
#include "util/file.h"
#include "util/quote.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair::cli {
namespace po = boost::program_options;

namespace {

// Streams `file` of the dataset from `offset` into `sink`, at most `limit` bytes when it is
// >= 0; `size` receives the file's size.
absl::Status StreamDatasetFile(Remote& remote, const std::string& dataset, const std::string& file,
                               int64_t offset,
                               const std::function<absl::Status(std::string_view)>& sink,
                               int64_t* size, int64_t limit = -1) {
  auto ctx = remote.Context(std::chrono::seconds(0));
  framepair::v1::ReadDatasetFileRequest request;
  request.set_dataset(dataset);
  request.set_file(file);
  request.set_offset(offset);
  auto reader = remote.stub->ReadDatasetFile(ctx.get(), request);
  framepair::v1::ReadDatasetFileResponse chunk;
  absl::Status written;
  bool enough = limit == 0;
  while (written.ok() && !enough && reader->Read(&chunk)) {
    *size = chunk.size();
    std::string_view bytes = chunk.chunk();
    if (limit >= 0 && static_cast<int64_t>(bytes.size()) >= limit) {
      bytes = bytes.substr(0, static_cast<size_t>(limit));
      enough = true;
    }
    if (limit >= 0) limit -= static_cast<int64_t>(bytes.size());
    written = sink(bytes);
  }
  if (!written.ok() || enough) {
    ctx->TryCancel();
    (void)reader->Finish();
    return written;
  }
  return FromGrpcStatus(reader->Finish());
}

// A job id as the coordinator makes them ("j" + 12 hex digits): what tells `fetch JOB` and
// `report JOB` from a dataset name or a directory.
bool LooksLikeJobId(const std::string& s) {
  if (s.size() != 13 || s[0] != 'j') return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// The dataset of a finished job.
absl::StatusOr<std::string> DatasetOfJob(Remote& remote, const std::string& job_id) {
  auto ctx = remote.Context(std::chrono::seconds(30));
  framepair::v1::GetJobRequest request;
  request.set_job_id(job_id);
  framepair::v1::Job job;
  FP_RETURN_IF_ERROR(FromGrpcStatus(remote.stub->GetJob(ctx.get(), request, &job)));
  if (job.state() != framepair::v1::JOB_SUCCEEDED) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job_id,
                                                      " has not succeeded (framepair status ",
                                                      job_id, "): it published nothing"));
  }
  return job.spec().dataset();
}

// Said on stderr with the command's name; the exit code of a server's or a local error.
int Report(const std::string& command, const absl::Status& s, bool from_server) {
  std::fprintf(stderr, "framepair %s: %s\n", command.c_str(), std::string(s.message()).c_str());
  return ExitCodeFor(s, from_server);
}

// The manifest of one job's part of a dataset: its pair, its shards, and as validation file
// its own part of the dataset's validate.tfrecord (the pairs' parts lie in it in manifest
// order; `validation_offset` receives where this one starts).
framepair::v1::Manifest JobManifest(const framepair::v1::Manifest& dataset,
                                    const framepair::v1::PairEntry& pair,
                                    int64_t* validation_offset) {
  framepair::v1::Manifest m = dataset;
  m.clear_pairs();
  m.clear_shards();
  m.clear_sources();
  m.clear_validation();
  *validation_offset = 0;
  for (const auto& p : dataset.pairs()) {
    if (p.job_id() == pair.job_id()) break;
    *validation_offset += p.validation().bytes();
  }
  if (dataset.has_validation() && pair.has_validation() && pair.validation().bytes() > 0) {
    *m.mutable_validation() = pair.validation();
    m.mutable_validation()->set_file(dataset.validation().file());
  }
  framepair::v1::PairEntry* own = m.add_pairs();
  *own = pair;
  for (const auto& shard : dataset.shards()) {
    for (const std::string& file : pair.shard_files()) {
      if (shard.file() == file) *m.add_shards() = shard;
    }
  }
  *m.mutable_sources() = pair.sources();
  m.set_total_examples(pair.examples());
  return m;
}

// A local file that already holds `entry`'s bytes.
bool AlreadyThere(const std::string& path, const framepair::v1::ShardEntry& entry) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) ||
      static_cast<int64_t>(std::filesystem::file_size(path, ec)) != entry.bytes()) {
    return false;
  }
  Sha256 hash;
  return hash.UpdateFromFile(path).ok() && hash.HexDigest() == entry.sha256();
}

}  // namespace

absl::Status DownloadDatasetFile(Remote& remote, const std::string& dataset,
                                 const std::string& file, const std::string& path,
                                 const std::string& sha256, int64_t* resumed, int64_t* downloaded,
                                 int64_t offset, int64_t length) {
  FP_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Resume(path));
  int64_t had = static_cast<int64_t>(out.bytes_written());
  auto append = [&out](std::string_view chunk) { return out.Append(chunk); };
  int64_t size = 0;
  auto stream = [&] {
    if (length >= 0 && had > length) return absl::OutOfRangeError("longer than the part");
    return StreamDatasetFile(remote, dataset, file, offset + had, append, &size,
                             length >= 0 ? length - had : -1);
  };
  absl::Status streamed = stream();
  if (absl::IsOutOfRange(streamed)) {
    // The partial file is longer than the file is now: it belonged to another version.
    out.Discard();
    FP_ASSIGN_OR_RETURN(out, AtomicFile::Resume(path));
    had = 0;
    streamed = stream();
  }
  if (streamed.ok() && length >= 0 && static_cast<int64_t>(out.bytes_written()) != length) {
    streamed = absl::DataLossError(absl::StrCat(file, " of dataset '", dataset,
                                                "' is shorter than its manifest says; run the "
                                                "fetch again"));
  }
  *resumed += had;
  *downloaded += static_cast<int64_t>(out.bytes_written()) - had;
  FP_RETURN_IF_ERROR(streamed);
  if (!sha256.empty()) {
    Sha256 hash;
    FP_RETURN_IF_ERROR(hash.UpdateFromFile(out.temp_path()).status());
    if (hash.HexDigest() != sha256) {
      out.Discard();
      return absl::DataLossError(absl::StrCat(
          file, " of dataset '", dataset,
          "' arrived with another sha256 than its manifest lists; the partial download was "
          "removed: run the fetch again"));
    }
  }
  return out.Commit();
}

int FetchCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  std::string what, to;
  po::options_description desc(
      "framepair fetch DATASET --to DIR: download a published dataset from the coordinator\n"
      "over gRPC (no shared storage needed): every shard, checked against the manifest's\n"
      "sha256, written atomically, the job reports, and manifest.json last. An interrupted\n"
      "fetch continues where it stopped (a partial file is kept as .NAME.partial); files\n"
      "already in DIR with the right sha256 are not downloaded again.\n"
      "framepair fetch JOB --to DIR downloads one job's shards, its validation examples (its\n"
      "part of the dataset's validate.tfrecord), its report and a manifest of that job alone:\n"
      "what training on that job needs.\n\n"
      "Example: framepair fetch games --to data/games && framepair verify data/games\n\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("what", po::value(&what), "dataset name or job id (positional)")
    ("to", po::value(&to), "the local directory to write (created if missing)");
  // clang-format on
  po::positional_options_description positional;
  positional.add("what", 1);
  int code = 0;
  if (!Parse("fetch", args, desc, &positional, &remote_options, &code)) return code;
  if (what.empty() || to.empty()) {
    std::fprintf(stderr, "framepair fetch: usage: framepair fetch DATASET|JOB --to DIR\n");
    return kExitBadInput;
  }
  if (absl::Status s = EnsureWritableDirectory(to); !s.ok()) {
    return Report("fetch", absl::InvalidArgumentError(absl::StrCat("--to: ", s.message())), false);
  }
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError("fetch", remote.error);
  std::string dataset = what, job_id;
  if (LooksLikeJobId(what)) {
    absl::StatusOr<std::string> of = DatasetOfJob(remote, what);
    if (!of.ok()) return Report("fetch", of.status(), true);
    dataset = *of;
    job_id = what;
  } else if (absl::Status s = StorageRoot::ValidateName("dataset name", what); !s.ok()) {
    return Report("fetch", s, false);
  }
  std::string json;
  int64_t size = 0;
  if (absl::Status s = StreamDatasetFile(
          remote, dataset, "manifest.json", 0,
          [&](std::string_view chunk) {
            if (json.size() + chunk.size() > (64 << 20)) {
              return absl::ResourceExhaustedError("manifest.json is larger than 64 MiB");
            }
            json.append(chunk);
            return absl::OkStatus();
          },
          &size);
      !s.ok()) {
    return Report("fetch", s, true);
  }
  // The names in it become local paths: ParseManifest refuses any that is not a plain file
  // name (dataset.h CheckManifestFileNames), so nothing is written outside DIR.
  absl::StatusOr<framepair::v1::Manifest> manifest =
      ParseManifest(json, absl::StrCat("manifest.json of dataset '", dataset, "'"));
  if (!manifest.ok()) return Report("fetch", manifest.status(), true);
  std::vector<std::string> jobs;
  int64_t validation_offset = 0;  // of the job's part, in the dataset's validation file
  if (!job_id.empty()) {
    const framepair::v1::PairEntry* pair = nullptr;
    for (const auto& p : manifest->pairs()) {
      if (p.job_id() == job_id) pair = &p;
    }
    if (pair == nullptr) {
      return Report("fetch",
                    absl::NotFoundError(absl::StrCat("dataset '", dataset, "' holds no job ",
                                                     job_id, " (any more)")),
                    true);
    }
    *manifest = JobManifest(*manifest, *pair, &validation_offset);
    absl::StatusOr<std::string> own = ManifestJson(*manifest);
    if (!own.ok()) return Report("fetch", own.status(), false);
    json = *own;
  }
  for (const auto& p : manifest->pairs()) jobs.push_back(p.job_id());
  std::vector<const framepair::v1::ShardEntry*> files;
  for (const auto& s : manifest->shards()) files.push_back(&s);
  if (manifest->has_validation() && !manifest->validation().file().empty()) {
    files.push_back(&manifest->validation());
  }
  int64_t resumed = 0, downloaded = 0, present = 0;
  for (const framepair::v1::ShardEntry* f : files) {
    const std::string path = absl::StrCat(to, "/", f->file());
    if (AlreadyThere(path, *f)) {
      ++present;
      continue;
    }
    // One job's validation file is its part of the dataset's.
    const bool part = !job_id.empty() && f == &manifest->validation();
    if (absl::Status s =
            DownloadDatasetFile(remote, dataset, f->file(), path, f->sha256(), &resumed,
                                &downloaded, part ? validation_offset : 0, part ? f->bytes() : -1);
        !s.ok()) {
      return Report("fetch", s, true);
    }
  }
  // The jobs' report pages, where the coordinator made one (older datasets have none).
  int reports = 0;
  for (const std::string& job : jobs) {
    if (!StorageRoot::ValidateName("job id", job).ok()) continue;
    const std::string file = absl::StrCat("reports/", job, ".html");
    if (absl::Status s = EnsureWritableDirectory(to + "/reports"); !s.ok()) {
      return Report("fetch", s, false);
    }
    absl::Status s = DownloadDatasetFile(remote, dataset, file, absl::StrCat(to, "/", file), "",
                                         &resumed, &downloaded);
    if (s.ok()) {
      ++reports;
    } else if (!absl::IsNotFound(s)) {
      return Report("fetch", s, true);
    }
  }
  if (absl::Status s = WriteFileAtomically(to + "/manifest.json", json); !s.ok()) {
    return Report("fetch", s, false);
  }
  if (remote.options.output == "json") {
    std::printf(
        "{\"dir\": %s, \"dataset\": %s, \"files\": %zu, \"files_present\": %lld, "
        "\"bytes_downloaded\": %lld, \"bytes_resumed\": %lld, \"reports\": %d}\n",
        JsonString(to).c_str(), JsonString(dataset).c_str(), files.size(),
        static_cast<long long>(present), static_cast<long long>(downloaded),
        static_cast<long long>(resumed), reports);
  } else {
    std::printf("framepair fetch: %s: %zu file(s) in %s (%.1f MiB downloaded%s%s)\n",
                job_id.empty() ? dataset.c_str() : ("job " + job_id).c_str(), files.size(),
                to.c_str(), static_cast<double>(downloaded) / (1 << 20),
                resumed > 0 ? absl::StrCat(", ", resumed, " bytes resumed").c_str() : "",
                present > 0 ? absl::StrCat(", ", present, " already there").c_str() : "");
  }
  return kExitOk;
}

int DatasetsCommand(const std::vector<std::string>& args, RemoteOptions remote_options) {
  const bool rm = !args.empty() && args[0] == "rm";
  std::string dataset, job_id;
  po::options_description desc(
      rm ? "framepair datasets rm DATASET [--job JOB]: remove a published dataset, or one job's\n"
           "pairs of it: the manifest is rewritten first (atomically, without them), then their\n"
           "shards, reports and validation examples go. Only the submitter of every job removed\n"
           "(or an admin token) may.\n\n"
           "Example: framepair datasets rm games --job j0123456789ab\n\nOptions"
         : "framepair datasets: the published datasets and their jobs (sources, seed, examples).\n"
           "`framepair datasets rm DATASET [--job JOB]` removes one, or one job's pairs.\n\n"
           "Example: framepair datasets -o json\n\nOptions");
  po::positional_options_description positional;
  if (rm) {
    desc.add_options()("dataset", po::value(&dataset), "dataset name (positional)")(
        "job", po::value(&job_id), "remove only this job's pairs");
    positional.add("dataset", 1);
  }
  const std::vector<std::string> rest(rm ? args.begin() + 1 : args.begin(), args.end());
  int code = 0;
  if (!Parse(rm ? "datasets rm" : "datasets", rest, desc, &positional, &remote_options, &code)) {
    return code;
  }
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError("datasets", remote.error);
  const bool json = remote.options.output == "json";
  if (rm) {
    if (dataset.empty()) {
      std::fprintf(stderr,
                   "framepair datasets rm: usage: framepair datasets rm DATASET [--job JOB]\n");
      return kExitBadInput;
    }
    auto ctx = remote.Context(std::chrono::seconds(120));
    framepair::v1::DeleteDatasetRequest request;
    request.set_dataset(dataset);
    request.set_job_id(job_id);
    framepair::v1::DeleteDatasetResponse response;
    grpc::Status s = remote.stub->DeleteDataset(ctx.get(), request, &response);
    if (!s.ok()) return Fail("datasets rm", remote.options, s);
    if (json) {
      std::printf("%s\n", Json(response).c_str());
    } else {
      std::printf("framepair datasets rm: %s: removed %d job(s), %lld file(s)\n", dataset.c_str(),
                  response.jobs_removed_size(), static_cast<long long>(response.files_removed()));
    }
    return kExitOk;
  }
  auto ctx = remote.Context(std::chrono::seconds(60));
  framepair::v1::ListDatasetsResponse response;
  grpc::Status s = remote.stub->ListDatasets(ctx.get(), {}, &response);
  if (!s.ok()) return Fail("datasets", remote.options, s);
  if (json) {
    std::printf("%s\n", Json(response).c_str());
    return kExitOk;
  }
  for (const auto& d : response.datasets()) {
    std::printf("%s  %lld examples, %.1f MiB, %d job(s)  %s\n", d.name().c_str(),
                static_cast<long long>(d.examples()), static_cast<double>(d.bytes()) / (1 << 20),
                d.jobs_size(), d.path().c_str());
    for (const auto& j : d.jobs()) {
      std::string sources;
      for (const std::string& sha : j.source_sha256()) {
        absl::StrAppend(&sources, sources.empty() ? "" : " ", sha.substr(0, 12));
      }
      std::printf("  %s  %lld examples in %d shard(s), seed %llu, sources %s\n", j.job_id().c_str(),
                  static_cast<long long>(j.examples()), j.shards(),
                  static_cast<unsigned long long>(j.seed()), sources.c_str());
    }
  }
  if (response.datasets_size() == 0) std::printf("no published datasets\n");
  return kExitOk;
}

bool IsRemoteReportTarget(const std::string& arg) {
  std::error_code ec;
  return LooksLikeJobId(arg) && !std::filesystem::exists(arg, ec);
}

int RemoteReport(const std::string& job_id, const std::string& out, RemoteOptions remote_options) {
  Remote remote(remote_options);
  if (!remote.error.ok()) return ChannelError("report", remote.error);
  absl::StatusOr<std::string> dataset = DatasetOfJob(remote, job_id);
  if (!dataset.ok()) return Report("report", dataset.status(), true);
  const std::string path = out.empty() ? absl::StrCat(job_id, ".html") : out;
  int64_t resumed = 0, downloaded = 0;
  // A missing page is NOT_FOUND saying why (an older coordinator's job, a bucket root).
  absl::Status s = DownloadDatasetFile(remote, *dataset, absl::StrCat("reports/", job_id, ".html"),
                                       path, "", &resumed, &downloaded);
  if (!s.ok()) return Report("report", s, true);
  if (remote.options.output == "json") {
    std::printf("{\"job\": %s, \"report\": %s}\n", JsonString(job_id).c_str(),
                JsonString(path).c_str());
  } else {
    std::printf("framepair report: %s\n", path.c_str());
  }
  return kExitOk;
}

}  // namespace framepair::cli
