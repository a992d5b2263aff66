#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "client/commands.h"
#include "client/dataset_args.h"
#include "pipeline/verify.h"

namespace framepair::cli {
namespace po = boost::program_options;

int VerifyCommand(const std::vector<std::string>& args, const std::string& output) {
  std::string dir;
  VerifyOptions options;
  bool headers_only = false;
  po::options_description desc(
      "framepair verify DIR: read a dataset back as training would and report every defect\n"
      "(manifest, shard sizes and sha256, TFRecord framing and CRCs, Example schema, PNG\n"
      "decoding, image sizes and scale, example counts) and the report sidecar (report.binpb)\n"
      "if present. Exit 0 if sound, 1 on any defect.\n\n"
      "Example: framepair verify dataset/      (framepair -o json verify dataset/ for scripts)\n\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("no-decode", po::bool_switch(&headers_only), "skip decoding PNGs (faster; framing, CRCs, schema and checksums are still checked)")
    ("threads", po::value(&options.threads)->default_value(0), "decoder threads (0 = all cores)")
    ("output,o", po::value<std::string>(), "text (default) or json")
    ("json", "the same as -o json");
  // clang-format on
  int code = 0;
  if (!ParseDatasetArgs("verify", args, desc, &dir, &code, nullptr, /*object_urls=*/true)) {
    return code;
  }
  options.decode_pngs = !headers_only;
  absl::StatusOr<VerifyReport> report = VerifyDataset(dir, options);
  if (!report.ok()) {
    std::fprintf(stderr, "framepair verify: %s\n", std::string(report.status().message()).c_str());
    return ExitCodeFor(report.status());
  }
  if (output == "json") {
    auto list = [](const std::vector<std::string>& items) {
      std::string out = "[";
      for (size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + JsonString(items[i]);
      }
      return out + "]";
    };
    std::printf(
        "{\n  \"dir\": %s,\n  \"ok\": %s,\n  \"shards\": %lld,\n  \"examples\": %lld,\n"
        "  \"images\": %lld,\n  \"defects\": %s,\n  \"warnings\": %s\n}\n",
        JsonString(dir).c_str(), report->ok() ? "true" : "false",
        static_cast<long long>(report->shards), static_cast<long long>(report->examples),
        static_cast<long long>(report->images), list(report->defects).c_str(),
        list(report->warnings).c_str());
    return report->ok() ? kExitOk : kExitFailed;
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
