// framepair: turns LR/HR game-footage pairs into TFRecord training shards for JoshUpscale.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/commands.h"

namespace {

constexpr char kUsage[] = R"(framepair - LR/HR footage pairs to TFRecord training shards

Usage: framepair <command> [options]

Commands:
  run      Run the whole pipeline in this process: dedup, align, scenes, windows, PNGs,
           TFRecord shards.   framepair run --lr LR.mp4 --hr HR.mkv --out DIR
  verify   Check a dataset directory: manifest, shard checksums, TFRecord framing and CRCs,
           Example schema, PNG decoding, sizes and scale.   framepair verify DIR

Run `framepair <command> --help` for the options of a command.

Exit codes:
  0  success
  1  the run failed, or verify found defects
  2  bad arguments, unusable input files, or an unusable output directory
  3  internal or environment error (please report it)
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? framepair::cli::kExitBadInput : framepair::cli::kExitOk;
  }
  if (args[0] == "--version") {
    std::puts("framepair 0.1.0");
    return 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "run") return framepair::cli::RunCommand(args);
  if (command == "verify") return framepair::cli::VerifyCommand(args);
  std::fprintf(stderr, "framepair: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return framepair::cli::kExitBadInput;
}
