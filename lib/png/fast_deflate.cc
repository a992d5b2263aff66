#include "png/fast_deflate.h"

#include <libdeflate.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace framepair {
namespace {

// Input bytes per deflate block: each gets a Huffman code fitted to its own bytes (a frame's
// top and bottom often differ), at about 80 bytes of code description per block.
constexpr size_t kBlockInput = 128 * 1024;
constexpr size_t kMinMatch = 3;
constexpr size_t kMaxMatch = 258;
constexpr int kMaxCodeBits = 15;     // literal/length and distance codes (RFC 1951 3.2.7)
constexpr int kMaxCodeLenBits = 7;   // the code-length code
constexpr int kLitLenSymbols = 286;  // 0-255 literals, 256 end of block, 257-285 lengths
constexpr int kEndOfBlock = 256;
constexpr int kDistSymbols = 30;

// A token is a literal (0..255) or a run: 256 + 2 * (length - 3) + (distance == 3).
constexpr uint32_t kRunBase = 256;

struct LengthCode {
  uint16_t symbol;
  uint8_t extra_bits;
  uint8_t extra;
};

// RFC 1951 3.2.5: the length symbol and extra bits of each match length 3..258.
constexpr std::array<LengthCode, kMaxMatch - kMinMatch + 1> MakeLengthCodes() {
  constexpr uint16_t kBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                  31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  constexpr uint8_t kExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  std::array<LengthCode, kMaxMatch - kMinMatch + 1> codes{};
  for (size_t length = kMinMatch; length <= kMaxMatch; ++length) {
    int code = 28;
    while (kBase[code] > length) --code;
    codes[length - kMinMatch] = {static_cast<uint16_t>(257 + code), kExtra[code],
                                 static_cast<uint8_t>(length - kBase[code])};
  }
  return codes;
}
constexpr std::array<LengthCode, kMaxMatch - kMinMatch + 1> kLengthCodes = MakeLengthCodes();

// Distance symbols of the two run distances: 1 -> 0, 3 -> 2, neither with extra bits.
constexpr int kDistSymbol[2] = {0, 2};

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// 0x80 in every byte of `v` that is zero, 0 elsewhere (exact: no false positives).
uint64_t ZeroBytes(uint64_t v) {
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  return ~(((v & kLow7) + kLow7) | v | kLow7);
}

// How many bytes from `a` equal those from `b` (b < a, overlapping), at most `limit`.
size_t CommonLength(const uint8_t* a, const uint8_t* b, size_t limit) {
  size_t n = 0;
  while (n + 8 <= limit) {
    const uint64_t diff = Load64(a + n) ^ Load64(b + n);
    if (diff != 0) return n + static_cast<size_t>(__builtin_ctzll(diff)) / 8;
    n += 8;
  }
  while (n < limit && a[n] == b[n]) ++n;
  return n;
}

struct Block {
  std::vector<uint32_t> tokens;
  std::array<uint32_t, kLitLenSymbols> litlen_freq{};
  std::array<uint32_t, kDistSymbols> dist_freq{};
};

// Tokenises data[begin, end) (a run may reach past `end`; the next block starts after it)
// and returns where the next block starts. Reads data[0, begin) as history.
size_t Tokenise(const uint8_t* data, size_t size, size_t begin, size_t end, Block* block) {
  block->tokens.clear();
  block->tokens.reserve(end - begin + 1);
  block->litlen_freq.fill(0);
  block->dist_freq.fill(0);
  auto literal = [&](uint8_t byte) {
    block->tokens.push_back(byte);
    ++block->litlen_freq[byte];
  };
  // A run at `at`, if one of at least kMinMatch bytes starts there: the longer of distance 1
  // and distance 3 (distance 1 on a tie). Returns its length, 0 if none.
  auto run = [&](size_t at) -> size_t {
    const size_t limit = std::min(kMaxMatch, size - at);
    if (limit < kMinMatch) return 0;
    const size_t by_byte = at >= 1 ? CommonLength(data + at, data + at - 1, limit) : 0;
    // A run of one byte is also a run of its pixel: no need to measure it twice.
    const size_t by_pixel =
        at >= 3 && by_byte < limit ? CommonLength(data + at, data + at - 3, limit) : 0;
    const size_t length = std::max(by_byte, by_pixel);
    if (length < kMinMatch) return 0;
    const uint32_t pixel = by_pixel > by_byte ? 1 : 0;
    block->tokens.push_back(kRunBase + 2 * static_cast<uint32_t>(length - kMinMatch) + pixel);
    ++block->litlen_freq[kLengthCodes[length - kMinMatch].symbol];
    ++block->dist_freq[kDistSymbol[pixel]];
    return length;
  };
  size_t at = begin;
  // Eight bytes at a time where the loads stay inside the data: positions where a run of
  // three starts are those whose byte and the next two equal the bytes 1 (or 3) before.
  while (at < end) {
    if (at >= 3 && at + 8 <= size) {
      const uint64_t here = Load64(data + at);
      const uint64_t z1 = ZeroBytes(here ^ Load64(data + at - 1));
      const uint64_t z3 = ZeroBytes(here ^ Load64(data + at - 3));
      // Bit 8k+7 set where bytes k, k+1 and k+2 all match: a run starts at at + k (k <= 5).
      const uint64_t starts = (z1 & (z1 >> 8) & (z1 >> 16)) | (z3 & (z3 >> 8) & (z3 >> 16));
      const size_t literals = starts == 0 ? 6 : static_cast<size_t>(__builtin_ctzll(starts)) / 8;
      const size_t stop = std::min(at + literals, end);
      for (; at < stop; ++at) literal(data[at]);
      if (starts == 0 || at >= end) continue;
      at += run(at);  // found by the mask: at least kMinMatch long
      continue;
    }
    const size_t length = run(at);
    if (length == 0) {
      literal(data[at]);
      ++at;
    } else {
      at += length;
    }
  }
  ++block->litlen_freq[kEndOfBlock];
  return at;
}

// Huffman code lengths for `freq` limited to `max_bits` (symbols with count 0 get length 0).
// Needs at least two used symbols, which makes the code complete, as zlib's inflate requires.
// Deterministic: ties go by symbol number.
template <size_t N>
void CodeLengths(const std::array<uint32_t, N>& freq, int max_bits,
                 std::array<uint8_t, N>* lengths) {
  lengths->fill(0);
  std::array<uint16_t, N> symbols{};
  size_t used = 0;
  for (size_t s = 0; s < N; ++s) {
    if (freq[s] != 0) symbols[used++] = static_cast<uint16_t>(s);
  }
  if (used < 2) {  // callers add a second symbol; one alone would still need one bit
    if (used == 1) (*lengths)[symbols[0]] = 1;
    return;
  }
  // Ascending count, then symbol: the two-queue construction below needs the leaves sorted.
  std::sort(symbols.begin(), symbols.begin() + used,
            [&](uint16_t a, uint16_t b) { return freq[a] != freq[b] ? freq[a] < freq[b] : a < b; });
  // Two-queue Huffman: leaves in order, internal nodes in creation order (also ascending).
  std::array<uint64_t, N> node_weight{};
  std::array<int32_t, 2 * N> parent{};  // leaves 0..used-1, internal nodes from N
  size_t leaf = 0, node_read = 0, node_write = 0;
  auto take = [&]() -> size_t {
    if (leaf < used && (node_read == node_write || freq[symbols[leaf]] <= node_weight[node_read])) {
      return leaf++;
    }
    return N + node_read++;
  };
  auto weight = [&](size_t id) -> uint64_t {
    return id < N ? freq[symbols[id]] : node_weight[id - N];
  };
  for (size_t merges = 0; merges + 1 < used; ++merges) {
    const size_t a = take(), b = take();
    node_weight[node_write] = weight(a) + weight(b);
    parent[a] = parent[b] = static_cast<int32_t>(N + node_write);
    ++node_write;
  }
  // Depth of each leaf; internal nodes were created after their children, so walk back.
  std::array<uint16_t, N> node_depth{};
  std::array<uint32_t, 2 * N + 1> count_at{};  // leaves per depth, before limiting
  if (node_write > 0) node_depth[node_write - 1] = 0;
  for (size_t i = node_write - 1; i-- > 0;) {
    node_depth[i] = static_cast<uint16_t>(node_depth[static_cast<size_t>(parent[N + i]) - N] + 1);
  }
  std::array<uint16_t, N> leaf_depth{};
  for (size_t i = 0; i < used; ++i) {
    leaf_depth[i] = static_cast<uint16_t>(node_depth[static_cast<size_t>(parent[i]) - N] + 1);
    ++count_at[leaf_depth[i]];
  }
  // Limit to max_bits keeping the Kraft sum at exactly 1 (JPEG's Annex K.3 adjustment): take
  // two leaves from the deepest level, hang one under a shallower leaf.
  for (size_t depth = count_at.size() - 1; depth > static_cast<size_t>(max_bits); --depth) {
    while (count_at[depth] > 0) {
      size_t j = depth - 2;
      while (count_at[j] == 0) --j;
      count_at[depth] -= 2;
      count_at[depth - 1] += 1;
      count_at[j + 1] += 2;
      count_at[j] -= 1;
    }
  }
  // The rarest symbols take the longest codes.
  size_t next = 0;
  for (int depth = max_bits; depth >= 1; --depth) {
    for (uint32_t k = 0; k < count_at[static_cast<size_t>(depth)]; ++k) {
      (*lengths)[symbols[next++]] = static_cast<uint8_t>(depth);
    }
  }
}

// Canonical codes (RFC 1951 3.2.2), bit-reversed for deflate's LSB-first bit order.
template <size_t N>
void CanonicalCodes(const std::array<uint8_t, N>& lengths, std::array<uint16_t, N>* codes) {
  std::array<uint16_t, kMaxCodeBits + 2> count{}, next{};
  for (uint8_t length : lengths) ++count[length];
  count[0] = 0;
  uint16_t code = 0;
  for (int bits = 1; bits <= kMaxCodeBits; ++bits) {
    code = static_cast<uint16_t>((code + count[bits - 1]) << 1);
    next[bits] = code;
  }
  for (size_t s = 0; s < N; ++s) {
    const int length = lengths[s];
    if (length == 0) continue;
    uint16_t c = next[length]++, reversed = 0;
    for (int b = 0; b < length; ++b)
      reversed = static_cast<uint16_t>(reversed << 1 | ((c >> b) & 1));
    (*codes)[s] = reversed;
  }
}

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>* out) : out_(out) {}
  // Makes room for `bytes` more bytes: Put and PutBytes do not check. The buffer only grows,
  // so a reused one is not zero-filled again.
  void Reserve(size_t bytes) {
    if (out_->size() < at_ + bytes + 8) out_->resize(at_ + bytes + 8);
  }
  // Up to 32 bits, LSB first.
  void Put(uint32_t bits, int count) {
    buffer_ |= static_cast<uint64_t>(bits) << count_;
    count_ += count;
    if (count_ >= 32) {
      const uint32_t word = static_cast<uint32_t>(buffer_);
      std::memcpy(out_->data() + at_, &word, 4);  // little-endian hosts only (x86_64, arm64)
      at_ += 4;
      buffer_ >>= 32;
      count_ -= 32;
    }
  }
  void AlignToByte() {
    while (count_ > 0) {
      (*out_)[at_++] = static_cast<uint8_t>(buffer_);
      buffer_ >>= 8;
      count_ = count_ > 8 ? count_ - 8 : 0;
    }
    buffer_ = 0;
  }
  // Writes bytes at a byte boundary (call AlignToByte first).
  void PutBytes(const uint8_t* data, size_t size) {
    if (size == 0) return;  // an empty input's stored block: `data` may be null
    std::memcpy(out_->data() + at_, data, size);
    at_ += size;
  }
  // Aligns and returns the length written.
  size_t Finish() {
    AlignToByte();
    return at_;
  }

 private:
  std::vector<uint8_t>* out_;
  size_t at_ = 0;
  uint64_t buffer_ = 0;
  int count_ = 0;
};

