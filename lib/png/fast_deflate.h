// A deflate (zlib-wrapped) compressor for PNG's filtered rows, in the style of fpnge: no hash
// tables and no match search, only runs, found eight bytes at a time:
//   - a byte repeated (distance 1: flat colour after any filter, long zero runs after Up);
//   - a pixel repeated (distance 3: a horizontal edge or a gradient after Up).
// Everything else is a literal. Each block of input gets its own Huffman code, built from
// the block's exact symbol counts and limited to 15 bits; a block that would not shrink is
// stored. On the benchmark footage (docs/benchmarks.md) it costs 2.3-2.8x less CPU than the
// libdeflate level it replaced and is 4-6 % smaller, per-block codes paying for the missing
// matches; on content that repeats further than a pixel away (textures, text) it is larger,
// 3-13 % on Doom frames (table in png.h), which is what `--png-level` 2 and above are for.
//
// The output is a valid zlib stream (RFC 1950/1951): every decoder reads it, and the tests
// check it through zlib's inflate and libpng. Deterministic: a function of the input bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace framepair {

// Compresses `size` bytes into a zlib stream at the start of `*buffer` and returns the
// stream's length. The buffer only grows (the packer compresses frames of one size over and
// over, and zero-filling megabytes per frame would cost more than a fast block).
size_t FastZlibCompress(const uint8_t* data, size_t size, std::vector<uint8_t>* buffer);

}  // namespace framepair
