// framepair: turns LR/HR game-footage pairs into TFRecord training shards for JoshUpscale.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/commands.h"
#include "util/memory.h"
#include "util/quote.h"
#include "util/version.h"

namespace {

namespace cli = framepair::cli;

constexpr char kUsage[] = R"(framepair - LR/HR footage pairs to TFRecord training shards

Usage: framepair [--server ADDR] [-o text|json] <command> [options]
       framepair help <command>      the options of a command (= framepair <command> --help)

In this process:
  run      The whole pipeline: dedup, align, scenes, windows, PNGs, TFRecord shards, and
           report.html beside them.     framepair run --lr LR.mp4 --hr HR.mkv --out DIR
  verify   Check a dataset directory: manifest, shard checksums, TFRecord framing and CRCs,
           Example schema, PNG decoding, sizes and scale.   framepair verify DIR
  report   (Re)make a dataset's report page (self-contained HTML: inputs, timelines,
           residuals, contact sheets, accounting).   framepair report DIR -o report.html
           (framepair report JOB -o FILE: a job's report, from the coordinator)
  extract  Write the PNGs of examples, named by source frame, to look at raw shards.
             framepair extract DIR --example 3 --out frames/

Against framepair-coordinator (scripts/local-stack.sh up starts one on this machine):
  submit   Check the pair locally, upload it and start a job (takes the `run` options).
             framepair submit --lr LR.mp4 --hr HR.mkv --dataset NAME [--watch]
  watch    Follow a job to its end, with progress per stage.   framepair watch JOB
  status   A job's state, tasks and result.                    framepair status JOB
  list     Jobs, newest first.                                 framepair list [--dataset NAME]
  cancel   Stop a job.                                         framepair cancel JOB
  jobs rm  Delete a finished job and its work files.           framepair jobs rm JOB
  fetch    Download a published dataset (or one job's part) over gRPC, checked, resumable.
             framepair fetch DATASET --to DIR    framepair fetch JOB --to DIR
  datasets The published datasets and their jobs; `datasets rm` removes one or a job's part.
             framepair datasets    framepair datasets rm DATASET [--job JOB]
  health   Ask any framepair server whether it is SERVING.    framepair health --server ADDR

Other:
  completion bash   A bash completion script: source <(framepair completion bash)
  --version         The version.

Global options (also accepted after the command name):
  --server ADDR    coordinator address, host:port or dns:///name:port
                   (default: $FRAMEPAIR_SERVER, else 127.0.0.1:50051)
  -o text|json     output format of every command (json: for scripts; `watch -o json`
                   prints JSON Lines). `--json` is the same as `-o json`. For `report`,
                   -o after the command name is the output file.
Environment: FRAMEPAIR_SERVER, FRAMEPAIR_TOKEN (sent as a bearer token),
  FRAMEPAIR_TLS_CA (CA bundle: use TLS to the coordinator), FRAMEPAIR_TLS_SERVER_NAME (the
  name to check in its certificate when connecting by IP or through a tunnel),
  FRAMEPAIR_TLS_CERT and FRAMEPAIR_TLS_KEY (client certificate and key, for mutual TLS).

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

// Every command with a handler; `help`, `completion` and the usage list come from here.
struct Command {
  const char* name;
  int (*local)(const std::vector<std::string>&, const std::string& output);
  int (*remote)(const std::vector<std::string>&, cli::RemoteOptions);
  // Local, or remote depending on its argument (`report DIR` / `report JOB`).
  int (*either)(const std::vector<std::string>&, const std::string& output,
                cli::RemoteOptions) = nullptr;
};
constexpr Command kCommands[] = {
    {"run", cli::RunCommand, nullptr},
    {"verify", cli::VerifyCommand, nullptr},
    {"report", nullptr, nullptr, cli::ReportCommand},
    {"extract", cli::ExtractCommand, nullptr},
    {"submit", nullptr, cli::SubmitCommand},
    {"watch", nullptr, cli::WatchCommand},
    {"status", nullptr, cli::StatusCommand},
    {"list", nullptr, cli::ListCommand},
    {"cancel", nullptr, cli::CancelCommand},
    {"jobs", nullptr, cli::JobsCommand},
    {"health", nullptr, cli::HealthCommand},
    {"fetch", nullptr, cli::FetchCommand},
    {"datasets", nullptr, cli::DatasetsCommand},
};

const Command* Find(const std::string& name) {
  for (const Command& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

// Flags are completed from the command's own --help, so the script never goes stale.
std::string BashCompletion() {
  std::string names;
  for (const Command& c : kCommands) names += std::string(names.empty() ? "" : " ") + c.name;
  return R"(# bash completion for framepair: source <(framepair completion bash)
_framepair() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --server|-o|--output) ((i++)) ;;
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W ")" +
         names +
         R"( help completion --version --help --server -o --json" -- "$cur"))
    return
  fi
  case $cmd in
    help) COMPREPLY=($(compgen -W ")" +
         names + R"(" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")) ;;
    *)
      if [[ $cur == -* ]]; then
        local flags
        flags=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
        COMPREPLY=($(compgen -W "$flags -o --json" -- "$cur"))
      else
        COMPREPLY=($(compgen -f -- "$cur"))
      fi ;;
  esac
}
complete -o filenames -F _framepair framepair
)";
}

