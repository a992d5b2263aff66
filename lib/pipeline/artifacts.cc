#include "pipeline/artifacts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "framepair/v1/artifacts.pb.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

constexpr char kFrameTableMagic[8] = {'F', 'P', 'F', 'R', 'A', 'M', 'E', '1'};

// The most frames (or pairs, scenes, ...) a count in a work file may claim: 2^40 is 580 years
// of 60 fps footage, and a few such counts add up without overflowing an int64.
constexpr int64_t kMaxCount = int64_t{1} << 40;

absl::Status Damaged(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what,
                                          " (a damaged or foreign work file; the task that wrote "
                                          "it must run again)"));
}

// Reads exactly n bytes or reports a truncated file.
absl::Status ReadExactly(int fd, const std::string& path, void* out, size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return absl::UnavailableError(absl::StrCat(path, ": ", std::strerror(errno)));
    if (got == 0) return Damaged(path, "truncated");
    p += got;
    n -= static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

// The frame lists of a frame table header, checked before anything indexes with them: kept
// indexes name frames, in increasing order (readers binary-search them); damaged ranges start
// at a frame index or just past the last; dup kinds are the enum's.
absl::Status CheckFrameLists(const framepair::v1::FrameTableHeader& h, const std::string& path) {
  const int64_t n = h.frame_pts_size();
  if (h.frame_keyframe_size() != n || h.frame_content_hash_size() != n || h.frame_dup_size() != n ||
      h.damaged_first_index_size() != h.damaged_corrupt_frames_size()) {
    return Damaged(path, "inconsistent frame lists");
  }
  if (h.width() < 0 || h.height() < 0) return Damaged(path, "negative frame size");
  if (h.kept_scene_score_size() != 0 && h.kept_scene_score_size() != h.kept_index_size()) {
    return Damaged(path, "scene scores do not match the kept frames");
  }
  for (int32_t dup : h.frame_dup()) {
    if (dup < static_cast<int32_t>(DupKind::kKept) || dup > static_cast<int32_t>(DupKind::kNoise)) {
      return Damaged(path, "unknown duplicate kind");
    }
  }
  int64_t previous = -1;
  for (int64_t k : h.kept_index()) {
    if (k <= previous || k >= n) {
      return Damaged(path, absl::StrCat("kept frame index ", k,
                                        " is not an increasing index below ", n, " frames"));
    }
    previous = k;
  }
  for (int i = 0; i < h.damaged_first_index_size(); ++i) {
    if (h.damaged_first_index(i) < 0 || h.damaged_first_index(i) > n ||
        h.damaged_corrupt_frames(i) < 0) {
      return Damaged(path, "damaged range outside the frame list");
    }
  }
  return absl::OkStatus();
}

// Thumbnails follow the header: kept x (width x height x 3) bytes, all inside the file. Sizes
// are bounded first, so the product cannot overflow.
absl::Status CheckThumbs(int width, int height, size_t kept, uint64_t offset, uint64_t file_size,
                         const std::string& path) {
  if (width <= 0 || height <= 0 || width > 4096 || height > 4096) {
    return Damaged(path, "implausible thumbnail size");
  }
  const uint64_t record = static_cast<uint64_t>(width) * static_cast<uint64_t>(height) * 3;
  if (offset > file_size || kept > (file_size - offset) / record) {
    return Damaged(path, absl::StrCat("truncated: ", kept, " thumbnails of ", width, "x", height,
                                      " do not fit in ", file_size, " bytes"));
  }
  return absl::OkStatus();
}

template <typename Message>
absl::Status WriteMessage(const std::string& path, const Message& m) {
  return WriteFileAtomically(path, m.SerializeAsString());
}

template <typename Message>
absl::StatusOr<Message> ReadMessage(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  Message m;
  if (!m.ParseFromString(bytes)) return Damaged(path, "cannot be parsed");
  return m;
}

}  // namespace

