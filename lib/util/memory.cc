#include "util/memory.h"

#include <malloc.h>
#include <sys/resource.h>

#include <fstream>
#include <stdexcept>
#include <string>

namespace framepair {

void KeepLargeBlocksInHeap() {
  // Blocks up to 64 MiB come from the heap; free memory is returned to the kernel only above
  // 256 MiB, so steady-state churn of frame-sized blocks never reaches the kernel.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int64_t CgroupMemoryLimitBytes() {
  for (const char* file :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(file);
    std::string value;
    if (!(in >> value)) continue;
    if (value == "max") return 0;
    try {
      const long long bytes = std::stoll(value);
      // cgroup v1 says "no limit" with a number near 2^63.
      return bytes > 0 && bytes < (1LL << 50) ? bytes : 0;
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace framepair
