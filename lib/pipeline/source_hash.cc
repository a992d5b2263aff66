#include "pipeline/source_hash.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "util/sha256.h"

namespace framepair {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> SequenceFiles(const std::string& path) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      if (e.path().extension() == ".png") files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
  } else if (path.find('%') != std::string::npos) {
    // image2 also accepts a start number up to 4 past 0; mirror its common case.
    char name[4096];
    for (int i = 0;; ++i) {
      std::snprintf(name, sizeof(name), path.c_str(), i);
      if (!fs::exists(name, ec)) {
        if (i <= 4 && files.empty()) continue;
        break;
      }
      files.push_back(name);
    }
  } else {
    files.push_back(path);
  }
  return files;
}

}  // namespace

absl::StatusOr<SourceHash> HashSource(const std::string& path) {
  Sha256 sha;
  SourceHash out;
  for (const std::string& file : SequenceFiles(path)) {
    absl::StatusOr<int64_t> bytes = sha.UpdateFromFile(file);
    if (!bytes.ok()) return bytes.status();
    out.bytes += *bytes;
  }
  out.sha256 = sha.HexDigest();
  return out;
}

}  // namespace framepair
