// The `framepair` binary as a user meets it (issue 10): progress on a pseudo-terminal (script
// from util-linux) with nothing stale before the summary; one output convention (-o json
// before or after the command, --json); help, completion and --version; an --out holding
// foreign files; a failed argument check leaving no directory; the local pair checks that
// name the flag to change; report and extract on a real run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "support/footage.h"
#include "support/process.h"
#include "support/terminal_screen.h"

namespace framepair::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int kBadInput = 2;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Made once per machine and shared by every test process: read, never change.
    absl::StatusOr<std::string> inputs = footage::CachedFfmpegOutputs(
        "cli-test", {{"-f", "lavfi", "-i", "testsrc2=size=640x384:rate=30", "-frames:v", "90",
                      "-c:v", "ffv1", "{dir}/hr.mkv"},
                     {"-i", "{dir}/hr.mkv", "-vf", "scale=160:96:flags=area", "-c:v", "libx264",
                      "-crf", "18", "-pix_fmt", "yuv420p", "{dir}/lr.mp4"},
                     {"-i", "{dir}/hr.mkv", "-vf", "scale=320:192:flags=area", "-c:v", "ffv1",
                      "{dir}/hr_2x.mkv"}});
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    inputs_ = new fs::path(*inputs);
    dir_ = new fs::path(fs::temp_directory_path() / ("framepair-cli-" + std::to_string(getpid())));
    fs::create_directories(*dir_);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete inputs_;
  }
  // A file of this process's directory; Input: a shared video.
  static std::string Path(const std::string& name) { return (*dir_ / name).string(); }
  static std::string Input(const std::string& name) { return (*inputs_ / name).string(); }
  static std::string Binary() { return BuiltBinary("client/framepair"); }
  static ProcessResult Framepair(std::vector<std::string> args) {
    args.insert(args.begin(), Binary());
    return RunProcess(args, 120);
  }
  static std::vector<std::string> RunArgs(const std::string& out) {
    return {"run",   "--lr", Input("lr.mp4"), "--hr", Input("hr.mkv"),
            "--out", out,    "--windows",     "4"};
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static fs::path* dir_;
  static fs::path* inputs_;
};
fs::path* CliTest::dir_ = nullptr;
fs::path* CliTest::inputs_ = nullptr;

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST_F(CliTest, ProgressOnATerminalLeavesNothingStaleBeforeTheSummary) {
  std::string command;
  for (const std::string& a : RunArgs(Path("tty_out"))) command += " " + ShellQuote(a);
  // script(1) gives framepair a pseudo-terminal on stdin, stdout and stderr.
  ProcessResult r = RunProcess({"script", "-qfec", ShellQuote(Binary()) + command, "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\033[K"));  // it did draw a status line
  const std::vector<std::string> screen = TerminalScreen(r.out);
  bool summary = false;
  for (const std::string& line : screen) {
    if (line.find("dataset written to") != std::string::npos) {
      EXPECT_THAT(line, StartsWith("framepair run: dataset written to")) << "stale text in front";
      summary = true;
    }
    // No status line survives: they all end in an elapsed time or an ETA, and start with a
    // stage name (the old stray was "[ingest 0]").
    EXPECT_THAT(line, Not(HasSubstr("ETA"))) << "stale status line";
    EXPECT_THAT(line, Not(StartsWith("ingest"))) << "stale status line";
    EXPECT_THAT(line, Not(HasSubstr("[ingest")));
    EXPECT_THAT(line, Not(HasSubstr("90/90"))) << "a finished stage's status stayed";
  }
  EXPECT_TRUE(summary) << r.out;
  EXPECT_THAT(r.out, HasSubstr("framepair: pack done in"));
  EXPECT_THAT(r.out, HasSubstr("report              " + Path("tty_out") + "/report.html"));
}

TEST_F(CliTest, ProgressOffATerminalIsLinesOrJson) {
  std::vector<std::string> args = RunArgs(Path("json_progress"));
  args.insert(args.end(), {"--progress", "json"});
  ProcessResult r = Framepair(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr(R"({"event": "started", "stage": "ingest"})"));
  EXPECT_THAT(r.err, HasSubstr(R"({"event": "done", "stage": "pack", "seconds": )"));
  EXPECT_THAT(r.err, Not(HasSubstr("\r")));
  ProcessResult plain = Framepair(RunArgs(Path("plain_progress")));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.err, HasSubstr("framepair: ingest started\n"));
  EXPECT_THAT(plain.err, Not(HasSubstr("\033[K")));
}