absl::Status WriteFrameTable(const std::string& path, const FrameTable& t,
                             const framepair::v1::SourceEntry& source) {
  framepair::v1::FrameTableHeader h;
  const VideoInfo& v = t.video;
  h.set_path(v.path);
  h.set_container(v.container);
  h.set_codec(v.codec);
  h.set_pixel_format(v.pixel_format);
  h.set_color_matrix(v.color_matrix);
  h.set_full_range(v.full_range);
  h.set_width(v.width);
  h.set_height(v.height);
  h.set_time_base_num(v.time_base_num);
  h.set_time_base_den(v.time_base_den);
  h.set_fps(v.fps);
  h.set_frame_count_estimate(v.frame_count_estimate);
  for (const FrameRecord& f : t.frames) {
    h.add_frame_pts(f.pts);
    h.add_frame_keyframe(f.keyframe);
    h.add_frame_content_hash(f.content_hash);
    h.add_frame_dup(static_cast<int32_t>(f.dup));
  }
  for (int64_t k : t.kept) h.add_kept_index(k);
  for (float s : t.scene_scores) h.add_kept_scene_score(s);
  h.set_thumb_width(t.thumb_width);
  h.set_thumb_height(t.thumb_height);
  for (const DamagedRange& d : t.damaged) {
    h.add_damaged_first_index(d.first_index);
    h.add_damaged_corrupt_frames(d.corrupt_frames);
  }
  *h.mutable_source() = source;

  std::string header = h.SerializeAsString();
  uint64_t header_len = header.size();  // little-endian on every platform we build for
  FP_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path));
  FP_RETURN_IF_ERROR(file.Append(std::string_view(kFrameTableMagic, sizeof(kFrameTableMagic))));
  FP_RETURN_IF_ERROR(file.Append(std::string_view(reinterpret_cast<const char*>(&header_len), 8)));
  FP_RETURN_IF_ERROR(file.Append(header));
  // In slices, releasing each: the thumbnails may be larger than the memory we want to use.
  constexpr size_t kSlice = 8 << 20;
  const auto* thumbs = reinterpret_cast<const char*>(t.thumbs.data());
  for (size_t done = 0; done < t.thumbs.bytes(); done += kSlice) {
    const size_t n = std::min(kSlice, t.thumbs.bytes() - done);
    FP_RETURN_IF_ERROR(file.Append(std::string_view(thumbs + done, n)));
    t.thumbs.ReleaseResident();
  }
  return file.Commit();
}

absl::StatusOr<StoredFrameTable> ReadFrameTable(const std::string& path, bool with_thumbs) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such work file"));
    return absl::UnavailableError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::UnavailableError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  char magic[8];
  uint64_t header_len = 0;
  FP_RETURN_IF_ERROR(ReadExactly(fd, path, magic, sizeof(magic)));
  if (std::memcmp(magic, kFrameTableMagic, sizeof(magic)) != 0) {
    return Damaged(path, "not a frame table");
  }
  FP_RETURN_IF_ERROR(ReadExactly(fd, path, &header_len, sizeof(header_len)));
  // The header is read into memory: its length must fit in the file, not just in an int64.
  constexpr uint64_t kPrefix = sizeof(kFrameTableMagic) + sizeof(header_len);
  if (header_len > (1ull << 30) || header_len > file_size - kPrefix) {
    return Damaged(path, absl::StrCat("header of ", header_len, " bytes in a file of ", file_size));
  }
  std::string header(header_len, '\0');
  FP_RETURN_IF_ERROR(ReadExactly(fd, path, header.data(), header.size()));
  framepair::v1::FrameTableHeader h;
  if (!h.ParseFromString(header)) return Damaged(path, "header cannot be parsed");
  FP_RETURN_IF_ERROR(CheckFrameLists(h, path));
  const int n = h.frame_pts_size();

  StoredFrameTable out;
  FrameTable& t = out.table;
  VideoInfo& v = t.video;
  v.path = h.path();
  v.container = h.container();
  v.codec = h.codec();
  v.pixel_format = h.pixel_format();
  v.color_matrix = h.color_matrix();
  v.full_range = h.full_range();
  v.width = h.width();
  v.height = h.height();
  v.time_base_num = h.time_base_num();
  v.time_base_den = h.time_base_den();
  v.fps = h.fps();
  v.frame_count_estimate = h.frame_count_estimate();
  t.frames.resize(n);
  for (int i = 0; i < n; ++i) {
    t.frames[i] = {i, h.frame_pts(i), h.frame_keyframe(i), h.frame_content_hash(i),
                   static_cast<DupKind>(h.frame_dup(i))};
  }
  t.kept.assign(h.kept_index().begin(), h.kept_index().end());
  t.scene_scores.assign(h.kept_scene_score().begin(), h.kept_scene_score().end());
  t.thumb_width = h.thumb_width();
  t.thumb_height = h.thumb_height();
  for (int i = 0; i < h.damaged_first_index_size(); ++i) {
    t.damaged.push_back({h.damaged_first_index(i), h.damaged_corrupt_frames(i)});
  }
  out.source = h.source();
  if (with_thumbs) {
    FP_RETURN_IF_ERROR(CheckThumbs(t.thumb_width, t.thumb_height, t.kept.size(),
                                   kPrefix + header_len, file_size, path));
    // Mapped, not read: they can be larger than the memory a worker should use (thumb_store.h).
    absl::StatusOr<ThumbStore> thumbs =
        ThumbStore::Map(path, kPrefix + header_len, t.kept.size(),
                        static_cast<size_t>(t.thumb_width) * t.thumb_height * 3);
    if (!thumbs.ok()) {
      if (thumbs.status().code() == absl::StatusCode::kDataLoss) return thumbs.status();
      return absl::UnavailableError(thumbs.status().message());
    }
    t.thumbs = *std::move(thumbs);
  }
  return out;
}

