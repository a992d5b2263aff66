#include "pipeline/verify.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "dataset/store_publish.h"
#include "pipeline/sidecar.h"
#include "png/png.h"
#include "storage/object_store.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair {
namespace fs = std::filesystem;
namespace {

using framepair::v1::Manifest;
using framepair::v1::tf::Example;
using framepair::v1::tf::Feature;

struct Expect {
  int window = 0;
  int lr_w = 0, lr_h = 0, hr_w = 0, hr_h = 0;
  bool single = false;
  bool provenance = false;
};

// Checks one record; returns its defects (prefixed by the caller with the location).
std::vector<std::string> CheckExample(const std::string& record, const Expect& e, bool decode_pngs,
                                      int64_t* images) {
  std::vector<std::string> defects;
  Example example;
  if (!example.ParseFromString(record)) return {"not a valid tf.train.Example"};
  const auto& features = example.features().feature();
  auto images_of = [&](const std::string& name, int w, int h) {
    auto it = features.find(name);
    if (it == features.end() || it->second.kind_case() != Feature::kBytesList) {
      defects.push_back(absl::StrCat("feature '", name, "' missing or not a bytes_list"));
      return;
    }
    const auto& values = it->second.bytes_list().value();
    if (values.size() != e.window) {
      defects.push_back(
          absl::StrCat("feature '", name, "' has ", values.size(), " images, expected ", e.window));
    }
    for (int i = 0; i < values.size(); ++i) {
      ++*images;
      if (!decode_pngs) continue;
      absl::StatusOr<RgbImage> image = DecodePng(values[i]);
      if (!image.ok()) {
        defects.push_back(absl::StrCat("'", name, "'[", i, "]: ", image.status().message()));
      } else if (image->width != w || image->height != h) {
        defects.push_back(absl::StrCat("'", name, "'[", i, "] is ", image->width, "x",
                                       image->height, ", expected ", w, "x", h));
      }
    }
  };
  auto frames_of = [&](const std::string& name) {
    auto it = features.find(name);
    if (it == features.end() || it->second.kind_case() != Feature::kInt64List ||
        it->second.int64_list().value_size() != e.window) {
      defects.push_back(
          absl::StrCat("provenance '", name, "' missing or not ", e.window, " int64 values"));
      return;
    }
    const auto& v = it->second.int64_list().value();
    for (int i = 1; i < v.size(); ++i) {
      if (v[i] <= v[i - 1]) {
        defects.push_back(absl::StrCat("provenance '", name, "' not increasing at ", i));
        return;
      }
    }
  };
  if (e.single) {
    images_of("images", e.hr_w, e.hr_h);
    if (e.provenance) frames_of("images_frame");
  } else {
    images_of("input", e.lr_w, e.lr_h);
    images_of("target", e.hr_w, e.hr_h);
    if (e.provenance) {
      frames_of("input_frame");
      frames_of("target_frame");
    }
  }
  return defects;
}

// The largest record the packer can write for these examples, so a record length field beyond
// it is a defect found before it costs memory. PNG's worst case (incompressible pixels, stored
// deflate blocks, chunk framing) stays under the filtered bytes plus an eighth; 4 KiB covers
// the PNG headers, 64 KiB the Example's own framing and provenance. Absurd sizes (a damaged
// manifest) fall back to the TFRecord maximum.
uint64_t MaxRecordBytes(const Expect& e) {
  constexpr int64_t kMaxSide = 1 << 16, kMaxWindow = 1 << 16;
  auto png_bound = [](int64_t w, int64_t h) {
    const int64_t filtered = h * (1 + 3 * w);
    return filtered + filtered / 8 + 4096;
  };
  const int64_t sides[] = {e.lr_w, e.lr_h, e.hr_w, e.hr_h};
  for (int64_t side : sides) {
    if ((side <= 0 && !e.single) || side > kMaxSide) return kMaxTfRecordBytes;
  }
  if (e.window <= 0 || e.window > kMaxWindow || e.hr_w <= 0 || e.hr_h <= 0) {
    return kMaxTfRecordBytes;
  }
  int64_t image_pair = png_bound(e.hr_w, e.hr_h);
  if (!e.single) image_pair += png_bound(e.lr_w, e.lr_h);
  const int64_t bound = e.window * image_pair + (int64_t{64} << 10);
  return std::min<uint64_t>(static_cast<uint64_t>(bound), kMaxTfRecordBytes);
}

// A shard file read once, in chunks, for everything verify checks: size, SHA-256 and records.
class ShardFile {
 public:
  explicit ShardFile(std::string path) : path_(std::move(path)) {}
  ShardFile(const ShardFile&) = delete;
  ShardFile& operator=(const ShardFile&) = delete;
  ~ShardFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Open() {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return ErrnoError(errno, absl::StrCat("cannot open ", path_), "");
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(char* out, size_t n) {
    for (;;) {
      const ssize_t got = ::read(fd_, out, n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return ErrnoError(errno, absl::StrCat("cannot read ", path_), "");
      sha_.Update(out, static_cast<size_t>(got));
      bytes_ += got;
      return static_cast<size_t>(got);
    }
  }

  // Reads what the records did not (after a damaged one), so size and hash cover the file.
  absl::Status Drain() {
    std::string buffer(size_t{1} << 20, '\0');
    for (;;) {
      FP_ASSIGN_OR_RETURN(size_t got, Read(buffer.data(), buffer.size()));
      if (got == 0) return absl::OkStatus();
    }
  }

  int64_t bytes() const { return bytes_; }
  std::string HexDigest() { return sha_.HexDigest(); }

 private:
  std::string path_;
  int fd_ = -1;
  Sha256 sha_;
  int64_t bytes_ = 0;
};

// Bounds the records queued for the checking threads: reading outruns PNG decoding, and a
// shard of many small records (a GZIP bomb of them) must not pile up in memory.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [this] { return count_ < limit_; });
    ++count_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      --count_;
    }
    room_.notify_one();
  }

