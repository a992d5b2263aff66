// Runs a child process (argv vector, no shell) and captures its exit code and output; for
// tests that drive real binaries (framepair, ffmpeg).
#pragma once

#include <string>
#include <vector>

namespace framepair::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if it did not exit normally (e.g. killed by a signal)
  int signal = 0;      // the terminating signal, if any
  std::string out;     // stdout
  std::string err;     // stderr
};

// Waits at most `timeout_seconds`, then kills the child (SIGKILL) and reports signal 9.
ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_seconds = 300);

// Absolute path of a binary built by this project, from FRAMEPAIR_BUILD_DIR (set by CTest).
std::string BuiltBinary(const std::string& relative_path);

}  // namespace framepair::testing