TEST_F(CliTest, OutputFormatBeforeOrAfterTheCommand) {
  for (std::vector<std::string> prefix :
       {std::vector<std::string>{"-o", "json"}, std::vector<std::string>{"--json"}}) {
    std::vector<std::string> args = prefix;
    for (const std::string& a : RunArgs(Path("json_before"))) args.push_back(a);
    args.push_back("--quiet");
    ProcessResult r = Framepair(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, StartsWith("{\n  \"out\": "));
    EXPECT_THAT(r.out, HasSubstr("\"report\": \"" + Path("json_before") + "/report.html\""));
  }
  std::vector<std::string> after = RunArgs(Path("json_after"));
  after.insert(after.end(), {"--quiet", "-o", "json"});
  ProcessResult r = Framepair(after);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("{"));
  EXPECT_THAT(r.out, HasSubstr("\"frames_decoded\": 90"));  // 64-bit counts are numbers
  for (std::vector<std::string> verify :
       {std::vector<std::string>{"verify", Path("json_after"), "-o", "json"},
        std::vector<std::string>{"-o", "json", "verify", Path("json_after")},
        std::vector<std::string>{"verify", "--json", Path("json_after")}}) {
    ProcessResult v = Framepair(verify);
    EXPECT_EQ(v.exit_code, 0) << v.err;
    EXPECT_THAT(v.out, HasSubstr("\"ok\": true"));
    EXPECT_THAT(v.out, HasSubstr("\"examples\": 4"));
  }
  ProcessResult bad = Framepair({"verify", Path("json_after"), "-o", "yaml"});
  EXPECT_EQ(bad.exit_code, kBadInput);
  EXPECT_THAT(bad.err, HasSubstr("-o must be text or json"));
}