 private:
  const int limit_;
  std::mutex mu_;
  std::condition_variable room_;
  int count_ = 0;
};

// Defects are listed up to a bound: a shard of millions of bad records (a GZIP bomb of them)
// would otherwise hold millions of messages.
class Collector {
 public:
  static constexpr size_t kMaxDefects = 1000;

  void Defect(std::string s) {
    std::lock_guard lock(mu_);
    if (report_.defects.size() < kMaxDefects) {
      report_.defects.push_back(std::move(s));
    } else {
      ++unlisted_;
    }
  }
  // Enough is known to call the dataset defective: reading on would only cost time.
  bool Saturated() {
    std::lock_guard lock(mu_);
    return report_.defects.size() >= kMaxDefects;
  }
  VerifyReport Finish() {
    std::lock_guard lock(mu_);
    if (unlisted_ > 0) {
      report_.defects.push_back(absl::StrCat("... and ", unlisted_,
                                             " more defects (listing stops at ", kMaxDefects,
                                             "); verification stopped early"));
    }
    return std::move(report_);
  }
  void AddImages(int64_t n) {
    std::lock_guard lock(mu_);
    report_.images += n;
  }
  VerifyReport& report() { return report_; }

 private:
  std::mutex mu_;
  VerifyReport report_;
  int64_t unlisted_ = 0;
};

