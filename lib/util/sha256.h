// SHA-256 (OpenSSL EVP) for manifests and content-addressed storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace framepair {

// Incremental hasher. Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Streams a whole file into the hash; returns its size. NOT_FOUND / INVALID_ARGUMENT with
  // the path on failure.
  absl::StatusOr<int64_t> UpdateFromFile(const std::string& path);
  std::string HexDigest();  // finishes the hash; lowercase hex, 64 characters

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string Sha256Hex(std::string_view data);
// Hashes a whole file, streaming. NOT_FOUND / INVALID_ARGUMENT with the path on failure.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace framepair