absl::Status WritePairs(const std::string& path, const AlignOutput& aligned) {
  const AlignStats& stats = aligned.stats;
  framepair::v1::AlignedPairs m;
  for (const AlignedPair& p : aligned.pairs) {
    m.add_lr_frame(p.lr_frame);
    m.add_hr_frame(p.hr_frame);
    m.add_residual(p.residual);
  }
  m.set_rejected(stats.rejected());
  m.set_mean_residual(stats.mean_residual);
  m.set_start_offset(stats.start_offset);
  m.set_rejected_spike(stats.rejected_spike);
  m.set_rejected_residual(stats.rejected_residual);
  m.set_rejected_ambiguous(stats.rejected_ambiguous);
  m.set_reanchors(stats.reanchors);
  m.set_rate_ratio(stats.rate_ratio);
  for (const std::string& w : aligned.warnings) m.add_warnings(w);
  for (const GatedPair& g : aligned.gated) {
    m.add_gated_lr_frame(g.lr_frame);
    m.add_gated_hr_frame(g.hr_frame);
    m.add_gated_residual(g.residual);
    m.add_gated_gate(static_cast<int32_t>(g.gate));
  }
  if (stats.colour_samples > 0) {
    for (int c = 0; c < 3; ++c) {
      m.add_colour_gain(stats.colour_gain[c]);
      m.add_colour_offset(stats.colour_offset[c]);
    }
  }
  return WriteMessage(path, m);
}

