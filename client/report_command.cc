// `framepair report` and `framepair extract`: the two ways to look at a dataset directory.
#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/dataset_args.h"
#include "dataset/dataset.h"
#include "report/examples.h"
#include "report/report.h"
#include "util/file.h"
#include "util/quote.h"
#include "util/status_macros.h"

namespace framepair::cli {
namespace po = boost::program_options;

namespace {

// `framepair report JOB [-o FILE] [--server ADDR]`.
int RemoteReportCommand(const std::vector<std::string>& args, RemoteOptions remote) {
  std::string out;
  po::options_description desc;
  desc.add_options()("output,o", po::value(&out))("server", po::value(&remote.server));
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(std::vector<std::string>(args.begin() + 1, args.end()))
                  .options(desc)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr,
                 "framepair report: %s\nframepair report JOB takes -o FILE and --server ADDR\n",
                 e.what());
    return kExitBadInput;
  }
  return RemoteReport(args[0], out, remote);
}

}  // namespace

int ReportCommand(const std::vector<std::string>& args, const std::string& output,
                  RemoteOptions remote) {
  if (!args.empty() && IsRemoteReportTarget(args[0])) {
    remote.output = output;
    return RemoteReportCommand(args, remote);
  }
  std::string dir, out;
  ReportOptions options;
  uint64_t seed = 0;
  po::options_description desc(
      "framepair report DIR: (re)make the report page of a dataset directory: one\n"
      "self-contained HTML file (no network needed) with the inputs and options, a timeline per\n"
      "recording (paired, duplicate, unpaired, damaged frames; segment breaks; windows), the\n"
      "residual of every pair with the gate, contact sheets of sampled windows and of the worst\n"
      "pairs (LR, HR, |LR-HR| amplified), and the accounting. It reads manifest.json, the\n"
      "shards and report.binpb (written by `framepair run`); without report.binpb the page has\n"
      "no timeline and no residuals. `framepair run` writes DIR/report.html itself.\n"
      "framepair report JOB -o FILE [--server ADDR] downloads the report the coordinator made\n"
      "for a job (datasets/<name>/reports/JOB.html; default FILE: JOB.html).\n\n"
      "Example: framepair report dataset/ -o /tmp/report.html\n"
      "         framepair report j0123456789ab -o job.html\n\nOptions");
  // clang-format off
  desc.add_options()
    ("output,o", po::value(&out), "the page to write (default DIR/report.html); the output format is set before the command: framepair -o json report DIR")
    ("windows", po::value(&options.sample_windows)->default_value(options.sample_windows), "windows in the contact sheet")
    ("seed", po::value(&seed), "which windows the sheet samples (default: the dataset's --seed)")
    ("worst", po::value(&options.worst_pairs)->default_value(options.worst_pairs), "pairs with the largest residual shown in a sheet of their own (0: none)")
    ("tile-width", po::value(&options.tile_width)->default_value(options.tile_width), "pixels per frame in the sheets (16-1024)");
  // clang-format on
  int code = 0;
  po::variables_map vm;
  if (!ParseDatasetArgs("report", args, desc, &dir, &code, &vm)) return code;
  if (vm.count("seed")) options.seed = seed;
  if (options.sample_windows < 0 || options.sample_windows > 1000 || options.worst_pairs < 0 ||
      options.worst_pairs > 1000 || options.tile_width < 16 || options.tile_width > 1024) {
    std::fprintf(stderr,
                 "framepair report: --windows and --worst must be 0..1000 and --tile-width "
                 "16..1024\n");
    return kExitBadInput;
  }
  if (out.empty()) out = dir + "/report.html";
  if (absl::Status s = WriteReport(dir, out, options); !s.ok()) {
    std::fprintf(stderr, "framepair report: %s\n", std::string(s.message()).c_str());
    return ExitCodeFor(s);
  }
  if (output == "json") {
    std::printf("{\"dir\": %s, \"report\": %s}\n", JsonString(dir).c_str(),
                JsonString(out).c_str());
  } else {
    std::printf("framepair report: %s\n", out.c_str());
  }
  return kExitOk;
}

