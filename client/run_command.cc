#include <unistd.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/pair_check.h"
#include "client/run_flags.h"
#include "client/terminal_progress.h"
#include "dataset/dataset.h"
#include "media/video.h"
#include "pipeline/accounting.h"
#include "pipeline/parameters.h"
#include "pipeline/pipeline.h"
#include "pipeline/sidecar.h"
#include "report/report.h"
#include "services/common/grpc_status.h"
#include "storage/object_store.h"
#include "util/memory.h"
#include "util/quote.h"

namespace framepair::cli {
namespace po = boost::program_options;

namespace {

std::atomic<bool> g_cancel{false};
void OnInterrupt(int) { g_cancel.store(true); }

// Machine-readable summary for scripts and benchmarks (`--json`).
void PrintSummaryJson(const RunOptions& o, const RunSummary& s, const std::string& report) {
  std::printf("{\n  \"out\": %s,\n", JsonString(o.out_dir).c_str());
  std::printf("  \"report\": %s,\n", report.empty() ? "null" : JsonString(report).c_str());
  auto field = [](const char* name, long long v) { std::printf("  \"%s\": %lld,\n", name, v); };
  field("lr_frames_decoded", s.lr_frames_decoded);
  field("hr_frames_decoded", s.hr_frames_decoded);
  field("lr_duplicates", s.lr_duplicates);
  field("hr_duplicates", s.hr_duplicates);
  field("corrupt_frames", s.corrupt_frames);
  field("pairs_aligned", s.pairs_aligned);
  field("pairs_rejected", s.pairs_rejected);
  field("scenes", s.scenes);
  field("windows", s.windows);
  field("shards", s.shards);
  field("bytes", s.bytes);
  field("distinct_lr_frames", s.pack.distinct_lr_frames);
  field("distinct_hr_frames", s.pack.distinct_hr_frames);
  field("pngs_encoded", s.pack.pngs_encoded);
  field("pack_frames_decoded", s.pack.frames_decoded);
  field("pack_seeks", s.pack.seeks);
  field("pack_frames_needed", s.pack.frames_needed);
  field("pack_frames_decoded_minimum", s.pack.frames_decoded_minimum);
  field("pack_png_bytes", s.pack.png_bytes);
  field("peak_rss_bytes", PeakRssBytes());
  std::string accounting = Json(s.accounting);
  while (!accounting.empty() && accounting.back() == '\n') accounting.pop_back();
  std::printf("  \"accounting\": %s,\n", accounting.c_str());
  std::printf("  \"seconds\": {");
  for (size_t i = 0; i < s.stages.size(); ++i) {
    std::printf("%s\"%s\": %.4f", i ? ", " : "", s.stages[i].stage.c_str(), s.stages[i].seconds);
  }
  // Peak memory by the end of each stage (cumulative): what a worker of that kind needs.
  std::printf("},\n  \"peak_rss_bytes_after\": {");
  for (size_t i = 0; i < s.stages.size(); ++i) {
    std::printf("%s\"%s\": %lld", i ? ", " : "", s.stages[i].stage.c_str(),
                static_cast<long long>(s.stages[i].peak_rss_bytes));
  }
  std::printf("}\n}\n");
}

void PrintSummary(const RunOptions& o, const RunSummary& s, const std::string& report) {
  auto mb = [](int64_t b) { return static_cast<double>(b) / (1 << 20); };
  std::printf("framepair run: dataset written to %s\n", o.out_dir.c_str());
  if (o.pack.hr_only) {
    std::printf("  frames decoded      HR %lld\n", static_cast<long long>(s.hr_frames_decoded));
    std::printf("  duplicates removed  HR %lld\n", static_cast<long long>(s.hr_duplicates));
  } else {
    std::printf("  frames decoded      LR %lld, HR %lld\n",
                static_cast<long long>(s.lr_frames_decoded),
                static_cast<long long>(s.hr_frames_decoded));
    std::printf("  duplicates removed  LR %lld, HR %lld\n", static_cast<long long>(s.lr_duplicates),
                static_cast<long long>(s.hr_duplicates));
  }
  if (s.corrupt_frames > 0) {
    std::printf("  damaged frames      %lld skipped:\n", static_cast<long long>(s.corrupt_frames));
    for (const std::string& d : s.damaged) std::printf("    %s\n", d.c_str());
  }
  const framepair::v1::Accounting& a = s.accounting;
  for (const auto& r : a.recordings()) {
    std::printf("  %s distinct frames  %lld: %lld paired, %lld unpaired\n",
                r.role() == "lr" ? "LR" : "HR", static_cast<long long>(r.distinct()),
                static_cast<long long>(r.paired()), static_cast<long long>(r.unpaired()));
    for (const auto& range : r.longest_unpaired()) {
      std::printf("      unpaired %lld: %s\n", static_cast<long long>(range.frames()),
                  DescribeRange(range).c_str());
    }
  }
  std::printf(
      "  pairs aligned       %lld (rejected %lld: spike %lld, residual %lld, ambiguous %lld)\n",
      static_cast<long long>(s.pairs_aligned), static_cast<long long>(s.pairs_rejected),
      static_cast<long long>(a.rejected_spike()), static_cast<long long>(a.rejected_residual()),
      static_cast<long long>(a.rejected_ambiguous()));
  if (a.reanchors() > 0) {
    std::printf("  re-anchored         %lld time(s) after gaps\n",
                static_cast<long long>(a.reanchors()));
  }
  std::printf("  scenes              %lld\n", static_cast<long long>(s.scenes));
  std::printf(
      "  segment breaks      %lld lost moments, %lld stalls (windows skip at most %d LR / %d HR "
      "moment(s) only one side shows)\n",
      static_cast<long long>(a.breaks_lost_moment()), static_cast<long long>(a.breaks_stall()),
      a.max_jump_lr(), a.max_jump_hr());
  std::printf("  windows             %lld of %lld requested, in %lld shard(s), %.1f MiB\n",
              static_cast<long long>(s.windows), static_cast<long long>(a.windows_requested()),
              static_cast<long long>(s.shards), mb(s.bytes));
  if (a.has_validation()) {
    std::printf(
        "  validation          %lld windows from %d held-out scene(s) of %lld "
        "(validate.tfrecord)\n",
        static_cast<long long>(a.validation().windows_written()), a.validation().held_out_size(),
        static_cast<long long>(a.validation().scenes()));
  }
  std::printf("  PNGs encoded        %lld for %lld distinct LR + %lld distinct HR frames\n",
              static_cast<long long>(s.pack.pngs_encoded),
              static_cast<long long>(s.pack.distinct_lr_frames),
              static_cast<long long>(s.pack.distinct_hr_frames));
  std::printf("  seconds            ");
  for (const StageTime& t : s.stages) std::printf(" %s %.2f", t.stage.c_str(), t.seconds);
  std::printf("\n  peak memory         %.0f MiB\n", mb(PeakRssBytes()));
  std::printf("  manifest            %s\n", s.manifest_path.c_str());
  if (!report.empty()) std::printf("  report              %s\n", report.c_str());
}

// An --out that holds files framepair did not write is probably a mistake (a home directory,
// a footage folder): refused unless --force. framepair's own files are the manifest, shards,
// the report and its data, and staging/temporary names.
absl::Status CheckOutputDirectory(const std::string& dir, bool force) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return absl::OkStatus();
  // A manifest that names files outside the directory is the graver problem, --force or not.
  if (absl::Status m = ReadManifest(dir).status(); absl::IsInvalidArgument(m)) return m;
  if (force) return absl::OkStatus();
  std::vector<std::string> foreign;
  int64_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name == "manifest.json" || name == kReportPageName ||
                      name == kReportSidecarName || IsShardFileName(name) ||
                      absl::StartsWith(name, ".framepair-staging-") ||
                      absl::StrContains(name, ".tmp-");
    if (ours) continue;
    if (foreign.size() < 3) foreign.push_back(QuoteUserText(name, 80));
    ++count;
  }
  if (count == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--out ", QuoteUserText(dir, 1024), " holds ", count, " file(s) framepair did not write (",
      absl::StrJoin(foreign, ", "), count > 3 ? ", ..." : "",
      "): choose a new or empty directory, or pass --force to write there anyway (those files "
      "are left alone)"));
}

}  // namespace

