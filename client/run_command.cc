#include <unistd.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "client/commands.h"
#include "client/run_flags.h"
#include "client/terminal_progress.h"
#include "media/video.h"
#include "pipeline/accounting.h"
#include "pipeline/pipeline.h"
#include "services/common/grpc_status.h"
#include "util/memory.h"

namespace framepair::cli {
namespace po = boost::program_options;

namespace {

std::atomic<bool> g_cancel{false};
void OnInterrupt(int) { g_cancel.store(true); }

// Machine-readable summary for scripts and benchmarks (`--json`).
void PrintSummaryJson(const RunOptions& o, const RunSummary& s) {
  std::printf("{\n  \"out\": \"%s\",\n", o.out_dir.c_str());
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

void PrintSummary(const RunOptions& o, const RunSummary& s) {
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

int RunCommand(const std::vector<std::string>& args) {
  RunFlags flags;
  RunOptions& o = flags.options;
  bool quiet = false, json = false, verbose = false;
  po::options_description desc(
      "framepair run: the whole pipeline for one footage pair, in this process.\n"
      "Reads LR and HR recordings of the same gameplay, removes duplicate frames, aligns\n"
      "the recordings, detects scenes, samples windows of consecutive frames and writes\n"
      "TFRecord shards plus manifest.json into --out. Progress goes to stderr, the summary\n"
      "to stdout.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("lr", po::value(&o.lr_path), "LR (native resolution) recording: a video file, a directory of PNGs, or a pattern like dir/%05d.png")
    ("hr", po::value(&o.hr_path), "HR (scale x) recording of the same gameplay")
    ("out", po::value(&o.out_dir), "output dataset directory (created; a previous dataset there is replaced only when this run succeeds). While the run lasts it also holds the analysis thumbnails in an unnamed file: about 7 KB per distinct frame and video, ~1.5 GB per video for an hour at 60 fps");
  AddDatasetFlags(desc, &flags);
  desc.add_options()
    ("threads", po::value(&o.threads)->default_value(0), "worker threads (0 = all cores)")
    ("max-frame-pixels", po::value(&o.ingest.decoder.max_frame_pixels)->default_value(o.ingest.decoder.max_frame_pixels), "refuse inputs whose frames have more pixels (width x height) than this; the default fits 4K (3840x2160) with 10% to spare")
    ("quiet,q", po::bool_switch(&quiet), "no progress output")
    ("json", po::bool_switch(&json), "print the summary as JSON (for scripts)")
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

  SetFfmpegLogQuiet(!verbose);
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  TerminalProgress progress(isatty(STDERR_FILENO) != 0);
  absl::StatusOr<RunSummary> summary = RunPipeline(o, quiet ? nullptr : &progress, &g_cancel);
  if (!summary.ok()) {
    std::fprintf(stderr, "\nframepair run: error: %s\n",
                 std::string(summary.status().message()).c_str());
    return ExitCodeFor(summary.status());
  }
  // Warnings go to stderr whatever the output format; the manifest records them too.
  for (const std::string& w : summary->accounting.warnings()) {
    std::fprintf(stderr, "framepair run: warning: %s\n", w.c_str());
  }
  if (json) {
    PrintSummaryJson(o, *summary);
  } else {
    PrintSummary(o, *summary);
  }
  return kExitOk;
}

}  // namespace framepair::cli
