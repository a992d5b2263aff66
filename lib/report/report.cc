#include "report/report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataset/dataset.h"
#include "framepair/v1/report.pb.h"
#include "google/protobuf/util/json_util.h"
#include "pipeline/accounting.h"
#include "pipeline/sidecar.h"
#include "png/png.h"
#include "report/examples.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

using framepair::v1::Manifest;
using framepair::v1::ReportData;
using framepair::v1::ReportRecording;
using framepair::v1::tf::Example;

// Everything from the dataset (paths, codec names, warnings) is escaped: the page must not be
// scriptable by a file name.
std::string Esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string PngDataUri(const RgbImage& image) {
  PngOptions png;
  png.compression_level = 9;  // once per report; size is what the reader downloads
  absl::StatusOr<std::string> bytes = EncodePng(image, png);
  if (!bytes.ok()) return "";
  return "data:image/png;base64," + absl::Base64Escape(*bytes);
}

// --- Images ---------------------------------------------------------------------------

RgbImage Blank(int w, int h) {
  RgbImage im;
  im.width = w;
  im.height = h;
  im.pixels.assign(static_cast<size_t>(w) * h * 3, 0);
  return im;
}

// Nearest neighbour: every output pixel is one source pixel, so LR blockiness stays visible.
RgbImage ResizeNearest(const RgbImage& src, int w, int h) {
  RgbImage out = Blank(w, h);
  for (int y = 0; y < h; ++y) {
    const int sy = std::min(src.height - 1, static_cast<int>(int64_t{y} * src.height / h));
    for (int x = 0; x < w; ++x) {
      const int sx = std::min(src.width - 1, static_cast<int>(int64_t{x} * src.width / w));
      std::copy_n(src.row(sy) + 3 * sx, 3, out.row(y) + 3 * x);
    }
  }
  return out;
}

