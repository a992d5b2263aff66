#include "client/terminal_progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace framepair::cli {
namespace {

double Seconds(TerminalProgress::Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kLinesInterval = std::chrono::seconds(10);
constexpr auto kJsonInterval = std::chrono::seconds(1);

}  // namespace

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

TerminalProgress::TerminalProgress(ProgressMode mode, std::FILE* out,
                                   std::function<Clock::time_point()> now)
    : mode_(mode), out_(out), now_(std::move(now)) {
  last_draw_ = now_();
}

void TerminalProgress::StageStarted(const std::string& stage) {
  std::lock_guard lock(mu_);
  active_[stage] = Stage{0, 0, false, now_()};
  if (mode_ == ProgressMode::kLines) {
    std::fprintf(out_, "framepair: %s started\n", stage.c_str());
  } else if (mode_ == ProgressMode::kJson) {
    std::fprintf(out_, "{\"event\": \"started\", \"stage\": \"%s\"}\n", stage.c_str());
  }
  std::fflush(out_);
}

void TerminalProgress::StageProgress(const std::string& stage, int64_t done, int64_t total) {
  std::lock_guard lock(mu_);
  auto it = active_.find(stage);
  if (it == active_.end()) {
    // A sub-stage ("ingest lr") runs since its parent started: its rate and ETA count from
    // there.
    Clock::time_point started = now_();
    if (const size_t space = stage.rfind(' '); space != std::string::npos) {
      if (auto parent = active_.find(stage.substr(0, space)); parent != active_.end()) {
        started = parent->second.started;
      }
    }
    it = active_.emplace(stage, Stage{0, 0, false, started}).first;
  }
  it->second.done = done;
  it->second.total = total;
  it->second.reported = true;
  const Clock::time_point now = now_();
  const auto interval = mode_ == ProgressMode::kTerminal ? kTerminalInterval
                        : mode_ == ProgressMode::kLines  ? kLinesInterval
                                                         : kJsonInterval;
  if (now - last_draw_ < interval) return;
  last_draw_ = now;
  Redraw();
}

void TerminalProgress::StageFinished(const std::string& stage, double seconds) {
  std::lock_guard lock(mu_);
  Ended(stage, seconds, true);
}

void TerminalProgress::StageStopped(const std::string& stage, double seconds) {
  std::lock_guard lock(mu_);
  Ended(stage, seconds, false);
}

void TerminalProgress::Ended(const std::string& stage, double seconds, bool finished) {
  // The stage's sub-stages ("ingest lr" of "ingest") end with it.
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->first == stage || it->first.rfind(stage + " ", 0) == 0) {
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  Clear();
  if (mode_ == ProgressMode::kJson) {
    std::fprintf(out_, "{\"event\": \"%s\", \"stage\": \"%s\", \"seconds\": %.3f}\n",
                 finished ? "done" : "stopped", stage.c_str(), seconds);
  } else if (finished) {
    std::fprintf(out_, "framepair: %s done in %.2f s\n", stage.c_str(), seconds);
  } else {
    std::fprintf(out_, "framepair: %s stopped after %.2f s\n", stage.c_str(), seconds);
  }
  if (mode_ == ProgressMode::kTerminal) Redraw();
  std::fflush(out_);
}

void TerminalProgress::Finish() {
  std::lock_guard lock(mu_);
  Clear();
  std::fflush(out_);
}

bool TerminalProgress::Hidden(const std::string& name) const {
  // A parent whose sub-stages report is represented by them.
  auto next = active_.upper_bound(name);
  return next != active_.end() && next->first.rfind(name + " ", 0) == 0;
}

std::string TerminalProgress::StatusOf(const std::string& name, const Stage& s) const {
  const double elapsed = Seconds(now_() - s.started);
  if (mode_ == ProgressMode::kJson) {
    const double fps = elapsed > 0 ? s.done / elapsed : 0;
    std::string eta = "null";
    if (s.total > 0 && s.done > 0 && s.done <= s.total) {
      eta = absl::StrFormat("%.1f", elapsed * (s.total - s.done) / s.done);
    }
    return absl::StrFormat(
        "{\"event\": \"progress\", \"stage\": \"%s\", \"done\": %d, \"total\": %d, \"rate\": "
        "%.1f, \"elapsed_seconds\": %.1f, \"eta_seconds\": %s}",
        name, s.done, s.total, fps, elapsed, eta);
  }
  std::string text = name;
  if (s.reported) {
    if (s.total > 0) {
      absl::StrAppendFormat(&text, " %d/%d", s.done, s.total);
    } else {
      absl::StrAppendFormat(&text, " %d", s.done);
    }
    if (elapsed > 0.5 && s.done > 0) {
      const double rate = s.done / elapsed;
      absl::StrAppendFormat(&text, rate < 10 ? " %.1f/s" : " %.0f/s", rate);
    }
  }
  absl::StrAppend(&text, " ", FormatDuration(elapsed));
  if (s.reported && s.total > 0 && s.done > 0 && s.done < s.total && elapsed > 1) {
    absl::StrAppend(&text, " ETA ", FormatDuration(elapsed * (s.total - s.done) / s.done));
  }
  return text;
}

void TerminalProgress::Redraw() {
  if (mode_ == ProgressMode::kJson) {
    for (const auto& [name, s] : active_) {
      if (!Hidden(name) && s.reported) std::fprintf(out_, "%s\n", StatusOf(name, s).c_str());
    }
    std::fflush(out_);
    return;
  }
  std::string line;
  for (const auto& [name, s] : active_) {
    if (Hidden(name)) continue;
    absl::StrAppend(&line, line.empty() ? "" : " | ", StatusOf(name, s));
  }
  if (mode_ == ProgressMode::kLines) {
    if (!line.empty()) std::fprintf(out_, "framepair: %s\n", line.c_str());
  } else {
    // Never wider than a common terminal: a wrapped line cannot be cleared with \r.
    if (line.size() > 119) line.resize(119);
    std::fprintf(out_, "\r\033[K%s", line.c_str());
    line_shown_ = !line.empty();
  }
  std::fflush(out_);
}

void TerminalProgress::Clear() {
  if (mode_ == ProgressMode::kTerminal && line_shown_) {
    std::fputs("\r\033[K", out_);
    line_shown_ = false;
  }
}

}  // namespace framepair::cli