TEST_F(CliTest, HelpCompletionAndVersion) {
  ProcessResult help = Framepair({"help", "run"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--no-report"));
  EXPECT_EQ(Framepair({"help", "nope"}).exit_code, kBadInput);
  for (const char* command : {"run", "verify", "report", "extract", "submit", "watch", "status",
                              "list", "cancel", "health", "fetch", "datasets"}) {
    ProcessResult r = Framepair({"help", command});
    EXPECT_EQ(r.exit_code, 0) << command << r.err;
    EXPECT_THAT(r.out, HasSubstr("--")) << command;
  }
  ProcessResult completion = Framepair({"completion", "bash"});
  ASSERT_EQ(completion.exit_code, 0);
  EXPECT_THAT(completion.out, HasSubstr("complete -o filenames -F _framepair framepair"));
  // The script is valid bash and completes commands and a command's flags.
  const std::string script = Path("completion.bash");
  std::ofstream(script) << completion.out;
  ProcessResult words = RunProcess(
      {"bash", "-c",
       "source " + ShellQuote(script) + "; COMP_WORDS=(" + ShellQuote(Binary()) +
           " ext); COMP_CWORD=1; _framepair; "
           "echo ${COMPREPLY[@]}; COMP_WORDS=(" +
           ShellQuote(Binary()) + " run --no-r); COMP_CWORD=2; _framepair; echo ${COMPREPLY[@]}"});
  EXPECT_EQ(words.exit_code, 0) << words.err;
  EXPECT_EQ(words.out, "extract\n--no-report\n");
  ProcessResult version = Framepair({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("framepair 0."));
  for (const char* server :
       {"services/coordinator/framepair-coordinator", "services/ingest/framepair-ingest",
        "services/align/framepair-align", "services/scene/framepair-scene",
        "services/packer/framepair-packer"}) {
    if (!fs::exists(BuiltBinary(server))) continue;  // built by the services tests' targets
    ProcessResult r = RunProcess({BuiltBinary(server), "--version"});
    EXPECT_EQ(r.exit_code, 0) << server << r.err;
    EXPECT_THAT(r.out, HasSubstr(" 0.")) << server;
  }
}

TEST_F(CliTest, OutWithForeignFilesIsRefusedUnlessForced) {
  const std::string out = Path("foreign");
  fs::create_directories(out);
  std::ofstream(out + "/notes.txt") << "mine\n";
  std::vector<std::string> args = RunArgs(out);
  args.push_back("--quiet");
  ProcessResult r = Framepair(args);
  EXPECT_EQ(r.exit_code, kBadInput);
  EXPECT_THAT(r.err, HasSubstr("1 file(s) framepair did not write ('notes.txt')"));
  EXPECT_THAT(r.err, HasSubstr("--force"));
  args.push_back("--force");
  ProcessResult forced = Framepair(args);
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(Slurp(out + "/notes.txt"), "mine\n");
  // A directory framepair wrote is fine to write again.
  args.pop_back();
  fs::remove(out + "/notes.txt");
  EXPECT_EQ(Framepair(args).exit_code, 0);
}

TEST_F(CliTest, FailedArgumentChecksLeaveNoDirectory) {
  const std::string out = Path("never");
  ProcessResult swapped =
      Framepair({"run", "--quiet", "--lr", Input("hr.mkv"), "--hr", Input("lr.mp4"), "--out", out});
  EXPECT_EQ(swapped.exit_code, kBadInput);
  EXPECT_THAT(swapped.err, HasSubstr("--lr and --hr look swapped"));
  EXPECT_FALSE(fs::exists(out));
  ProcessResult two = Framepair(
      {"run", "--quiet", "--lr", Input("lr.mp4"), "--hr", Input("hr_2x.mkv"), "--out", out});
  EXPECT_EQ(two.exit_code, kBadInput);
  EXPECT_THAT(two.err, HasSubstr("HR is 2x LR: use --scale 2"));
  EXPECT_FALSE(fs::exists(out));
  ProcessResult too_short = Framepair({"run", "--quiet", "--lr", Input("lr.mp4"), "--hr",
                                       Input("hr.mkv"), "--out", out, "--window", "500"});
  EXPECT_EQ(too_short.exit_code, kBadInput) << too_short.err;
  EXPECT_FALSE(fs::exists(out));
  // submit checks the same before it uploads anything (no server needed to fail).
  ProcessResult submit = Framepair({"submit", "--lr", Input("hr.mkv"), "--hr", Input("lr.mp4"),
                                    "--dataset", "d", "--server", "127.0.0.1:1"});
  EXPECT_EQ(submit.exit_code, kBadInput);
  EXPECT_THAT(submit.err, HasSubstr("--lr and --hr look swapped"));
}

TEST_F(CliTest, MoreShardsThanWindowsWarnsAndWritesNoEmptyShard) {
  std::vector<std::string> args = RunArgs(Path("few"));
  args.insert(args.end(), {"--quiet", "--shards", "6"});
  ProcessResult r = Framepair(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("warning: --shards 6 but only 4 window(s): wrote 4 shard(s)"));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(Path("few"))) {
    if (e.path().filename().string().find(".tfrecord") != std::string::npos) ++shards;
  }
  EXPECT_EQ(shards, 4);
}

TEST_F(CliTest, ReportAndExtract) {
  const std::string out = Path("looked_at");
  std::vector<std::string> args = RunArgs(out);
  args.insert(args.end(), {"--quiet", "--no-report"});
  ASSERT_EQ(Framepair(args).exit_code, 0);
  EXPECT_FALSE(fs::exists(out + "/report.html"));
  ProcessResult report = Framepair({"report", out, "-o", Path("page.html"), "--windows", "2"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(Slurp(Path("page.html")), HasSubstr("<svg class=\"timeline\""));
  ProcessResult json = Framepair({"--json", "report", out});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"report\": \"" + out + "/report.html\""));

  ProcessResult extract =
      Framepair({"extract", out, "--example", "1", "--out", Path("frames"), "-o", "json"});
  ASSERT_EQ(extract.exit_code, 0) << extract.err;
  int lr = 0, hr = 0;
  for (const auto& e : fs::directory_iterator(Path("frames"))) {
    const std::string name = e.path().filename().string();
    EXPECT_THAT(name, StartsWith("example1_"));
    lr += name.find("_lr_f") != std::string::npos;
    hr += name.find("_hr_f") != std::string::npos;
    EXPECT_EQ(Slurp(e.path().string()).substr(1, 3), "PNG");
  }
  EXPECT_EQ(lr, 10);
  EXPECT_EQ(hr, 10);
  ProcessResult beyond = Framepair({"extract", out, "--example", "4"});
  EXPECT_EQ(beyond.exit_code, kBadInput);
  EXPECT_THAT(beyond.err, HasSubstr("numbered 0 to 3"));
}

// docs/cli.md is generated from --help (scripts/cli-docs.sh): every flag a command has is
// documented there.
// A coordinator that wants a token (the real binary on loopback; its workers are never called):
// a wrong or missing token is exit 5, the message says the token is the problem and how to
// give one; the right token gets past it (to the job's own NOT_FOUND, exit 2).
TEST_F(CliTest, WrongTokenExitsFiveNamingTheToken) {
  constexpr int kDenied = 5;
  const fs::path root = *dir_ / "coordinator";
  fs::create_directories(root / "storage");
  fs::create_directories(root / "state");
  std::ofstream(root / "tokens") << "alice s3cret-token-of-alice\n";
  const std::string server = "127.0.0.1:" + std::to_string(41000 + getpid() % 4000);
  const std::string unused_worker = "127.0.0.1:1";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string coordinator = BuiltBinary("services/coordinator/framepair-coordinator");
    const std::string storage = (root / "storage").string(), state = (root / "state").string(),
                      tokens = (root / "tokens").string(), log = (root / "log").string();
    std::freopen(log.c_str(), "w", stderr);
    ::execl(coordinator.c_str(), coordinator.c_str(), "--listen", server.c_str(), "--storage-root",
            storage.c_str(), "--state-dir", state.c_str(), "--auth-token-file", tokens.c_str(),
            "--ingest", unused_worker.c_str(), "--align", unused_worker.c_str(), "--scene",
            unused_worker.c_str(), "--packer", unused_worker.c_str(), nullptr);
    ::_exit(127);
  }
  struct Stop {
    pid_t pid;
    ~Stop() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } stop{pid};
  // Health checks need no token: they say when the server listens.
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    up = Framepair({"--server", server, "health"}).exit_code == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up) << Slurp((root / "log").string());

  auto with_token = [&](const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"env", "FRAMEPAIR_TOKEN=" + token, Binary(), "--server", server});
    return RunProcess(args, 120);
  };
  ProcessResult wrong = with_token("not-the-token", {"status", "j000000000000"});
  EXPECT_EQ(wrong.exit_code, kDenied) << wrong.out << wrong.err;
  EXPECT_THAT(wrong.err, HasSubstr("invalid bearer token"));
  EXPECT_THAT(wrong.err, HasSubstr("FRAMEPAIR_TOKEN"));
  EXPECT_THAT(wrong.err, Not(HasSubstr("s3cret")));

  ProcessResult missing = with_token(
      "", {"submit", "--lr", Input("lr.mp4"), "--hr", Input("hr.mkv"), "--dataset", "d", "-q"});
  EXPECT_EQ(missing.exit_code, kDenied) << missing.out << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("requires a token"));
  EXPECT_THAT(missing.err, HasSubstr("FRAMEPAIR_TOKEN"));

  ProcessResult right = with_token("s3cret-token-of-alice", {"status", "j000000000000"});
  EXPECT_EQ(right.exit_code, kBadInput) << right.out << right.err;
  EXPECT_THAT(right.err, HasSubstr("j000000000000"));
}

