#include "client/terminal_progress.h"

#include <cstdio>

namespace framepair::cli {

TerminalProgress::TerminalProgress(bool interactive) : interactive_(interactive) {}

void TerminalProgress::StageStarted(const std::string& stage) {
  std::lock_guard lock(mu_);
  active_[stage] = {0, 0};
  if (!interactive_) std::fprintf(stderr, "framepair: %s...\n", stage.c_str());
}

void TerminalProgress::StageProgress(const std::string& stage, int64_t done, int64_t total) {
  std::lock_guard lock(mu_);
  active_[stage] = {done, total};
  if (!interactive_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Redraw();
}

void TerminalProgress::StageFinished(const std::string& stage, double seconds) {
  std::lock_guard lock(mu_);
  active_.erase(stage);
  if (interactive_) std::fputs("\r\033[K", stderr);
  std::fprintf(stderr, "framepair: %s done in %.2f s\n", stage.c_str(), seconds);
  if (interactive_) Redraw();
}

void TerminalProgress::Redraw() {
  std::string line;
  for (const auto& [stage, p] : active_) {
    char buf[128];
    if (p.second > 0) {
      int pct = static_cast<int>(100 * p.first / p.second);
      std::snprintf(buf, sizeof(buf), "[%s %lld/%lld %d%%] ", stage.c_str(),
                    static_cast<long long>(p.first), static_cast<long long>(p.second), pct);
    } else {
      std::snprintf(buf, sizeof(buf), "[%s %lld] ", stage.c_str(), static_cast<long long>(p.first));
    }
    line += buf;
  }
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

}  // namespace framepair::cli
