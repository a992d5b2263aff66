// What a terminal shows for the bytes a program wrote: "\r" returns to column 0, ESC[K erases
// to the end of the line, "\n" starts a new one. For tests of redrawn status lines.
#pragma once

#include <string>
#include <vector>

namespace framepair::testing {

inline std::vector<std::string> TerminalScreen(const std::string& bytes) {
  std::vector<std::string> lines(1);
  size_t col = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string& line = lines.back();
    if (bytes[i] == '\r') {
      col = 0;
    } else if (bytes[i] == '\n') {
      lines.emplace_back();
      col = 0;
    } else if (bytes.compare(i, 3, "\033[K") == 0) {
      line.resize(col);
      i += 2;
    } else {
      if (col < line.size()) {
        line[col] = bytes[i];
      } else {
        line += bytes[i];
      }
      ++col;
    }
  }
  return lines;
}

}  // namespace framepair::testing
