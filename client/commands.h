// Subcommands of the `framepair` CLI. Each takes the arguments after its name and returns
// the process exit code (see kExit* below, documented in `framepair --help`).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace framepair::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the job failed / verify found defects
inline constexpr int kExitBadInput = 2;  // bad arguments, input files or output directory
inline constexpr int kExitInternal = 3;  // an unexpected internal or environment error
inline constexpr int kExitCancelled = 130;

int RunCommand(const std::vector<std::string>& args);
int VerifyCommand(const std::vector<std::string>& args);

// Maps a status to the documented exit code.
int ExitCodeFor(const absl::Status& status);

}  // namespace framepair::cli
