#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "client/commands.h"
#include "pipeline/verify.h"

namespace framepair::cli {
namespace po = boost::program_options;

int VerifyCommand(const std::vector<std::string>& args) {
  std::string dir;
  VerifyOptions options;
  bool headers_only = false;
  po::options_description desc(
      "framepair verify DIR: read a dataset back as training would and report every defect\n"
      "(manifest, shard sizes and sha256, TFRecord framing and CRCs, Example schema, PNG\n"
      "decoding, image sizes and scale, example counts). Exit 0 if sound, 1 on any defect.\n\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("dir", po::value(&dir), "dataset directory (also accepted as the first argument)")
    ("no-decode", po::bool_switch(&headers_only), "skip decoding PNGs (faster; framing, CRCs, schema and checksums are still checked)")
    ("threads", po::value(&options.threads)->default_value(0), "decoder threads (0 = all cores)");
  // clang-format on
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "framepair verify: %s\n", e.what());
    return kExitBadInput;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  if (dir.empty()) {
    std::fprintf(stderr, "framepair verify: give the dataset directory: framepair verify DIR\n");
    return kExitBadInput;
  }
  options.decode_pngs = !headers_only;
  absl::StatusOr<VerifyReport> report = VerifyDataset(dir, options);
  if (!report.ok()) {
    std::fprintf(stderr, "framepair verify: %s\n", std::string(report.status().message()).c_str());
    return ExitCodeFor(report.status());
  }
  for (const std::string& w : report->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const std::string& d : report->defects) std::printf("DEFECT %s\n", d.c_str());
  std::printf("%s: %s: %lld shard(s), %lld example(s), %lld image(s)%s\n", dir.c_str(),
              report->ok() ? "OK" : "DEFECTIVE", static_cast<long long>(report->shards),
              static_cast<long long>(report->examples), static_cast<long long>(report->images),
              report->ok() ? "" : ", see DEFECT lines above");
  return report->ok() ? kExitOk : kExitFailed;
}

}  // namespace framepair::cli