absl::StatusOr<AlignOutput> ReadPairs(const std::string& path) {
  FP_ASSIGN_OR_RETURN(auto m, ReadMessage<framepair::v1::AlignedPairs>(path));
  if (m.hr_frame_size() != m.lr_frame_size() || m.residual_size() != m.lr_frame_size()) {
    return Damaged(path, "inconsistent pair lists");
  }
  // Frame indexes; the frame tables bound them from above where they are used.
  for (int i = 0; i < m.lr_frame_size(); ++i) {
    if (m.lr_frame(i) < 0 || m.hr_frame(i) < 0) {
      return Damaged(path, absl::StrCat("pair ", i, " has a negative frame index"));
    }
  }
  // Counts of pairs and frames. Bounded, not just non-negative: their users add them up
  // (AlignStats::rejected(), the accounting), and a crafted INT64_MAX overflowed that sum
  // (found by fuzz/pairs_fuzzer).
  for (int64_t count : {m.rejected(), m.rejected_spike(), m.rejected_residual(),
                        m.rejected_ambiguous(), m.reanchors()}) {
    if (count < 0 || count > kMaxCount) return Damaged(path, "negative or implausible count");
  }
  const int gated = m.gated_lr_frame_size();
  if (m.gated_hr_frame_size() != gated || m.gated_residual_size() != gated ||
      m.gated_gate_size() != gated) {
    return Damaged(path, "inconsistent gated pair lists");
  }
  AlignOutput out;
  out.pairs.reserve(m.lr_frame_size());
  for (int i = 0; i < m.lr_frame_size(); ++i) {
    out.pairs.push_back({m.lr_frame(i), m.hr_frame(i), m.residual(i)});
  }
  for (int i = 0; i < gated; ++i) {
    const int32_t why = m.gated_gate(i);
    if (m.gated_lr_frame(i) < 0 || m.gated_hr_frame(i) < 0 || why < 1 || why > 3) {
      return Damaged(path, absl::StrCat("gated pair ", i, " is malformed"));
    }
    out.gated.push_back(
        {m.gated_lr_frame(i), m.gated_hr_frame(i), m.gated_residual(i), static_cast<Gate>(why)});
  }
  out.stats.pairs = m.lr_frame_size();
  out.stats.rejected_spike = m.rejected_spike();
  out.stats.rejected_residual = m.rejected_residual();
  out.stats.rejected_ambiguous = m.rejected_ambiguous();
  out.stats.reanchors = m.reanchors();
  out.stats.rate_ratio = m.rate_ratio();
  out.stats.mean_residual = m.mean_residual();
  out.stats.start_offset = m.start_offset();
  out.warnings.assign(m.warnings().begin(), m.warnings().end());
  if (m.colour_gain_size() == 3 && m.colour_offset_size() == 3) {
    for (int c = 0; c < 3; ++c) {
      out.stats.colour_gain[c] = m.colour_gain(c);
      out.stats.colour_offset[c] = m.colour_offset(c);
    }
    out.stats.colour_samples = 1;
  }
  return out;
}

std::vector<Window> WindowPlan::WindowsOfShard(int shard) const {
  std::vector<Window> out;
  for (const Window& w : windows) {
    if (w.shard == shard) out.push_back(w);
  }
  return out;
}

absl::Status WriteWindowPlan(const std::string& path, const WindowPlan& plan) {
  framepair::v1::WindowPlan m;
  for (const Segment& s : plan.segments) {
    m.add_segment_begin(s.begin);
    m.add_segment_end(s.end);
  }
  m.set_scenes(plan.scenes);
  for (const Window& w : plan.windows) {
    m.add_window_start(w.start);
    m.add_window_shard(w.shard);
  }
  m.set_shards(plan.shards);
  *m.mutable_accounting() = plan.accounting;
  return WriteMessage(path, m);
}

absl::StatusOr<WindowPlan> ReadWindowPlan(const std::string& path) {
  FP_ASSIGN_OR_RETURN(auto m, ReadMessage<framepair::v1::WindowPlan>(path));
  if (m.segment_begin_size() != m.segment_end_size() ||
      m.window_start_size() != m.window_shard_size()) {
    return Damaged(path, "inconsistent plan lists");
  }
  // Positions in the pair list; the packer bounds them from above against the pairs it has.
  if (m.shards() < 1 || m.scenes() < 0 || m.scenes() > kMaxCount) {
    return Damaged(path, "no shards or a negative or implausible count");
  }
  for (int i = 0; i < m.segment_begin_size(); ++i) {
    if (m.segment_begin(i) < 0 || m.segment_end(i) < m.segment_begin(i)) {
      return Damaged(path, absl::StrCat("segment ", i, " is not a range of pairs"));
    }
  }
  for (int i = 0; i < m.window_start_size(); ++i) {
    if (m.window_start(i) < 0 || m.window_shard(i) < 0 || m.window_shard(i) > m.shards() ||
        (m.window_shard(i) == m.shards() && !m.accounting().has_validation())) {
      // shards() itself is the validation pseudo-shard (WindowPlan::ValidationShard) of a plan
      // with a validation split.
      return Damaged(path, absl::StrCat("window ", i, " has a negative start or no such shard"));
    }
  }
  WindowPlan plan;
  for (int i = 0; i < m.segment_begin_size(); ++i) {
    plan.segments.push_back({m.segment_begin(i), m.segment_end(i)});
  }
  plan.scenes = m.scenes();
  for (int i = 0; i < m.window_start_size(); ++i) {
    plan.windows.push_back({m.window_start(i), m.window_shard(i)});
  }
  plan.shards = m.shards();
  plan.accounting = m.accounting();
  return plan;
}

}  // namespace framepair
