// Helpers shared by the fuzz targets (fuzz/CMakeLists.txt).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace framepair::fuzz {

// A property the code under test promises was broken: report it as a finding (libFuzzer saves
// the input as a crash) rather than letting a wrong answer pass.
#define FP_FUZZ_CHECK(cond, ...)                              \
  do {                                                        \
    if (!(cond)) {                                            \
      std::fprintf(stderr, "fuzz check failed: %s: ", #cond); \
      std::fprintf(stderr, __VA_ARGS__);                      \
      std::fprintf(stderr, "\n");                             \
      std::abort();                                           \
    }                                                         \
  } while (0)

// A directory of this process in tmpfs (/dev/shm when present, so per-iteration files never
// touch a disk), created once and reused: the readers under test take paths.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = std::string(base) + "/framepair-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    // Removed at a normal exit (the end of -max_total_time); a crash leaves it behind.
    static std::string at_exit;
    at_exit = tmpl;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(at_exit, ignored);  // symlinks are removed, never followed
    });
    return tmpl;
  }();
  return dir;
}

// Replaces `path` with exactly `data`.
inline void WriteScratchFile(const std::string& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace framepair::fuzz