TEST_F(CliTest, EveryFlagIsDocumented) {
  const std::string docs = Slurp(std::string(FRAMEPAIR_SOURCE_DIR) + "/docs/cli.md");
  ASSERT_FALSE(docs.empty()) << "docs/cli.md is missing: run scripts/cli-docs.sh";
  const std::regex flag("--[a-z0-9][a-z0-9-]*");
  for (std::vector<std::string> command : {std::vector<std::string>{"--help"},
                                           {"run", "--help"},
                                           {"verify", "--help"},
                                           {"report", "--help"},
                                           {"extract", "--help"},
                                           {"submit", "--help"},
                                           {"watch", "--help"},
                                           {"status", "--help"},
                                           {"list", "--help"},
                                           {"cancel", "--help"},
                                           {"jobs", "rm", "--help"},
                                           {"health", "--help"}}) {
    const std::string help = Framepair(command).out;
    for (auto it = std::sregex_iterator(help.begin(), help.end(), flag);
         it != std::sregex_iterator(); ++it) {
      EXPECT_THAT(docs, HasSubstr(it->str())) << command[0] << ": run scripts/cli-docs.sh";
    }
  }
  EXPECT_THAT(docs, HasSubstr("FRAMEPAIR_TLS_CA"));
  EXPECT_THAT(docs, HasSubstr("framepair-coordinator --version"));
}

}  // namespace
}  // namespace framepair::testing
