// Writes the seed corpora of the fuzz targets with the real writers, so the seeds are what
// framepair produces and the fuzzers start from deep inside each format (make-corpus.sh).
//   fuzz_make_corpus OUT_DIR   (writes OUT_DIR/<target>/<seed>)
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dataset/dataset.h"
#include "pipeline/artifacts.h"
#include "png/png.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"

namespace framepair {
namespace {

#define CHECK_OK(expr)                                                \
  do {                                                                \
    absl::Status s_ = (expr);                                         \
    if (!s_.ok()) {                                                   \
      std::fprintf(stderr, "%s: %s\n", #expr, s_.ToString().c_str()); \
      std::exit(1);                                                   \
    }                                                                 \
  } while (0)

template <typename T>
T Value(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s\n", v.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(v);
}

RgbImage Gradient(int width, int height, int seed) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(image.stride() * height);
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    image.pixels[i] = static_cast<uint8_t>(i * 7 + seed * 31);
  }
  return image;
}

void Put(const std::string& dir, const std::string& name, const std::string& bytes) {
  ::mkdir(dir.c_str(), 0755);
  CHECK_OK(WriteFileAtomically(dir + "/" + name, bytes));
}

// One Example the way pack.cc writes it: a window of 2 LR and 2 HR PNGs plus provenance.
std::string TinyExample() {
  std::vector<std::string> lr, hr;
  for (int i = 0; i < 2; ++i) {
    lr.push_back(Value(EncodePng(Gradient(4, 3, i))));
    hr.push_back(Value(EncodePng(Gradient(8, 6, i))));
  }
  framepair::v1::tf::Example example;
  AddBytesFeature(&example, "input", {&lr[0], &lr[1]});
  AddBytesFeature(&example, "target", {&hr[0], &hr[1]});
  AddInt64Feature(&example, "input_frame", {3, 4});
  AddInt64Feature(&example, "target_frame", {6, 8});
  return SerializeExampleDeterministic(example);
}

std::string Records(TfRecordCompression compression, int count) {
  TfRecordWriter writer(compression);
  for (int i = 0; i < count; ++i) CHECK_OK(writer.Write(TinyExample()));
  return Value(writer.Finish());
}

framepair::v1::SourceEntry Source(const std::string& role) {
  framepair::v1::SourceEntry s;
  s.set_role(role);
  s.set_path(role + ".mkv");
  s.set_sha256(std::string(64, 'a'));
  s.set_bytes(1234);
  s.set_codec("h264");
  s.set_width(role == "lr" ? 4 : 8);
  s.set_height(role == "lr" ? 3 : 6);
  s.set_frames_decoded(5);
  s.add_damaged_ranges("2:1");
  s.set_color_matrix("bt709");
  return s;
}

void Manifests(const std::string& out) {
  framepair::v1::Manifest m;
  m.set_version("0.1.0");
  m.set_split("train");
  auto* shard = m.add_shards();
  shard->set_file(ShardFileName("train", 0, 1, false));
  shard->set_examples(1);
  shard->set_bytes(100);
  shard->set_sha256(std::string(64, 'b'));
  m.set_total_examples(1);
  *m.add_sources() = Source("lr");
  *m.add_sources() = Source("hr");
  m.mutable_parameters()->set_scale(2);
  m.mutable_parameters()->set_window(2);
  m.mutable_parameters()->set_format("pair");
  m.mutable_parameters()->set_max_offset(5);
  m.mutable_stats()->set_pairs_aligned(4);
  m.add_features("input");
  m.add_features("target");
  m.set_lr_width(4);
  m.set_lr_height(3);
  m.set_hr_width(8);
  m.set_hr_height(6);
  const std::string dir = out + "/manifest";
  ::mkdir(dir.c_str(), 0755);
  CHECK_OK(WriteManifest(dir, m));
  CHECK_OK(WriteFileAtomically(dir + "/single.json", Value(ReadFile(dir + "/manifest.json"))));
  // The coordinator's multi-pair form.
  auto* pair = m.add_pairs();
  pair->set_job_id("job-1");
  *pair->add_sources() = Source("hr");
  pair->add_shard_files(ShardFileName("train_job-1", 0, 1, true));
  pair->set_examples(1);
  CHECK_OK(WriteManifest(dir, m));
  CHECK_OK(WriteFileAtomically(dir + "/pairs.json", Value(ReadFile(dir + "/manifest.json"))));
  std::remove((dir + "/manifest.json").c_str());
}

void WorkFiles(const std::string& out) {
  // A frame table of 5 frames, 3 kept, with 4x3 thumbnails (and one without any kept frame).
  const std::string dir = out + "/frame_table";
  ::mkdir(dir.c_str(), 0755);
  for (int kept_count : {3, 0}) {
    FrameTable t;
    t.video.path = "lr.mkv";
    t.video.container = "matroska,webm";
    t.video.codec = "h264";
    t.video.pixel_format = "yuv420p";
    t.video.color_matrix = "bt601";
    t.video.width = 32;
    t.video.height = 24;
    t.video.time_base_num = 1;
    t.video.time_base_den = 1000;
    t.video.fps = 30;
    t.video.frame_count_estimate = 5;
    for (int i = 0; i < 5; ++i) {
      t.frames.push_back(
          {i, i * 33, i == 0, 0x1234u + i, i % 2 ? DupKind::kExact : DupKind::kKept});
    }
    t.thumb_width = 4;
    t.thumb_height = 3;
    t.thumbs = Value(ThumbStore::Create(4 * 3 * 3, dir));
    for (int k = 0; k < kept_count; ++k) {
      t.kept.push_back(k * 2);
      CHECK_OK(t.thumbs.Append(Gradient(4, 3, k).pixels.data()));
    }
    CHECK_OK(t.thumbs.Finish());
    t.damaged.push_back({3, 1});
    CHECK_OK(
        WriteFrameTable(dir + (kept_count ? "/table.fptable" : "/empty.fptable"), t, Source("lr")));
  }

  AlignOutput aligned;
  aligned.pairs = {{0, 0, 0.5}, {2, 4, 1.25}, {4, 8, 3}};
  aligned.stats.rejected_spike = 1;
  aligned.stats.rejected_residual = 2;
  aligned.stats.reanchors = 1;
  aligned.stats.rate_ratio = 2;
  aligned.stats.mean_residual = 1.5;
  aligned.stats.start_offset = -3;
  aligned.stats.colour_samples = 10;
  aligned.stats.colour_gain[0] = 1.01;
  aligned.warnings.push_back("the recordings overlap for 3 frames only");
  ::mkdir((out + "/pairs").c_str(), 0755);
  CHECK_OK(WritePairs(out + "/pairs/pairs.pb", aligned));

  WindowPlan plan;
  plan.segments = {{0, 2}, {2, 3}};
  plan.scenes = 2;
  plan.windows = {{0, 0}, {1, 1}, {2, 1}};
  plan.shards = 2;
  plan.accounting.set_rejected_spike(1);
  plan.accounting.add_warnings("few windows");
  auto* rec = plan.accounting.add_recordings();
  rec->set_role("lr");
  rec->set_frames_decoded(5);
  ::mkdir((out + "/window_plan").c_str(), 0755);
  CHECK_OK(WriteWindowPlan(out + "/window_plan/plan.pb", plan));
}

}  // namespace
}  // namespace framepair

int main(int argc, char** argv) {
  using namespace framepair;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  ::mkdir(out.c_str(), 0755);
  Put(out + "/tfrecord", "one.tfrecord", Records(TfRecordCompression::kNone, 1));
  Put(out + "/tfrecord", "two.tfrecord.gz", Records(TfRecordCompression::kGzip, 2));
  Put(out + "/tfrecord", "empty.tfrecord.gz", Records(TfRecordCompression::kGzip, 0));
  Put(out + "/png", "rgb_4x3.png", Value(EncodePng(Gradient(4, 3, 0))));
  Put(out + "/png", "rgb_9x7_paeth.png",
      Value(EncodePng(Gradient(9, 7, 1), {.compression_level = 6, .filter = PngFilter::kPaeth})));
  Manifests(out);
  WorkFiles(out);
  return 0;
}
