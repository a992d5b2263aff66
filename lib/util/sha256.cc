#include "util/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace framepair {

struct Sha256::Ctx {
  struct Deleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Deleter> md{EVP_MD_CTX_new()};
};

// EVP only fails on allocation failure or a broken OpenSSL install; neither is recoverable
// here, and a silently wrong digest would be worse than stopping.
Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md.get(), EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t n) {
  if (EVP_DigestUpdate(ctx_->md.get(), data, n) != 1) std::abort();
}

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md.get(), digest, &len) != 1) std::abort();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(len)));
}

std::string Sha256Hex(std::string_view data) {
  Sha256 hasher;
  hasher.Update(data);
  return hasher.HexDigest();
}

absl::StatusOr<int64_t> Sha256::UpdateFromFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return absl::Status(
        err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInvalidArgument,
        absl::StrCat("cannot open ", path, " to hash it: ", std::strerror(err)));
  }
  std::vector<char> buffer(1 << 20);
  int64_t total = 0;
  absl::Status status;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      status = absl::InvalidArgumentError(
          absl::StrCat("cannot read ", path, " to hash it: ", std::strerror(errno)));
      break;
    }
    Update(buffer.data(), static_cast<size_t>(n));
    total += n;
  }
  ::close(fd);
  if (!status.ok()) return status;
  return total;
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  Sha256 hasher;
  absl::StatusOr<int64_t> bytes = hasher.UpdateFromFile(path);
  if (!bytes.ok()) return bytes.status();
  return hasher.HexDigest();
}

}  // namespace framepair
