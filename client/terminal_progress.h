// Progress display for long stages: a redrawn status line on a terminal, one line per stage
// when stderr is not a terminal (logs, CI). Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "pipeline/pipeline.h"

namespace framepair::cli {

class TerminalProgress : public ProgressSink {
 public:
  explicit TerminalProgress(bool interactive);
  void StageStarted(const std::string& stage) override;
  void StageProgress(const std::string& stage, int64_t done, int64_t total) override;
  void StageFinished(const std::string& stage, double seconds) override;

 private:
  void Redraw();  // requires mu_

  bool interactive_;
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, int64_t>> active_;  // stage -> (done, total)
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace framepair::cli