int ExitCodeFor(const absl::Status& status, bool from_server) {
  switch (ClassifyError(status.code())) {
    case ErrorClass::kOk:
      return kExitOk;
    case ErrorClass::kBadInput:
      return kExitBadInput;
    case ErrorClass::kDenied:
      return from_server ? kExitDenied : kExitBadInput;
    case ErrorClass::kUnavailable:
      return from_server ? kExitUnavailable : kExitInternal;
    case ErrorClass::kCancelled:
      return kExitCancelled;
    case ErrorClass::kIncompatible:
    case ErrorClass::kBusy:
    case ErrorClass::kInternal:
      return kExitInternal;
  }
  return kExitInternal;
}

int RunCommand(const std::vector<std::string>& args, const std::string& output) {
  RunFlags flags;
  RunOptions& o = flags.options;
  bool quiet = false, verbose = false, no_report = false, force = false;
  std::string progress_mode = "auto", ignored_output;
  po::options_description desc(
      "framepair run: the whole pipeline for one footage pair, in this process.\n"
      "Reads LR and HR recordings of the same gameplay, removes duplicate frames, aligns\n"
      "the recordings, detects scenes, samples windows of consecutive frames and writes\n"
      "TFRecord shards, manifest.json, report.binpb (the report's data) and report.html into\n"
      "--out. Progress goes to stderr, the summary to stdout.\n\n"
      "Example: framepair run --lr lr.mp4 --hr hr.mkv --out dataset/ --windows 3000 --shards 16\n\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("lr", po::value(&o.lr_path), "LR (native resolution) recording: a video file, a directory of PNGs, or a pattern like dir/%05d.png")
    ("hr", po::value(&o.hr_path), "HR (scale x) recording of the same gameplay")
    ("out", po::value(&o.out_dir), "output dataset directory: new, empty, or one framepair wrote (a previous dataset there is replaced only when this run succeeds). While the run lasts it also holds the analysis thumbnails in an unnamed file: about 7 KB per distinct frame and video, ~1.5 GB per video for an hour at 60 fps")
    ("force", po::bool_switch(&force), "write into an --out that holds files framepair did not write (they are left alone)")
    ("no-report", po::bool_switch(&no_report), "do not write report.html (framepair report DIR makes it later)");
  AddDatasetFlags(desc, &flags);
  desc.add_options()
    ("threads", po::value(&o.threads)->default_value(0), "worker threads (0 = all cores)")
    ("max-frame-pixels", po::value(&o.ingest.decoder.max_frame_pixels)->default_value(o.ingest.decoder.max_frame_pixels), "refuse inputs whose frames have more pixels (width x height) than this; the default fits 4K (3840x2160) with 10% to spare")
    ("progress", po::value(&progress_mode)->default_value("auto"), "auto (a redrawn line on a terminal, else a line every 10 s), tty, plain, json (JSON Lines) or none")
    ("quiet,q", po::bool_switch(&quiet), "no progress output (--progress none)")
    ("output,o", po::value(&ignored_output), "text (default) or json: the summary's format")
    ("json", "the same as -o json")
    ("verbose,v", po::bool_switch(&verbose), "also show FFmpeg's warnings about the inputs");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "framepair run: %s\nRun `framepair run --help` for the options.\n",
                 e.what());
    return kExitBadInput;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  auto usage_error = [](const std::string& msg) {
    std::fprintf(stderr, "framepair run: %s\nRun `framepair run --help` for the options.\n",
                 msg.c_str());
    return kExitBadInput;
  };
  if (absl::Status s = ApplyDatasetFlags(&flags); !s.ok()) {
    return usage_error(std::string(s.message()));
  }
  const bool hr_only = flags.hr_only;
  if (o.hr_path.empty()) return usage_error("--hr is required");
  if (o.lr_path.empty() && !hr_only) return usage_error("--lr is required (or pass --hr-only)");
  if (!o.lr_path.empty() && hr_only) return usage_error("--hr-only takes no --lr");
  if (o.out_dir.empty()) return usage_error("--out is required");
  if (quiet) progress_mode = "none";
  std::optional<ProgressMode> mode;
  if (progress_mode == "auto") {
    mode = isatty(STDERR_FILENO) != 0 ? ProgressMode::kTerminal : ProgressMode::kLines;
  } else if (progress_mode == "tty") {
    mode = ProgressMode::kTerminal;
  } else if (progress_mode == "plain") {
    mode = ProgressMode::kLines;
  } else if (progress_mode == "json") {
    mode = ProgressMode::kJson;
  } else if (progress_mode != "none") {
    return usage_error("--progress must be auto, tty, plain, json or none, not " +
                       QuoteUserText(progress_mode));
  }
  if (absl::Status s = CheckOutputDirectory(o.out_dir, force); !s.ok()) {
    return usage_error(std::string(s.message()));
  }
  {
    RunOptions checked = o;
    if (absl::Status s = NormalizeRunOptions(&checked); !s.ok()) {
      return usage_error(std::string(s.message()));
    }
  }
  SetFfmpegLogQuiet(!verbose);
  // The headers first (milliseconds): a swapped or mis-scaled pair fails before any decoding.
  if (absl::Status s = CheckPairLocally(hr_only ? "" : o.lr_path, o.hr_path, o.scale,
                                        o.ingest.decoder.max_frame_pixels);
      !s.ok()) {
    std::fprintf(stderr, "framepair run: error: %s\n", std::string(s.message()).c_str());
    return ExitCodeFor(s);
  }
  std::error_code ec;
  // An object URL is no local path: nothing to check or clean up here (the bucket never sees
  // a partial dataset, store_publish.h).
  const bool object_store = IsObjectUrl(o.out_dir);
  const bool out_existed = object_store || std::filesystem::exists(o.out_dir, ec);
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  std::optional<TerminalProgress> progress;
  if (mode) progress.emplace(*mode);
  // The report is made where the dataset was just completed, so that an object-store run
  // uploads it with the shards.
  std::string report_path = absl::StrCat(o.out_dir, "/", kReportPageName);
  absl::Status report_status;
  auto write_report = [&](const std::string& local_dir) {
    const std::string local_page = absl::StrCat(local_dir, "/", kReportPageName);
    std::error_code remove_ec;
    if (no_report) {
      // One left from an earlier run would describe another dataset.
      std::filesystem::remove(local_page, remove_ec);
    } else {
      report_status = WriteReport(local_dir, local_page, ReportOptions{});
    }
  };
  absl::StatusOr<RunSummary> summary =
      RunPipeline(o, progress ? &*progress : nullptr, &g_cancel, write_report);
  if (progress) progress->Finish();
  if (!summary.ok()) {
    // A directory this run created holds nothing of value after a failure.
    if (!out_existed) std::filesystem::remove_all(o.out_dir, ec);
    std::fprintf(stderr, "framepair run: error: %s\n",
                 std::string(summary.status().message()).c_str());
    return ExitCodeFor(summary.status());
  }
  if (no_report) {
    report_path.clear();
  } else if (!report_status.ok()) {
    std::fprintf(stderr,
                 "framepair run: warning: the dataset is complete but %s could not be "
                 "written: %s (try `framepair report %s`)\n",
                 report_path.c_str(), std::string(report_status.message()).c_str(),
                 o.out_dir.c_str());
    report_path.clear();
  }
  // Warnings go to stderr whatever the output format; the manifest records them too.
  for (const std::string& w : summary->accounting.warnings()) {
    std::fprintf(stderr, "framepair run: warning: %s\n", w.c_str());
  }
  if (output == "json") {
    PrintSummaryJson(o, *summary, report_path);
  } else {
    PrintSummary(o, *summary, report_path);
  }
  return kExitOk;
}

}  // namespace framepair::cli
