#include "report/examples.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {

absl::Status ForEachShardExample(
    const std::string& path, const std::set<int64_t>& wanted,
    const std::function<absl::Status(int64_t, const framepair::v1::tf::Example&)>& visit) {
  if (wanted.empty()) return absl::OkStatus();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("cannot open ", path), "");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto source = [fd, &path](char* buffer, size_t size) -> absl::StatusOr<size_t> {
    for (;;) {
      const ssize_t got = ::read(fd, buffer, size);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return ErrnoError(errno, absl::StrCat("cannot read ", path), "");
      return static_cast<size_t>(got);
    }
  };
  FP_ASSIGN_OR_RETURN(TfRecordReader reader, TfRecordReader::FromSource(source));
  const int64_t last = *wanted.rbegin();
  for (int64_t i = 0; i <= last; ++i) {
    absl::StatusOr<std::string_view> record = reader.Next();
    if (absl::IsOutOfRange(record.status())) break;
    if (!record.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, ": record ", i, ": ", record.status().message()));
    }
    if (!wanted.count(i)) continue;
    absl::StatusOr<framepair::v1::tf::Example> example = ParseExample(*record);
    if (!example.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, ": record ", i, ": ", example.status().message()));
    }
    FP_RETURN_IF_ERROR(visit(i, *example));
  }
  return absl::OkStatus();
}

}  // namespace framepair
