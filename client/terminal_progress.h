// Progress display for `framepair run`'s stages, on stderr. Thread-safe.
//
//   kTerminal  one status line, redrawn at most 10 times a second: per running stage, frames
//              (or windows) done/total, rate, elapsed and ETA. A finished stage prints one
//              "done" line; a stage that was stopped (error, Ctrl-C) says so and never "done".
//              A stage whose sub-stages report progress ("ingest" vs "ingest lr") is not shown
//              itself, and its sub-stages go when it finishes. Finish() clears the line, so
//              nothing stale stands in front of the summary.
//   kLines     for logs and CI: "started" and "done" lines, and the status every 10 s.
//   kJson      JSON Lines for machines: {"event": "started"|"progress"|"done"|"stopped", ...},
//              progress at most once a second.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "pipeline/pipeline.h"

namespace framepair::cli {

enum class ProgressMode { kTerminal, kLines, kJson };

class TerminalProgress : public ProgressSink {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is for tests; `out` is where it writes (stderr).
  explicit TerminalProgress(ProgressMode mode, std::FILE* out = stderr,
                            std::function<Clock::time_point()> now = Clock::now);
  void StageStarted(const std::string& stage) override;
  void StageProgress(const std::string& stage, int64_t done, int64_t total) override;
  void StageFinished(const std::string& stage, double seconds) override;
  void StageStopped(const std::string& stage, double seconds) override;
  // Clears the status line (kTerminal). Call before printing the summary or an error.
  void Finish();

 private:
  struct Stage {
    int64_t done = 0;
    int64_t total = 0;
    bool reported = false;  // has had progress (otherwise only its elapsed time is known)
    Clock::time_point started;
  };
  void Ended(const std::string& stage, double seconds, bool finished);  // requires mu_
  std::string StatusOf(const std::string& name, const Stage& s) const;  // requires mu_
  void Redraw();                                                        // requires mu_
  void Clear();                                                         // requires mu_
  bool Hidden(const std::string& name) const;                           // requires mu_

  const ProgressMode mode_;
  std::FILE* const out_;
  const std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::map<std::string, Stage> active_;
  Clock::time_point last_draw_{};
  bool line_shown_ = false;
};

// "1:05", "1:02:03": durations in the status line.
std::string FormatDuration(double seconds);

}  // namespace framepair::cli