// A dataset in object storage: downloaded into a private local directory (removed on every
// path), verified like a directory, and the objects a reader's glob would find but the manifest
// does not list reported. Messages name the objects, not the local copies.
absl::StatusOr<VerifyReport> VerifyObjectDataset(const std::string& url,
                                                 const VerifyOptions& options) {
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenObjectStore(url));
  std::error_code ec;
  std::string local = (fs::temp_directory_path(ec) / "framepair-verify-XXXXXX").string();
  if (mkdtemp(local.data()) == nullptr) {
    return ErrnoError(errno, "cannot create a scratch directory to verify object storage",
                      "set TMPDIR to a writable local directory with room for the dataset");
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{local};
  absl::StatusOr<std::vector<std::string>> stray =
      DownloadDataset(*store, local, {kReportSidecarName});
  if (absl::IsInvalidArgument(stray.status())) return stray.status();
  VerifyReport report;
  if (!stray.ok() && !absl::IsNotFound(stray.status()) && !absl::IsDataLoss(stray.status())) {
    return stray.status();
  }
  if (!stray.ok()) {
    report.defects.push_back(std::string(stray.status().message()));
    return report;
  }
  FP_ASSIGN_OR_RETURN(report, VerifyDataset(local, options));
  const std::string prefix = store->Describe();
  auto rename = [&](std::string& s) {
    for (size_t p; (p = s.find(local + "/")) != std::string::npos;) {
      s.replace(p, local.size() + 1, prefix);
    }
  };
  for (std::string& d : report.defects) rename(d);
  for (std::string& w : report.warnings) rename(w);
  for (const std::string& name : *stray) {
    report.defects.push_back(absl::StrCat(prefix, name, ": shard not listed in manifest.json"));
  }
  return report;
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyDataset(const std::string& dir, const VerifyOptions& options) {
  if (IsObjectUrl(dir)) return VerifyObjectDataset(dir, options);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  }
  Collector out;
  absl::StatusOr<Manifest> manifest = ReadManifest(dir);
  // A manifest naming files outside the directory is refused, not reported: verify must not
  // read through it (and could not say which dataset it describes).
  if (absl::IsInvalidArgument(manifest.status())) return manifest.status();
  if (!manifest.ok()) {
    out.Defect(absl::StrCat(dir, "/manifest.json: ", manifest.status().message()));
    return out.report();
  }
  const Manifest& m = *manifest;
  Expect e;
  e.window = m.parameters().window();
  e.lr_w = m.lr_width();
  e.lr_h = m.lr_height();
  e.hr_w = m.hr_width();
  e.hr_h = m.hr_height();
  e.single = m.parameters().format() == "single";
  e.provenance = m.parameters().provenance();
  const int scale = m.parameters().scale();
  if (scale <= 0 || e.hr_w != e.lr_w * scale || e.hr_h != e.lr_h * scale) {
    out.Defect(absl::StrCat("manifest.json: HR ", e.hr_w, "x", e.hr_h, " is not ", scale, "x LR ",
                            e.lr_w, "x", e.lr_h));
  }

  std::set<std::string> listed;
  int64_t total = 0;
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  InFlight in_flight(2 * threads + 2);  // before the pool: its tasks use it until join()
  boost::asio::thread_pool pool(threads);
  const uint64_t max_record_bytes = MaxRecordBytes(e);
  // The training shards, then the validation file (same checks; its examples are not part of
  // total_examples).
  std::vector<const framepair::v1::ShardEntry*> files;
  for (const auto& shard : m.shards()) files.push_back(&shard);
  if (m.has_validation()) files.push_back(&m.validation());
  for (const framepair::v1::ShardEntry* entry : files) {
    const framepair::v1::ShardEntry& shard = *entry;
    const bool validation = entry == &m.validation();
    listed.insert(shard.file());
    const std::string path = dir + "/" + shard.file();
    ShardFile file(path);
    if (absl::Status opened = file.Open(); !opened.ok()) {
      out.Defect(std::string(opened.message()));
      continue;
    }
    if (!validation) ++out.report().shards;
    absl::StatusOr<TfRecordReader> reader = TfRecordReader::FromSource(
        [&file](char* buffer, size_t size) { return file.Read(buffer, size); }, max_record_bytes);
    int64_t records = 0;
    if (!reader.ok()) {
      out.Defect(absl::StrCat(path, ": ", reader.status().message()));
    } else {
      for (;;) {
        uint64_t offset = reader->offset();
        absl::StatusOr<std::string_view> record = reader->Next();
        if (absl::IsOutOfRange(record.status())) break;
        if (!record.ok()) {
          out.Defect(absl::StrCat(path, ": record ", records, ": ", record.status().message()));
          break;
        }
        if (out.Saturated()) break;
        in_flight.Acquire();
        boost::asio::post(pool, [&out, &e, &options, &in_flight, path, records, offset,
                                 data = std::string(*record)] {
          int64_t images = 0;
          for (const std::string& d : CheckExample(data, e, options.decode_pngs, &images)) {
            out.Defect(absl::StrCat(path, ": record ", records, " (offset ", offset, "): ", d));
          }
          out.AddImages(images);
          in_flight.Release();
        });
        ++records;
      }
    }
    if (absl::Status drained = file.Drain(); !drained.ok()) {
      out.Defect(std::string(drained.message()));
      continue;
    }
    if (file.bytes() != shard.bytes()) {
      out.Defect(absl::StrCat(path, ": ", file.bytes(), " bytes, manifest says ", shard.bytes()));
    }
    if (file.HexDigest() != shard.sha256()) {
      out.Defect(absl::StrCat(path, ": sha256 differs from the manifest"));
    }
    if (records != shard.examples()) {
      out.Defect(absl::StrCat(path, ": ", records, " records, manifest says ", shard.examples()));
    }
    (validation ? out.report().validation_examples : total) += records;
  }
  pool.join();
  out.report().examples = total;
  if (total != m.total_examples()) {
    out.Defect(absl::StrCat("manifest.json: total_examples ", m.total_examples(),
                            " but shards hold ", total));
  }
  // The report sidecar (sidecar.h) is optional: training never reads it, but one that is
  // there must describe these shards.
  if (absl::StatusOr<framepair::v1::ReportData> sidecar = ReadReportData(dir); sidecar.ok()) {
    if (std::string why = SidecarMismatch(*sidecar, m); !why.empty()) {
      out.report().warnings.push_back(absl::StrCat(dir, "/", kReportSidecarName, ": stale (", why,
                                                   "); reports leave out what it holds"));
    } else if (const int64_t examples =
                   m.total_examples() + (m.has_validation() ? m.validation().examples() : 0);
               sidecar->window_start_size() != examples) {
      out.Defect(absl::StrCat(dir, "/", kReportSidecarName, ": ", sidecar->window_start_size(),
                              " windows, the shards and validation file hold ", examples,
                              " examples"));
    }
  } else if (!absl::IsNotFound(sidecar.status())) {
    out.Defect(std::string(sidecar.status().message()));
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (absl::StrContains(name, ".tfrecord") && !listed.count(name)) {
      if (absl::StrContains(name, ".tmp")) {
        out.report().warnings.push_back(
            absl::StrCat(entry.path().string(), ": leftover temporary file (safe to delete)"));
      } else {
        out.Defect(absl::StrCat(entry.path().string(), ": shard not listed in manifest.json"));
      }
    }
  }
  return out.Finish();
}

}  // namespace framepair