int ExtractCommand(const std::vector<std::string>& args, const std::string& output) {
  std::string dir, out = "frames";
  std::vector<int64_t> examples;
  int random = 0;
  uint64_t seed = 0;
  po::options_description desc(
      "framepair extract DIR: write the PNGs of examples as files, named by example and\n"
      "source frame number (provenance), e.g. example3_lr_f001234.png and\n"
      "example3_hr_f001236.png: the way to look at raw shards. The PNG bytes are written as\n"
      "stored (no re-encoding). Examples are numbered 0.. across the shards in manifest order.\n\n"
      "Example: framepair extract dataset/ --example 3 --out frames/\n"
      "         framepair extract dataset/ --random 5 --seed 1\n\nOptions");
  // clang-format off
  desc.add_options()
    ("example", po::value(&examples)->composing(), "example number K (repeatable)")
    ("random", po::value(&random)->default_value(0), "also N examples drawn at random (seeded)")
    ("seed", po::value(&seed)->default_value(0), "seed of --random")
    ("out", po::value(&out)->default_value("frames"), "directory for the PNGs (created)");
  // clang-format on
  int code = 0;
  if (!ParseDatasetArgs("extract", args, desc, &dir, &code)) return code;
  absl::StatusOr<framepair::v1::Manifest> manifest = ReadManifest(dir);
  if (!manifest.ok()) {
    std::fprintf(stderr, "framepair extract: %s\n",
                 std::string(manifest.status().message()).c_str());
    return ExitCodeFor(manifest.status());
  }
  const int64_t total = manifest->total_examples();
  if (examples.empty() && random <= 0) {
    std::fprintf(stderr, "framepair extract: say which examples: --example K or --random N\n");
    return kExitBadInput;
  }
  std::set<int64_t> wanted;
  for (int64_t k : examples) {
    if (k < 0 || k >= total) {
      std::fprintf(stderr,
                   "framepair extract: --example %lld: the dataset has %lld example(s), "
                   "numbered 0 to %lld\n",
                   static_cast<long long>(k), static_cast<long long>(total),
                   static_cast<long long>(total - 1));
      return kExitBadInput;
    }
    wanted.insert(k);
  }
  if (random > 0) {
    std::mt19937_64 rng(seed);
    std::vector<int64_t> all(static_cast<size_t>(std::max<int64_t>(0, total)));
    for (int64_t i = 0; i < total; ++i) all[i] = i;
    std::shuffle(all.begin(), all.end(), rng);
    for (int i = 0; i < random && i < static_cast<int>(all.size()); ++i) wanted.insert(all[i]);
  }
  if (absl::Status s = EnsureWritableDirectory(out); !s.ok()) {
    std::fprintf(stderr, "framepair extract: %s\n", std::string(s.message()).c_str());
    return kExitBadInput;
  }
  std::vector<std::string> written;
  int64_t first = 0;  // global number of the shard's first example
  for (const auto& shard : manifest->shards()) {
    std::set<int64_t> local;
    for (int64_t k : wanted) {
      if (k >= first && k < first + shard.examples()) local.insert(k - first);
    }
    if (!local.empty()) {
      absl::Status read = ForEachShardExample(
          dir + "/" + shard.file(), local,
          [&](int64_t index, const framepair::v1::tf::Example& example) -> absl::Status {
            const auto& features = example.features().feature();
            for (const char* side : {"input", "target", "images"}) {
              auto images = features.find(side);
              if (images == features.end()) continue;
              auto frames = features.find(absl::StrCat(side, "_frame"));
              const char* role = std::string_view(side) == "input" ? "lr" : "hr";
              const auto& pngs = images->second.bytes_list().value();
              for (int i = 0; i < pngs.size(); ++i) {
                std::string name;
                if (frames != features.end() && i < frames->second.int64_list().value_size()) {
                  name = absl::StrCat(
                      "example", first + index, "_", role, "_f",
                      absl::Dec(frames->second.int64_list().value(i), absl::kZeroPad6), ".png");
                } else {
                  name = absl::StrCat("example", first + index, "_", role, "_", i, ".png");
                }
                const std::string path = out + "/" + name;
                FP_RETURN_IF_ERROR(WriteFileAtomically(path, pngs[i]));
                written.push_back(path);
              }
            }
            return absl::OkStatus();
          });
      if (!read.ok()) {
        std::fprintf(stderr, "framepair extract: %s\n", std::string(read.message()).c_str());
        return ExitCodeFor(read);
      }
    }
    first += shard.examples();
  }
  if (output == "json") {
    std::string list;
    for (const std::string& w : written) list += (list.empty() ? "" : ", ") + JsonString(w);
    std::printf("{\"dir\": %s, \"examples\": %zu, \"files\": [%s]}\n", JsonString(dir).c_str(),
                wanted.size(), list.c_str());
  } else {
    for (const std::string& w : written) std::printf("%s\n", w.c_str());
    std::fprintf(stderr, "framepair extract: %zu PNG(s) of %zu example(s) in %s\n", written.size(),
                 wanted.size(), out.c_str());
  }
  return kExitOk;
}

}  // namespace framepair::cli