// Code-length code order (RFC 1951 3.2.7).
constexpr int kCodeLenOrder[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                   11, 4,  12, 3, 13, 2, 14, 1, 15};

struct Header {
  int hlit = 0, hdist = 0, hclen = 0;
  std::vector<uint16_t> items;  // code-length symbol | extra value << 5
  std::array<uint8_t, 19> cl_lengths{};
  std::array<uint16_t, 19> cl_codes{};
  uint64_t bits = 0;  // size of the whole header, 3 block-type bits included
};

constexpr int kClExtraBits[19] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7};

Header DescribeCodes(const std::array<uint8_t, kLitLenSymbols>& litlen,
                     const std::array<uint8_t, kDistSymbols>& dist) {
  Header h;
  h.hlit = kLitLenSymbols;
  while (h.hlit > 257 && litlen[static_cast<size_t>(h.hlit - 1)] == 0) --h.hlit;
  h.hdist = kDistSymbols;
  while (h.hdist > 1 && dist[static_cast<size_t>(h.hdist - 1)] == 0) --h.hdist;
  std::vector<uint8_t> all(litlen.begin(), litlen.begin() + h.hlit);
  all.insert(all.end(), dist.begin(), dist.begin() + h.hdist);
  std::array<uint32_t, 19> cl_freq{};
  for (size_t i = 0; i < all.size();) {
    const uint8_t value = all[i];
    size_t run = 1;
    while (i + run < all.size() && all[i + run] == value) ++run;
    size_t left = run;
    if (value == 0) {
      while (left >= 11) {
        const size_t n = std::min<size_t>(left, 138);
        h.items.push_back(static_cast<uint16_t>(18 | (n - 11) << 5));
        left -= n;
      }
      if (left >= 3) {
        h.items.push_back(static_cast<uint16_t>(17 | (left - 3) << 5));
        left = 0;
      }
    } else {
      h.items.push_back(value);
      --left;
      while (left >= 3) {
        const size_t n = std::min<size_t>(left, 6);
        h.items.push_back(static_cast<uint16_t>(16 | (n - 3) << 5));
        left -= n;
      }
    }
    for (; left > 0; --left) h.items.push_back(value);
    i += run;
  }
  for (uint16_t item : h.items) ++cl_freq[item & 31];
  // A complete code needs two symbols; a second one costs nothing when it is never written.
  int used = 0;
  for (uint32_t f : cl_freq) used += f != 0 ? 1 : 0;
  if (used < 2) ++cl_freq[cl_freq[0] == 0 ? 0 : 1];
  CodeLengths(cl_freq, kMaxCodeLenBits, &h.cl_lengths);
  CanonicalCodes(h.cl_lengths, &h.cl_codes);
  h.hclen = 19;
  while (h.hclen > 4 && h.cl_lengths[static_cast<size_t>(kCodeLenOrder[h.hclen - 1])] == 0)
    --h.hclen;
  h.bits = 3 + 5 + 5 + 4 + 3 * static_cast<uint64_t>(h.hclen);
  for (uint16_t item : h.items) {
    const int symbol = item & 31;
    h.bits += h.cl_lengths[static_cast<size_t>(symbol)] + kClExtraBits[symbol];
  }
  return h;
}

