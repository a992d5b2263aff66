#include "pipeline/verify.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "png/png.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"
#include "util/sha256.h"

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

class Collector {
 public:
  void Defect(std::string s) {
    std::lock_guard lock(mu_);
    report_.defects.push_back(std::move(s));
  }
  void AddImages(int64_t n) {
    std::lock_guard lock(mu_);
    report_.images += n;
  }
  VerifyReport& report() { return report_; }

 private:
  std::mutex mu_;
  VerifyReport report_;
};

}  // namespace

absl::StatusOr<VerifyReport> VerifyDataset(const std::string& dir, const VerifyOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  }
  Collector out;
  absl::StatusOr<Manifest> manifest = ReadManifest(dir);
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
  boost::asio::thread_pool pool(
      options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency()));
  for (const auto& shard : m.shards()) {
    listed.insert(shard.file());
    const std::string path = dir + "/" + shard.file();
    absl::StatusOr<std::string> bytes = ReadFile(path);
    if (!bytes.ok()) {
      out.Defect(absl::StrCat(path, ": ", bytes.status().message()));
      continue;
    }
    ++out.report().shards;
    if (static_cast<int64_t>(bytes->size()) != shard.bytes()) {
      out.Defect(absl::StrCat(path, ": ", bytes->size(), " bytes, manifest says ", shard.bytes()));
    }
    if (Sha256Hex(*bytes) != shard.sha256()) {
      out.Defect(absl::StrCat(path, ": sha256 differs from the manifest"));
    }
    absl::StatusOr<TfRecordReader> reader = TfRecordReader::FromBytes(*std::move(bytes));
    if (!reader.ok()) {
      out.Defect(absl::StrCat(path, ": ", reader.status().message()));
      continue;
    }
    int64_t records = 0;
    for (;;) {
      uint64_t offset = reader->offset();
      absl::StatusOr<std::string_view> record = reader->Next();
      if (absl::IsOutOfRange(record.status())) break;
      if (!record.ok()) {
        out.Defect(absl::StrCat(path, ": record ", records, ": ", record.status().message()));
        break;
      }
      boost::asio::post(
          pool, [&out, &e, &options, path, records, offset, data = std::string(*record)] {
            int64_t images = 0;
            for (const std::string& d : CheckExample(data, e, options.decode_pngs, &images)) {
              out.Defect(absl::StrCat(path, ": record ", records, " (offset ", offset, "): ", d));
            }
            out.AddImages(images);
          });
      ++records;
    }
    if (records != shard.examples()) {
      out.Defect(absl::StrCat(path, ": ", records, " records, manifest says ", shard.examples()));
    }
    total += records;
  }
  pool.join();
  out.report().examples = total;
  if (total != m.total_examples()) {
    out.Defect(absl::StrCat("manifest.json: total_examples ", m.total_examples(),
                            " but shards hold ", total));
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
  return std::move(out.report());
}

}  // namespace framepair
