// framepair: turns LR/HR game-footage pairs into TFRecord training shards for JoshUpscale.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/commands.h"
#include "util/memory.h"

namespace {

constexpr char kUsage[] = R"(framepair - LR/HR footage pairs to TFRecord training shards

Usage: framepair [--server ADDR] [-o text|json] <command> [options]

In this process:
  run      The whole pipeline: dedup, align, scenes, windows, PNGs, TFRecord shards.
             framepair run --lr LR.mp4 --hr HR.mkv --out DIR
  verify   Check a dataset directory: manifest, shard checksums, TFRecord framing and CRCs,
           Example schema, PNG decoding, sizes and scale.   framepair verify DIR

Against framepair-coordinator (scripts/local-stack.sh up starts one on this machine):
  submit   Upload a footage pair and start a job (takes the `run` options).
             framepair submit --lr LR.mp4 --hr HR.mkv --dataset NAME [--watch]
  watch    Follow a job to its end, with progress per stage.   framepair watch JOB
  status   A job's state, tasks and result.                    framepair status JOB
  list     Jobs, newest first.                                 framepair list [--dataset NAME]
  cancel   Stop a job.                                         framepair cancel JOB
  jobs rm  Delete a finished job and its work files.           framepair jobs rm JOB
  health   Ask any framepair server whether it is SERVING.    framepair health --server ADDR

Global options (also accepted after the command):
  --server ADDR    coordinator address, host:port or dns:///name:port
                   (default: $FRAMEPAIR_SERVER, else 127.0.0.1:50051)
  -o text|json     output format of the remote commands (json: for scripts)
Environment: FRAMEPAIR_SERVER, FRAMEPAIR_TOKEN (sent as a bearer token),
  FRAMEPAIR_TLS_CA (CA bundle: use TLS to the coordinator), FRAMEPAIR_TLS_SERVER_NAME (the
  name to check in its certificate when connecting by IP or through a tunnel).

Run `framepair <command> --help` for the options of a command.

Exit codes:
  0    success
  1    the run or job failed (or was cancelled), or verify found defects
  2    bad arguments, unusable input files, or an unusable output directory
  3    internal or environment error (please report it)
  4    the coordinator could not be reached
  5    the coordinator refused the caller: missing or wrong FRAMEPAIR_TOKEN, or the
       token may not do this (another client's job)
  130  interrupted (Ctrl-C)
)";

}  // namespace

int main(int argc, char** argv) {
  namespace cli = framepair::cli;
  framepair::KeepLargeBlocksInHeap();
  std::vector<std::string> args(argv + 1, argv + argc);
  cli::RemoteOptions remote = cli::DefaultRemoteOptions();
  // Global options before the command.
  while (!args.empty() && (args[0] == "--server" || args[0] == "-o" || args[0] == "--output")) {
    if (args.size() < 2) {
      std::fprintf(stderr, "framepair: %s needs a value\n", args[0].c_str());
      return cli::kExitBadInput;
    }
    (args[0] == "--server" ? remote.server : remote.output) = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? cli::kExitBadInput : cli::kExitOk;
  }
  if (args[0] == "--version") {
    std::puts("framepair 0.1.0");
    return 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "run") return cli::RunCommand(args);
  if (command == "verify") return cli::VerifyCommand(args);
  if (command == "submit") return cli::SubmitCommand(args, remote);
  if (command == "watch") return cli::WatchCommand(args, remote);
  if (command == "status") return cli::StatusCommand(args, remote);
  if (command == "list") return cli::ListCommand(args, remote);
  if (command == "cancel") return cli::CancelCommand(args, remote);
  if (command == "jobs") return cli::JobsCommand(args, remote);
  if (command == "health") return cli::HealthCommand(args, remote);
  std::fprintf(stderr, "framepair: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return cli::kExitBadInput;
}