void WriteStored(BitWriter* writer, const uint8_t* data, size_t size, bool final) {
  // Stored blocks hold at most 65535 bytes each; an empty final one is allowed.
  size_t at = 0;
  do {
    const size_t n = std::min<size_t>(size - at, 65535);
    const bool last = final && at + n == size;
    writer->Put(last ? 1 : 0, 3);  // BFINAL, BTYPE 00
    writer->AlignToByte();
    const uint8_t lengths[4] = {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8),
                                static_cast<uint8_t>(~n), static_cast<uint8_t>(~n >> 8)};
    writer->PutBytes(lengths, 4);
    writer->PutBytes(data + at, n);
    at += n;
  } while (at < size);
}

void WriteBlock(const uint8_t* data, size_t begin, size_t end, Block* block, bool final,
                BitWriter* writer) {
  // Both distance symbols get a code even if unused: two codes make the code complete.
  std::array<uint32_t, kDistSymbols> dist_freq = block->dist_freq;
  for (int symbol : kDistSymbol) dist_freq[static_cast<size_t>(symbol)] += 1;
  std::array<uint32_t, kLitLenSymbols> litlen_freq = block->litlen_freq;
  if (std::count_if(litlen_freq.begin(), litlen_freq.end(), [](uint32_t f) { return f != 0; }) <
      2) {
    ++litlen_freq[0];  // only the end of block: give the code a second symbol
  }
  std::array<uint8_t, kLitLenSymbols> litlen_lengths;
  std::array<uint8_t, kDistSymbols> dist_lengths;
  CodeLengths(litlen_freq, kMaxCodeBits, &litlen_lengths);
  CodeLengths(dist_freq, kMaxCodeBits, &dist_lengths);
  const Header header = DescribeCodes(litlen_lengths, dist_lengths);
  uint64_t bits = header.bits;
  for (size_t s = 0; s < kLitLenSymbols; ++s) {
    bits += static_cast<uint64_t>(block->litlen_freq[s]) * litlen_lengths[s];
  }
  for (size_t s = 0; s < kDistSymbols; ++s) {
    bits += static_cast<uint64_t>(block->dist_freq[s]) * dist_lengths[s];
  }
  for (uint32_t token : block->tokens) {
    if (token >= kRunBase) bits += kLengthCodes[(token - kRunBase) >> 1].extra_bits;
  }
  // Stored costs 5 bytes per 65535 and the alignment: take it when Huffman would not shrink.
  const uint64_t stored_bits = 8 * ((end - begin) + 5 * ((end - begin) / 65535 + 1)) + 10;
  if (bits >= stored_bits) {
    writer->Reserve(stored_bits / 8 + 8);
    WriteStored(writer, data + begin, end - begin, final);
    return;
  }
  std::array<uint16_t, kLitLenSymbols> litlen_codes{};
  std::array<uint16_t, kDistSymbols> dist_codes{};
  CanonicalCodes(litlen_lengths, &litlen_codes);
  CanonicalCodes(dist_lengths, &dist_codes);
  writer->Reserve(bits / 8 + 8);
  writer->Put(final ? 1 : 0, 1);
  writer->Put(2, 2);  // BTYPE 10: dynamic Huffman codes
  writer->Put(static_cast<uint32_t>(header.hlit - 257), 5);
  writer->Put(static_cast<uint32_t>(header.hdist - 1), 5);
  writer->Put(static_cast<uint32_t>(header.hclen - 4), 4);
  for (int i = 0; i < header.hclen; ++i) {
    writer->Put(header.cl_lengths[static_cast<size_t>(kCodeLenOrder[i])], 3);
  }
  for (uint16_t item : header.items) {
    const size_t symbol = item & 31;
    writer->Put(header.cl_codes[symbol], header.cl_lengths[symbol]);
    if (kClExtraBits[symbol] > 0) writer->Put(item >> 5, kClExtraBits[symbol]);
  }
  for (uint32_t token : block->tokens) {
    if (token < kRunBase) {
      writer->Put(litlen_codes[token], litlen_lengths[token]);
      continue;
    }
    const LengthCode& length = kLengthCodes[(token - kRunBase) >> 1];
    const size_t dist = static_cast<size_t>(kDistSymbol[token & 1]);
    writer->Put(litlen_codes[length.symbol] | static_cast<uint32_t>(length.extra)
                                                  << litlen_lengths[length.symbol],
                litlen_lengths[length.symbol] + length.extra_bits);
    writer->Put(dist_codes[dist], dist_lengths[dist]);
  }
  writer->Put(litlen_codes[kEndOfBlock], litlen_lengths[kEndOfBlock]);
}

}  // namespace

size_t FastZlibCompress(const uint8_t* data, size_t size, std::vector<uint8_t>* buffer) {
  BitWriter writer(buffer);
  writer.Reserve(2);
  // CMF: deflate, 32 KiB window. FLG: fastest compression; (0x78 * 256 + 0x01) % 31 == 0.
  constexpr uint8_t kZlibHeader[2] = {0x78, 0x01};
  writer.PutBytes(kZlibHeader, 2);
  thread_local Block block;
  size_t at = 0;
  do {
    const size_t end = std::min(size, at + kBlockInput);
    const size_t next = Tokenise(data, size, at, end, &block);
    WriteBlock(data, at, next, &block, next >= size, &writer);
    at = next;
  } while (at < size);
  const size_t length = writer.Finish();
  writer.Reserve(4);
  const uint32_t adler = libdeflate_adler32(1, data, size);
  for (int i = 0; i < 4; ++i)
    (*buffer)[length + static_cast<size_t>(i)] = static_cast<uint8_t>(adler >> (24 - 8 * i));
  return length + 4;
}

}  // namespace framepair