bool ValidOutput(const std::string& o) { return o == "text" || o == "json"; }

}  // namespace

int main(int argc, char** argv) {
  framepair::KeepLargeBlocksInHeap();
  std::vector<std::string> args(argv + 1, argv + argc);
  cli::RemoteOptions remote = cli::DefaultRemoteOptions();
  // Global options before the command.
  while (!args.empty()) {
    const std::string& a = args[0];
    if (a == "--json") {
      remote.output = "json";
      args.erase(args.begin());
      continue;
    }
    if (a.rfind("--output=", 0) == 0 || a.rfind("--server=", 0) == 0) {
      const size_t eq = a.find('=');
      (a[2] == 's' ? remote.server : remote.output) = a.substr(eq + 1);
      args.erase(args.begin());
      continue;
    }
    if (a != "--server" && a != "-o" && a != "--output") break;
    if (args.size() < 2) {
      std::fprintf(stderr, "framepair: %s needs a value\n", a.c_str());
      return cli::kExitBadInput;
    }
    (a == "--server" ? remote.server : remote.output) = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (!ValidOutput(remote.output)) {
    std::fprintf(stderr, "framepair: -o must be text or json, not %s\n",
                 framepair::QuoteUserText(remote.output).c_str());
    return cli::kExitBadInput;
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? cli::kExitBadInput : cli::kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("framepair %s\n", framepair::kFramepairVersion);
    return cli::kExitOk;
  }
  if (args[0] == "help") {
    if (args.size() < 2) {
      std::fputs(kUsage, stdout);
      return cli::kExitOk;
    }
    if (Find(args[1]) == nullptr) {
      std::fprintf(stderr, "framepair help: no command %s; the commands are:\n\n%s",
                   framepair::QuoteUserText(args[1]).c_str(), kUsage);
      return cli::kExitBadInput;
    }
    args = {args[1], "--help"};
  }
  if (args[0] == "completion") {
    if (args.size() != 2 || args[1] != "bash") {
      std::fprintf(stderr,
                   "framepair completion: usage: framepair completion bash\n"
                   "  (then: source <(framepair completion bash), or save it under\n"
                   "  /etc/bash_completion.d/framepair)\n");
      return cli::kExitBadInput;
    }
    std::fputs(BashCompletion().c_str(), stdout);
    return cli::kExitOk;
  }
  const Command* command = Find(args[0]);
  if (command == nullptr) {
    std::fprintf(stderr, "framepair: unknown command %s\n\n%s",
                 framepair::QuoteUserText(args[0]).c_str(), kUsage);
    return cli::kExitBadInput;
  }
  args.erase(args.begin());
  if (command->remote != nullptr) {
    // The remote commands parse -o / --server after the name themselves; --json is -o json.
    for (std::string& a : args) {
      if (a == "--json") a = "--output=json";
    }
    return command->remote(args, remote);
  }
  // Local commands: -o / --output / --json after the name set the format too (except
  // `report`, whose -o names the page it writes).
  std::string output = remote.output;
  const bool o_is_file = std::strcmp(command->name, "report") == 0;
  for (size_t i = 0; i < args.size();) {
    const std::string& a = args[i];
    if (a == "--json") {
      output = "json";
    } else if (a.rfind("--output=", 0) == 0 && !o_is_file) {
      output = a.substr(9);
    } else if ((a == "-o" || a == "--output") && !o_is_file) {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "framepair %s: %s needs a value: text or json\n", command->name,
                     a.c_str());
        return cli::kExitBadInput;
      }
      output = args[i + 1];
      args.erase(args.begin() + i, args.begin() + i + 2);
      continue;
    } else {
      ++i;
      continue;
    }
    args.erase(args.begin() + i);
  }
  if (!ValidOutput(output)) {
    std::fprintf(stderr, "framepair %s: -o must be text or json, not %s\n", command->name,
                 framepair::QuoteUserText(output).c_str());
    return cli::kExitBadInput;
  }
  if (command->either != nullptr) return command->either(args, output, remote);
  return command->local(args, output);
}