// Box average over the source pixels each output pixel covers (a fair picture of HR at
// thumbnail size, and of HR at LR size for the difference).
RgbImage ResizeArea(const RgbImage& src, int w, int h) {
  if (w >= src.width || h >= src.height) return ResizeNearest(src, w, h);
  RgbImage out = Blank(w, h);
  for (int y = 0; y < h; ++y) {
    const int y0 = static_cast<int>(int64_t{y} * src.height / h);
    const int y1 = std::max(y0 + 1, static_cast<int>(int64_t{y + 1} * src.height / h));
    for (int x = 0; x < w; ++x) {
      const int x0 = static_cast<int>(int64_t{x} * src.width / w);
      const int x1 = std::max(x0 + 1, static_cast<int>(int64_t{x + 1} * src.width / w));
      for (int c = 0; c < 3; ++c) {
        int64_t sum = 0;
        for (int sy = y0; sy < y1; ++sy) {
          for (int sx = x0; sx < x1; ++sx) sum += src.row(sy)[3 * sx + c];
        }
        out.row(y)[3 * x + c] = static_cast<uint8_t>(sum / ((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return out;
}

void Paste(const RgbImage& tile, int x, int y, RgbImage* dst) {
  for (int ty = 0; ty < tile.height && y + ty < dst->height; ++ty) {
    const int n = std::min(tile.width, dst->width - x);
    if (n > 0) std::copy_n(tile.row(ty), 3 * n, dst->row(y + ty) + 3 * x);
  }
}

// One column of a sheet: LR (nearest neighbour), HR (area), and |LR - HR| at LR size times
// `gain`, all `w` x `h`. Without LR (single format): HR only, the other rows black.
struct Column {
  RgbImage lr, hr, diff;
};

Column MakeColumn(const RgbImage* lr, const RgbImage& hr, int w, int h, int gain) {
  Column c;
  c.hr = ResizeArea(hr, w, h);
  if (lr == nullptr || lr->width <= 0 || lr->height <= 0) {
    c.lr = Blank(w, h);
    c.diff = Blank(w, h);
    return c;
  }
  c.lr = ResizeNearest(*lr, w, h);
  RgbImage hr_at_lr = ResizeArea(hr, lr->width, lr->height);
  RgbImage diff = Blank(lr->width, lr->height);
  for (size_t i = 0; i < diff.pixels.size(); ++i) {
    const int d = std::abs(int{lr->pixels[i]} - int{hr_at_lr.pixels[i]}) * gain;
    diff.pixels[i] = static_cast<uint8_t>(std::min(255, d));
  }
  c.diff = ResizeNearest(diff, w, h);
  return c;
}

RgbImage Sheet(const std::vector<Column>& columns, int w, int h) {
  constexpr int kGap = 2;
  const int n = static_cast<int>(columns.size());
  RgbImage sheet = Blank(std::max(1, n * (w + kGap) - kGap), 3 * h + 2 * kGap);
  std::fill(sheet.pixels.begin(), sheet.pixels.end(), 255);
  for (int i = 0; i < n; ++i) {
    const int x = i * (w + kGap);
    Paste(columns[i].lr, x, 0, &sheet);
    Paste(columns[i].hr, x, h + kGap, &sheet);
    Paste(columns[i].diff, x, 2 * (h + kGap), &sheet);
  }
  return sheet;
}

// --- Shards ---------------------------------------------------------------------------

// One example of a shard as stored: its PNGs and their source frame numbers, pointing into
// the example (nothing decoded until a frame is asked for).
struct ExampleFrames {
  const google::protobuf::RepeatedPtrField<std::string>* lr = nullptr;
  const google::protobuf::RepeatedPtrField<std::string>* hr = nullptr;
  const google::protobuf::RepeatedField<int64_t>* lr_frame = nullptr;
  const google::protobuf::RepeatedField<int64_t>* hr_frame = nullptr;

  int size() const { return hr ? hr->size() : 0; }
  // The source frame number of frame k of a side, or -1.
  static int64_t At(const google::protobuf::RepeatedField<int64_t>* f, int k) {
    return f != nullptr && k < f->size() ? f->Get(k) : -1;
  }
};

ExampleFrames FramesOf(const Example& example, bool single) {
  const auto& f = example.features().feature();
  ExampleFrames out;
  auto images = [&](const char* name) -> const google::protobuf::RepeatedPtrField<std::string>* {
    auto it = f.find(name);
    return it == f.end() ? nullptr : &it->second.bytes_list().value();
  };
  auto frames = [&](const char* name) -> const google::protobuf::RepeatedField<int64_t>* {
    auto it = f.find(name);
    return it == f.end() ? nullptr : &it->second.int64_list().value();
  };
  if (single) {
    out.hr = images("images");
    out.hr_frame = frames("images_frame");
  } else {
    out.lr = images("input");
    out.hr = images("target");
    out.lr_frame = frames("input_frame");
    out.hr_frame = frames("target_frame");
  }
  return out;
}

// --- SVG ------------------------------------------------------------------------------

constexpr int kPlotWidth = 960;

double SecondsOf(int64_t frame, double fps) {
  return fps > 0 ? frame / fps : static_cast<double>(frame);
}

std::string Axis(double max_seconds, bool seconds, int y) {
  std::string svg =
      absl::StrFormat(R"(<line x1="0" y1="%d" x2="%d" y2="%d" class="axis"/>)", y, kPlotWidth, y);
  for (int i = 0; i <= 8; ++i) {
    const double x = i * kPlotWidth / 8.0;
    absl::StrAppendFormat(
        &svg, R"(<text x="%.0f" y="%d" class="tick" text-anchor="%s">%.1f%s</text>)", x, y + 12,
        i == 0 ? "start" : (i == 8 ? "end" : "middle"), max_seconds * i / 8, seconds ? " s" : "");
  }
  return svg;
}

// The gates (align.h Gate, report.proto gated_gate), as the page names them.
const char* GateName(int gate) {
  switch (gate) {
    case 1:
      return "spike";
    case 2:
      return "residual";
    case 3:
      return "ambiguous";
  }
  return "unknown";
}

// One recording over source time: a column per bin, stacked by class (paired, gated,
// unpaired, duplicate), damaged ranges, segment breaks and windows below. A gated column
// names its gates in a tooltip.
std::string Timeline(const ReportRecording& r, const ReportData& d, bool lr_side) {
  const int64_t frames = std::max<int64_t>(r.frames(), 1);
  const int bins = static_cast<int>(std::min<int64_t>(frames, kPlotWidth / 2));
  const double bin_w = static_cast<double>(kPlotWidth) / bins;
  constexpr int kBarH = 40;
  constexpr int kClasses = 4;  // FrameClass values
  std::vector<std::array<int64_t, kClasses>> counts(bins, {0, 0, 0, 0});
  const std::string& cls = r.frame_class();
  for (int64_t f = 0; f < static_cast<int64_t>(cls.size()); ++f) {
    const int b = static_cast<int>(f * bins / frames);
    const int c = static_cast<unsigned char>(cls[f]);
    if (c < kClasses) ++counts[b][c];
  }
  // Per bin, the gated pairs by gate (index 1..3).
  std::vector<std::array<int64_t, 4>> gates(bins, {0, 0, 0, 0});
  const auto& gated_frames = lr_side ? d.gated_lr_frame() : d.gated_hr_frame();
  for (int i = 0; i < gated_frames.size() && i < d.gated_gate_size(); ++i) {
    const int64_t f = gated_frames[i];
    const int g = d.gated_gate(i);
    if (f < 0 || f >= frames || g < 1 || g > 3) continue;
    ++gates[static_cast<size_t>(f * bins / frames)][static_cast<size_t>(g)];
  }
  const bool seconds = r.fps() > 0;
  const double total_s = SecondsOf(frames, r.fps());
  std::string svg = absl::StrFormat(
      R"(<svg class="timeline" data-role="%s" width="%d" height="%d" viewBox="0 -4 %d %d">)",
      Esc(r.role()), kPlotWidth, kBarH + 46, kPlotWidth, kBarH + 46);
  // Stack order bottom-up: paired (green), gated (purple), unpaired (red), duplicate (grey).
  static constexpr const char* kClass[kClasses] = {"dup", "paired", "unpaired", "gated"};
  static constexpr int kOrder[kClasses] = {1, 3, 2, 0};
  for (int b = 0; b < bins; ++b) {
    const int64_t n = counts[b][0] + counts[b][1] + counts[b][2] + counts[b][3];
    if (n == 0) continue;
    double y = kBarH;
    for (int k : kOrder) {
      if (counts[b][k] == 0) continue;
      const double h = kBarH * static_cast<double>(counts[b][k]) / n;
      y -= h;
      std::string title;
      if (k == framepair::v1::FRAME_GATED) {
        title = absl::StrCat("<title>", counts[b][k], " frame(s) of refused pairs:");
        for (int g = 1; g <= 3; ++g) {
          if (gates[b][g] > 0) absl::StrAppend(&title, " ", GateName(g), " ", gates[b][g]);
        }
        title += "</title>";
      }
      absl::StrAppendFormat(
          &svg, R"(<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f">%s</rect>)",
          kClass[k], b * bin_w, y, bin_w, h, title);
    }
  }
  auto x_of = [&](int64_t frame) { return static_cast<double>(frame) * kPlotWidth / frames; };
  for (int i = 0; i < r.damaged_first_size(); ++i) {
    absl::StrAppendFormat(
        &svg,
        R"(<rect class="damaged" x="%.2f" y="0" width="3" height="%d"><title>%d damaged frame(s) before frame %d</title></rect>)",
        x_of(r.damaged_first(i)) - 1.5, kBarH, r.damaged_frames(i), r.damaged_first(i));
  }
  auto frame_of_pair = [&](int64_t pos) -> int64_t {
    if (lr_side) return pos < d.lr_frame_size() ? d.lr_frame(pos) : 0;
    return pos < d.hr_frame_size() ? d.hr_frame(pos) : 0;
  };
  const int64_t pairs = d.hr_frame_size();
  // Segment breaks: every segment start but the first.
  for (int i = 1; i < d.segment_begin_size(); ++i) {
    if (d.segment_begin(i) >= pairs) continue;
    absl::StrAppendFormat(&svg, R"(<line class="cut" x1="%.2f" y1="0" x2="%.2f" y2="%d"/>)",
                          x_of(frame_of_pair(d.segment_begin(i))),
                          x_of(frame_of_pair(d.segment_begin(i))), kBarH + 8);
  }
  // Windows, as spans under the bar.
  const int64_t window = std::max(1, d.window());
  for (int i = 0; i < d.window_start_size(); ++i) {
    const int64_t s = d.window_start(i), e = std::min(pairs - 1, s + window - 1);
    if (s < 0 || s >= pairs) continue;
    const double x0 = x_of(frame_of_pair(s)), x1 = x_of(frame_of_pair(e) + 1);
    absl::StrAppendFormat(&svg, R"(<rect class="window" x="%.2f" y="%d" width="%.2f" height="6"/>)",
                          x0, kBarH + 4, std::max(1.0, x1 - x0));
  }
  svg += Axis(total_s, seconds, kBarH + 14);
  svg += "</svg>";
  return svg;
}

// Residual of every pair over HR source time (the max of each pixel column, so a lone spike
// stays visible), with the residual gate drawn.
std::string ResidualPlot(const ReportData& d, const ReportRecording& hr, double gate) {
  constexpr int kH = 160;
  const int64_t pairs = d.hr_frame_size();
  const int64_t frames = std::max<int64_t>(hr.frames(), 1);
  float top = static_cast<float>(gate);
  for (float r : d.residual()) top = std::max(top, r);
  for (float r : d.gated_residual()) top = std::max(top, r);
  top = top <= 0 ? 1.0f : top * 1.1f;
  std::vector<float> column(kPlotWidth, -1);
  for (int64_t i = 0; i < pairs; ++i) {
    const int x =
        static_cast<int>(std::min<int64_t>(kPlotWidth - 1, d.hr_frame(i) * kPlotWidth / frames));
    column[x] = std::max(column[x], d.residual(i));
  }
  std::string svg =
      absl::StrFormat(R"(<svg class="residuals" width="%d" height="%d" viewBox="-30 -6 %d %d">)",
                      kPlotWidth + 30, kH + 26, kPlotWidth + 30, kH + 26);
  std::string points;
  for (int x = 0; x < kPlotWidth; ++x) {
    if (column[x] < 0) continue;
    absl::StrAppendFormat(&points, "%d,%.1f ", x, kH - kH * column[x] / top);
  }
  absl::StrAppendFormat(&svg, R"(<polyline class="residual" points="%s"/>)", points);
  // Refused pairs as marks, one per pixel column and gate (the highest residual), each saying
  // which gate refused it: the page stays small however many there are.
  std::map<std::pair<int, int>, int64_t> marks;  // (x, gate) -> gated pair index
  for (int64_t i = 0;
       i < d.gated_hr_frame_size() && i < d.gated_gate_size() && i < d.gated_residual_size(); ++i) {
    const int x = static_cast<int>(
        std::clamp<int64_t>(d.gated_hr_frame(i) * kPlotWidth / frames, 0, kPlotWidth - 1));
    auto [it, inserted] = marks.try_emplace({x, d.gated_gate(i)}, i);
    if (!inserted && d.gated_residual(i) > d.gated_residual(it->second)) it->second = i;
  }
  for (const auto& [key, i] : marks) {
    const int g = key.second;
    absl::StrAppendFormat(
        &svg,
        R"(<rect class="gated g%d" x="%d" y="%.1f" width="3" height="3"><title>refused by the %s gate: residual %.2f, %sHR frame %d</title></rect>)",
        std::clamp(g, 1, 3), key.first - 1, kH - kH * d.gated_residual(i) / top - 1.5, GateName(g),
        d.gated_residual(i),
        d.gated_lr_frame_size() > i ? absl::StrCat("LR frame ", d.gated_lr_frame(i), ", ") : "",
        d.gated_hr_frame(i));
  }
  for (int i = 0; i <= 4; ++i) {
    const double v = top * i / 4;
    absl::StrAppendFormat(&svg,
                          R"(<text x="-4" y="%.1f" class="tick" text-anchor="end">%.1f</text>)",
                          kH - kH * v / top + 3, v);
  }
  if (gate > 0) {
    const double y = kH - kH * gate / top;
    absl::StrAppendFormat(
        &svg,
        R"(<line class="gate" x1="0" y1="%.1f" x2="%d" y2="%.1f"/><text x="%d" y="%.1f" class="tick" text-anchor="end">--max-residual %.1f</text>)",
        y, kPlotWidth, y, kPlotWidth, y - 3, gate);
  }
  svg += Axis(SecondsOf(frames, hr.fps()), hr.fps() > 0, kH);
  svg += "</svg>";
  return svg;
}

// --- Page -----------------------------------------------------------------------------

constexpr char kStyle[] = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.paired{fill:#2e9d4f}.unpaired{fill:#d33c3c}.dup{fill:#bbb}.damaged{fill:#000}
.gated{fill:#8e44ad}.g1{fill:#e67e22}.g2{fill:#8e44ad}.g3{fill:#16a085}
.window{fill:#2f6fd6}.cut{stroke:#e08a00;stroke-width:1}.axis{stroke:#888}
.tick{font-size:10px;fill:#555}.residual{fill:none;stroke:#2f6fd6;stroke-width:1}
.gate{stroke:#d33c3c;stroke-dasharray:4 3}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
.warn{color:#a33}.sheet{image-rendering:pixelated;display:block;margin-top:4px}
.frames{display:grid;font-size:10px;color:#555}
figure{margin:12px 0}figcaption{font-size:12px;color:#333}
pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}
)";

std::string Legend() {
  return R"(<p class="legend"><span style="background:#2e9d4f"></span>paired<span style="background:#d33c3c"></span>unpaired (no partner)<span style="background:#8e44ad"></span>gated (its pair refused by a gate: spike, residual or ambiguous)<span style="background:#bbb"></span>duplicate<span style="background:#000"></span>damaged<span style="background:#e08a00"></span>segment break (scene cut or continuity break)<span style="background:#2f6fd6"></span>window</p>)";
}

std::string Inputs(const Manifest& m, const ReportData* d) {
  std::string html =
      "<table><tr><th></th><th>file</th><th>container / codec</th><th>size</th>"
      "<th>frame rate</th><th>colour</th><th>frames</th><th>duration</th>"
      "<th>sha256</th></tr>";
  for (const auto& s : m.sources()) {
    const ReportRecording* r = nullptr;
    if (d != nullptr) {
      for (const auto& rec : d->recordings()) {
        if (rec.role() == s.role()) r = &rec;
      }
    }
    const double fps = r ? r->fps() : 0;
    absl::StrAppendFormat(
        &html,
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%dx%d</td><td>%s</td><td>%s %s range</td>"
        "<td class=n>%d</td><td>%s</td><td><code>%s</code></td></tr>",
        s.role() == "lr" ? "LR" : "HR", Esc(s.path()),
        Esc(r ? absl::StrCat(r->container(), " / ", r->codec(), " ", r->pixel_format())
              : s.codec()),
        s.width(), s.height(), fps > 0 ? absl::StrFormat("%.3f fps", fps) : "unknown",
        Esc(s.color_matrix()), s.full_range() ? "full" : "limited", s.frames_decoded(),
        fps > 0 ? absl::StrFormat("%.2f s", s.frames_decoded() / fps) : "unknown",
        Esc(s.sha256().substr(0, 16)));
  }
  return html + "</table>";
}

std::string AccountingHtml(const Manifest& m) {
  const auto& a = m.stats().accounting();
  std::string html =
      "<table><tr><th></th><th>decoded</th><th>duplicates</th><th>distinct</th><th>paired</th>"
      "<th>unpaired</th><th>longest unpaired runs</th></tr>";
  for (const auto& r : a.recordings()) {
    std::string runs;
    for (const auto& range : r.longest_unpaired()) {
      absl::StrAppend(&runs, runs.empty() ? "" : "<br>", range.frames(), ": ",
                      Esc(DescribeRange(range)));
    }
    absl::StrAppendFormat(&html,
                          "<tr><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td>"
                          "<td class=n>%d</td><td class=n>%d</td><td>%s</td></tr>",
                          r.role() == "lr" ? "LR" : "HR", r.frames_decoded(), r.duplicates(),
                          r.distinct(), r.paired(), r.unpaired(), runs.empty() ? "none" : runs);
  }
  html += "</table>";
  absl::StrAppendFormat(
      &html,
      "<p>Pairs aligned %d; rejected %d: spike filter %d, residual gate %d, ambiguous %d. "
      "Re-anchored %d time(s). Segment breaks: %d lost moments, %d stalls. Windows: %d of %d "
      "requested, in %d shard(s), %d examples.</p>",
      m.stats().pairs_aligned(), m.stats().pairs_rejected(), a.rejected_spike(),
      a.rejected_residual(), a.rejected_ambiguous(), a.reanchors(), a.breaks_lost_moment(),
      a.breaks_stall(), a.windows_written(), a.windows_requested(), m.shards_size(),
      m.total_examples());
  if (a.colour_gain_size() == 3 && a.colour_offset_size() == 3) {
    absl::StrAppendFormat(
        &html,
        "<p>Colour fit HR = gain &times; LR + offset: R %.3f/%+.1f, G %.3f/%+.1f, "
        "B %.3f/%+.1f.</p>",
        a.colour_gain(0), a.colour_offset(0), a.colour_gain(1), a.colour_offset(1),
        a.colour_gain(2), a.colour_offset(2));
  }
  if (a.warnings_size() > 0) {
    html += "<ul class=warn>";
    for (const std::string& w : a.warnings()) absl::StrAppend(&html, "<li>", Esc(w), "</li>");
    html += "</ul>";
  } else {
    html += "<p>No warnings.</p>";
  }
  return html;
}

struct SheetImage {
  std::string uri;
  std::vector<std::string> captions;  // one per column
  int tile_w = 0;
};

std::string SheetHtml(const std::string& title, const SheetImage& s) {
  std::string html = absl::StrCat("<figure><figcaption>", Esc(title),
                                  " &mdash; rows: LR (nearest neighbour), HR, |LR&minus;HR| "
                                  "amplified</figcaption>");
  absl::StrAppendFormat(&html, R"(<img class="sheet" alt="%s" src="%s">)", Esc(title), s.uri);
  absl::StrAppendFormat(
      &html, R"(<div class="frames" style="grid-template-columns:repeat(%d,%dpx);column-gap:2px">)",
      s.captions.size(), s.tile_w);
  for (const std::string& c : s.captions) absl::StrAppend(&html, "<div>", c, "</div>");
  return html + "</div></figure>";
}

}  // namespace

absl::StatusOr<std::string> RenderReport(const std::string& dir, const ReportOptions& options) {
  FP_ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir));
  std::vector<std::string> notes;  // what the page could not show, and why
  std::optional<ReportData> data;
  if (absl::StatusOr<ReportData> read = ReadReportData(dir); read.ok()) {
    if (std::string why = SidecarMismatch(*read, m); why.empty()) {
      data = *std::move(read);
    } else {
      notes.push_back(absl::StrCat(kReportSidecarName, " is stale (", why,
                                   "): timeline and residuals are not shown"));
    }
  } else {
    notes.push_back(absl::StrCat("no usable ", kReportSidecarName, " (", read.status().message(),
                                 "): timeline and residuals are not shown; `framepair run` "
                                 "writes it"));
  }
  const bool single = m.parameters().format() == "single";
  const int window = std::max(1, m.parameters().window());

  // Which examples to show: sampled windows, then those holding the worst pairs. With the
  // sidecar a window's example is found by its shard and its rank by start in that shard
  // (the order the packer writes); without it, examples are sampled directly.
  struct Pick {
    int shard = 0;
    int64_t record = 0;
    int64_t window_start = -1;  // pair position, with the sidecar
  };
  std::mt19937_64 rng(options.seed.value_or(m.parameters().seed()));
  std::vector<Pick> sampled;
  std::vector<std::pair<int64_t, Pick>> worst;  // (pair position, example holding it)
  if (data) {
    std::map<int, std::vector<std::pair<int64_t, int>>> by_shard;  // shard -> (start, window i)
    for (int i = 0; i < data->window_start_size(); ++i) {
      by_shard[data->window_shard(i)].push_back({data->window_start(i), i});
    }
    std::vector<Pick> picks(data->window_start_size());
    for (auto& [shard, list] : by_shard) {
      std::sort(list.begin(), list.end());
      for (size_t rank = 0; rank < list.size(); ++rank) {
        picks[list[rank].second] = {shard, static_cast<int64_t>(rank), list[rank].first};
      }
    }
    std::vector<int> order(picks.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(std::min<size_t>(order.size(), std::max(0, options.sample_windows)));
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return picks[a].window_start < picks[b].window_start; });
    for (int i : order) sampled.push_back(picks[i]);
    // The worst pairs that some window holds (what training sees).
    std::map<int64_t, Pick> holder;
    for (const Pick& p : picks) {
      for (int64_t k = p.window_start; k < p.window_start + window; ++k) holder.emplace(k, p);
    }
    std::vector<int64_t> in_windows;
    for (const auto& [pos, p] : holder) in_windows.push_back(pos);
    const size_t n = std::min<size_t>(in_windows.size(), std::max(0, options.worst_pairs));
    std::partial_sort(in_windows.begin(), in_windows.begin() + n, in_windows.end(),
                      [&](int64_t a, int64_t b) { return data->residual(a) > data->residual(b); });
    for (size_t i = 0; i < n; ++i) worst.push_back({in_windows[i], holder[in_windows[i]]});
  } else {
    std::vector<Pick> all;
    for (int s = 0; s < m.shards_size(); ++s) {
      for (int64_t r = 0; r < m.shards(s).examples() && all.size() < 1'000'000; ++r) {
        all.push_back({s, r, -1});
      }
    }
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(std::min<size_t>(all.size(), std::max(0, options.sample_windows)));
    std::sort(all.begin(), all.end(), [](const Pick& a, const Pick& b) {
      return std::tie(a.shard, a.record) < std::tie(b.shard, b.record);
    });
    sampled = all;
  }
  const int lr_w = single ? m.hr_width() / std::max(1, m.parameters().scale()) : m.lr_width();
  const int lr_h = single ? m.hr_height() / std::max(1, m.parameters().scale()) : m.lr_height();
  const int tile_w = std::max(16, options.tile_width);
  const int tile_h = std::max(1, lr_w > 0 ? tile_w * lr_h / lr_w : tile_w * 9 / 16);
  auto frame_caption = [](int64_t lr_frame, int64_t hr_frame, int k) {
    std::string c;
    if (lr_frame >= 0) absl::StrAppend(&c, "LR ", lr_frame, "<br>");
    if (hr_frame >= 0) absl::StrAppend(&c, "HR ", hr_frame);
    return c.empty() ? absl::StrCat("#", k) : c;
  };

  // The shards are read once, one example at a time, and each frame a sheet shows is decoded
  // once and kept only as its small tiles: memory stays that of one example and one decoded
  // frame, whatever the footage length, the resolution or the number of sheets.
  struct Uses {
    std::vector<size_t> sampled;                    // indices into `sampled`
    std::vector<std::pair<size_t, int64_t>> worst;  // (index into `worst`, frame in example)
  };
  std::map<int, std::map<int64_t, Uses>> uses;  // shard -> record -> uses
  for (size_t i = 0; i < sampled.size(); ++i) {
    uses[sampled[i].shard][sampled[i].record].sampled.push_back(i);
  }
  for (size_t j = 0; j < worst.size(); ++j) {
    const auto& [pos, p] = worst[j];
    uses[p.shard][p.record].worst.push_back({j, pos - p.window_start});
  }
  struct Tiles {
    std::vector<Column> columns;
    std::vector<std::string> captions;
  };
  std::vector<Tiles> sampled_tiles(sampled.size());
  std::vector<std::optional<std::pair<Column, std::string>>> worst_tiles(worst.size());
  int mismatched = 0;
  for (const auto& entry : uses) {
    // Named, not a structured binding: the lambda below uses them, which clang 14 refuses.
    const int shard = entry.first;
    const std::map<int64_t, Uses>& records = entry.second;
    if (shard < 0 || shard >= m.shards_size()) continue;
    const std::string path = dir + "/" + m.shards(shard).file();
    std::set<int64_t> wanted;
    for (const auto& [record, u] : records) wanted.insert(record);
    absl::Status read = ForEachShardExample(
        path, wanted, [&](int64_t record, const Example& example) -> absl::Status {
          const Uses& u = records.at(record);
          const ExampleFrames ex = FramesOf(example, single);
          const int n = ex.size();
          // The frames this example contributes: all of them for a sampled window, else the
          // worst pairs it holds.
          std::set<int> frames;
          if (!u.sampled.empty()) {
            for (int k = 0; k < n; ++k) frames.insert(k);
          }
          for (const auto& [j, k] : u.worst) {
            if (k >= 0 && k < n) frames.insert(static_cast<int>(k));
          }
          std::vector<std::pair<Column, std::string>> made;  // by position in `frames`
          std::map<int, size_t> made_at;
          for (int k : frames) {
            absl::StatusOr<RgbImage> hr = DecodePng(ex.hr->Get(k));
            std::optional<RgbImage> lr;
            if (hr.ok() && ex.lr != nullptr && k < ex.lr->size()) {
              absl::StatusOr<RgbImage> decoded = DecodePng(ex.lr->Get(k));
              if (!decoded.ok()) hr = decoded.status();
              if (decoded.ok()) lr = *std::move(decoded);
            }
            if (!hr.ok()) {
              return absl::DataLossError(
                  absl::StrCat(path, ": record ", record, ": ", hr.status().message()));
            }
            made_at[k] = made.size();
            made.push_back({MakeColumn(lr ? &*lr : nullptr, *hr, tile_w, tile_h, options.diff_gain),
                            frame_caption(ExampleFrames::At(ex.lr_frame, k),
                                          ExampleFrames::At(ex.hr_frame, k), k)});
          }
          for (size_t i : u.sampled) {
            const int64_t start = sampled[i].window_start;
            if (data && start >= 0 && n > 0 && ex.hr_frame != nullptr && !ex.hr_frame->empty() &&
                ex.hr_frame->Get(0) != data->hr_frame(start)) {
              ++mismatched;
            }
            for (const auto& [column, caption] : made) {
              sampled_tiles[i].columns.push_back(column);
              sampled_tiles[i].captions.push_back(caption);
            }
          }
          for (const auto& [j, k] : u.worst) {
            auto it = made_at.find(static_cast<int>(k));
            if (it == made_at.end()) continue;
            worst_tiles[j] = made[it->second];
            absl::StrAppendFormat(&worst_tiles[j]->second, "<br>residual %.2f",
                                  data->residual(worst[j].first));
          }
          return absl::OkStatus();
        });
    if (!read.ok()) {
      notes.push_back(absl::StrCat("cannot read examples: ", read.message(),
                                   " (run `framepair verify` on the directory)"));
    }
  }
  std::string sheets;
  for (size_t i = 0; i < sampled.size(); ++i) {
    const Pick& p = sampled[i];
    if (sampled_tiles[i].columns.empty()) continue;
    SheetImage s;
    s.tile_w = tile_w;
    s.captions = std::move(sampled_tiles[i].captions);
    s.uri = PngDataUri(Sheet(sampled_tiles[i].columns, tile_w, tile_h));
    // The number `framepair extract --example` takes: examples counted across the shards.
    int64_t number = p.record;
    for (int k = 0; k < p.shard && k < m.shards_size(); ++k) number += m.shards(k).examples();
    sheets += SheetHtml(
        absl::StrCat("example ", number, " (shard ", p.shard, ", record ", p.record, ")"), s);
  }
  std::string worst_html;
  {
    SheetImage s;
    s.tile_w = tile_w;
    std::vector<Column> columns;
    for (auto& tile : worst_tiles) {
      if (!tile) continue;
      columns.push_back(std::move(tile->first));
      s.captions.push_back(std::move(tile->second));
    }
    if (!columns.empty()) {
      s.uri = PngDataUri(Sheet(columns, tile_w, tile_h));
      worst_html = SheetHtml(absl::StrCat("the ", columns.size(),
                                          " pairs with the largest residual that windows hold"),
                             s);
    }
  }
  if (mismatched > 0) {
    notes.push_back(absl::StrCat(mismatched, " sampled example(s) do not start at the frame the ",
                                 kReportSidecarName,
                                 " says; their captions are the shards' own "
                                 "frame numbers"));
  }

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  const std::string& name = options.title.empty() ? dir : options.title;
  absl::StrAppend(&html, "<title>framepair report: ", Esc(name), "</title><style>", kStyle,
                  "</style></head><body>\n");
  absl::StrAppend(&html, "<h1>framepair report</h1><p>Dataset <code>", Esc(name),
                  "</code>: ", m.total_examples(), " example(s) of ", window, " frame(s) in ",
                  m.shards_size(), " shard(s), HR ", m.hr_width(), "x", m.hr_height(), ", LR ",
                  m.lr_width(), "x", m.lr_height(), "; framepair ", Esc(m.version()), ".</p>\n");
  for (const std::string& n : notes) absl::StrAppend(&html, "<p class=warn>", Esc(n), "</p>\n");
  absl::StrAppend(&html, "<h2>Inputs</h2>", Inputs(m, data ? &*data : nullptr), "\n");
  std::string parameters;
  google::protobuf::util::JsonPrintOptions json;
  json.add_whitespace = true;
  json.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m.parameters(), &parameters, json);
  absl::StrAppend(&html, "<details><summary>Options used</summary><pre>", Esc(parameters),
                  "</pre></details>\n");
  if (data) {
    html += "<h2>Timeline</h2>" + Legend();
    for (int i = 0; i < data->recordings_size(); ++i) {
      const ReportRecording& r = data->recordings(i);
      absl::StrAppend(&html, "<h3>", r.role() == "lr" ? "LR" : "HR", " ", Esc(r.path()), "</h3>",
                      Timeline(r, *data, r.role() == "lr"), "\n");
    }
    const ReportRecording& hr = data->recordings(data->recordings_size() - 1);
    html += "<h2>Alignment residual per pair</h2>";
    absl::StrAppend(
        &html,
        "<p>Thumbnail distance of every pair (0-255, lower is better) over HR "
        "source time. The dashed line is the residual gate (--max-residual). Squares are pairs "
        "a gate refused (orange: spike filter, purple: residual gate, green: ambiguous, an "
        "adjacent moment matched as well; hover for the frames). Mean ",
        absl::StrFormat("%.2f", m.stats().mean_residual()), ".</p>",
        ResidualPlot(*data, hr, m.parameters().max_residual()), "\n");
  }
  html += "<h2>Contact sheet</h2>";
  html += sheets.empty() ? "<p>No examples to show.</p>" : sheets;
  if (!worst_html.empty()) html += "<h2>Worst pairs</h2>" + worst_html;
  html += "<h2>Accounting</h2>" + AccountingHtml(m);
  html += "\n</body></html>\n";
  return html;
}

absl::Status WriteReport(const std::string& dir, const std::string& out_path,
                         const ReportOptions& options) {
  FP_ASSIGN_OR_RETURN(std::string html, RenderReport(dir, options));
  return WriteFileAtomically(out_path, html);
}

}  // namespace framepair
