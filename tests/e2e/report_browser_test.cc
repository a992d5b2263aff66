// The report page of a real run in a real browser (issue 10): Debian's headless Chromium
// loads report.html with no network (its own network namespace when one can be made), takes a
// screenshot and dumps the DOM; the test checks that the plots and images rendered (pixels of
// the plot colours, an image-like spread of colours) and that the DOM holds the expected
// elements. The page must be self-contained: no URL of any scheme but data:.
//
// Chromium missing: skipped, except under CI=true (or FRAMEPAIR_REQUIRE_CHROMIUM=1), where a
// green run must mean the page was rendered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "png/png.h"
#include "support/process.h"

namespace framepair::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

std::string FindChromium() {
  if (const char* env = std::getenv("CHROMIUM"); env != nullptr && *env != '\0') return env;
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (fs::exists(candidate)) return candidate;
  }
  return "";
}

bool Required() {
  const char* ci = std::getenv("CI");
  const char* require = std::getenv("FRAMEPAIR_REQUIRE_CHROMIUM");
  return (ci != nullptr && std::string(ci) == "true") ||
         (require != nullptr && std::string(require) == "1");
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("framepair-report-browser-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  static void Ffmpeg(std::vector<std::string> args) {
    args.insert(args.begin(), {"ffmpeg", "-nostdin", "-y", "-loglevel", "error"});
    ProcessResult r = RunProcess(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Chromium, isolated from the network: in a new network namespace (only loopback, down)
  // when unshare can make one (root, as in CI), else with a proxy that does not exist.
  ProcessResult Chromium(const std::string& chromium, std::vector<std::string> args) {
    std::vector<std::string> argv;
    if (RunProcess({"unshare", "-n", "true"}, 10).exit_code == 0) argv = {"unshare", "-n"};
    argv.insert(argv.end(),
                {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--hide-scrollbars", "--disable-extensions", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9",
                 "--user-data-dir=" + Path("profile"), "--window-size=1200,3200"});
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, 45);
  }
  fs::path dir_;
};

TEST_F(ReportBrowserTest, ReportOfARunRendersOffline) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    if (Required()) FAIL() << "chromium is not installed (scripts/install-deps.sh installs it)";
    GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  }
  // A pair with a gap: LR misses frames 40-47, so the timeline has unpaired HR frames.
  Ffmpeg({"-f", "lavfi", "-i", "testsrc2=size=640x384:rate=30", "-frames:v", "120", "-c:v", "ffv1",
          Path("hr.mkv")});
  Ffmpeg({"-i", Path("hr.mkv"), "-vf",
          "select='not(between(n\\,40\\,47))',setpts=N/FRAME_RATE/TB,scale=160:96:flags=area",
          "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", Path("lr.mp4")});
  const std::string out = Path("dataset");
  ProcessResult run =
      RunProcess({BuiltBinary("client/framepair"), "run", "--quiet", "--lr", Path("lr.mp4"), "--hr",
                  Path("hr.mkv"), "--out", out, "--windows", "6", "--seed", "3"},
                 120);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string page = out + "/report.html";
  const std::string html = Slurp(page);
  ASSERT_FALSE(html.empty());
  // Self-contained: nothing to fetch.
  EXPECT_THAT(html, Not(HasSubstr("://")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  // (A scan, not std::regex: its recursion overflows the stack on megabyte data URIs.)
  for (const std::string attribute : {"src=\"", "href=\""}) {
    for (size_t p = html.find(attribute); p != std::string::npos; p = html.find(attribute, p + 1)) {
      EXPECT_EQ(html.substr(p + attribute.size(), 5), "data:") << html.substr(p, 80);
    }
  }

  ProcessResult dom = Chromium(chromium, {"--dump-dom", "file://" + page});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_EQ(Count(dom.out, "<svg class=\"timeline\""), 2) << dom.out.substr(0, 2000);
  EXPECT_EQ(Count(dom.out, "<svg class=\"residuals\""), 1);
  EXPECT_EQ(Count(dom.out, "<polyline class=\"residual\""), 1);
  EXPECT_GE(Count(dom.out, "<rect class=\"paired\""), 50);
  EXPECT_GE(Count(dom.out, "<rect class=\"unpaired\""), 1);
  EXPECT_EQ(Count(dom.out, "<rect class=\"window\""), 2 * 6);
  EXPECT_EQ(Count(dom.out, "<img class=\"sheet\""), 6 + 1);  // the 6 windows + worst pairs
  EXPECT_THAT(dom.out, HasSubstr("<h2>Accounting</h2>"));

  const std::string shot = Path("shot.png");
  ProcessResult screenshot = Chromium(chromium, {"--screenshot=" + shot, "file://" + page});
  ASSERT_EQ(screenshot.exit_code, 0) << screenshot.err;
  ASSERT_TRUE(fs::exists(shot)) << screenshot.err;
  // Chromium writes RGBA; lib/png reads what training reads (RGB).
  Ffmpeg({"-i", shot, "-pix_fmt", "rgb24", Path("shot_rgb.png")});
  absl::StatusOr<RgbImage> image = DecodePng(Slurp(Path("shot_rgb.png")));
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->width, 1200);
  auto near = [](const uint8_t* p, int r, int g, int b) {
    return std::abs(p[0] - r) < 24 && std::abs(p[1] - g) < 24 && std::abs(p[2] - b) < 24;
  };
  int64_t green = 0, blue = 0, red = 0, non_white = 0;
  std::set<uint32_t> colours_lower;  // where the contact sheets are
  for (int y = 0; y < image->height; ++y) {
    for (int x = 0; x < image->width; ++x) {
      const uint8_t* p = image->row(y) + 3 * x;
      green += near(p, 0x2e, 0x9d, 0x4f);
      blue += near(p, 0x2f, 0x6f, 0xd6);
      red += near(p, 0xd3, 0x3c, 0x3c);
      non_white += p[0] < 240 || p[1] < 240 || p[2] < 240;
      if (y > image->height / 3) colours_lower.insert(p[0] << 16 | p[1] << 8 | p[2]);
    }
  }
  EXPECT_GT(green, 20000) << "the timelines' paired frames did not render";
  EXPECT_GT(blue, 500) << "windows and the residual line did not render";
  EXPECT_GT(red, 100) << "unpaired frames and the gate did not render";
  EXPECT_GT(non_white, int64_t{image->width} * image->height / 10);
  // testsrc2's gradients and colours: thousands of colours where images rendered, against a
  // few dozen for text and plots.
  EXPECT_GT(colours_lower.size(), 2000u) << "the contact sheets did not render";
}

}  // namespace
}  // namespace framepair::testing
