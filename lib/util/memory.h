// Process memory: allocator settings for binaries that move video frames around, and the
// peak resident set size that benchmarks and summaries report.
#pragma once

#include <cstdint>

namespace framepair {

// Keeps multi-megabyte blocks (decoded and RGB frames, PNGs, serialized examples) in the heap
// instead of glibc's default of one mmap per block above 128 KiB. With the default every
// freed frame goes back to the kernel and the next one faults in freshly zeroed pages:
// measured on pack, 4.6 s of system time per 11.5 s of user time (worker pool threads) and
// a `framepair run` pack stage 1.9x slower. glibc raises its threshold by itself after the
// first large free, which hid this in `run` while analysis thumbnails lived on the heap.
// Call once, first thing in main().
void KeepLargeBlocksInHeap();

// The memory limit of this process's cgroup (a container's memory limit), in bytes, from
// /sys/fs/cgroup (v2 memory.max, else v1 memory.limit_in_bytes); 0 when there is none.
int64_t CgroupMemoryLimitBytes();

// The largest resident set size of this process so far, in bytes (getrusage).
int64_t PeakRssBytes();

}  // namespace framepair
