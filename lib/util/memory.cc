#include "util/memory.h"

#include <malloc.h>
#include <sys/resource.h>

namespace framepair {

void KeepLargeBlocksInHeap() {
  // Blocks up to 64 MiB come from the heap; free memory is returned to the kernel only above
  // 256 MiB, so steady-state churn of frame-sized blocks never reaches the kernel.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace framepair
