// StorageRoot::Resolve and ResolveWithin, the one gate for paths that users and RPCs name
// inside the storage root, against a fixed tree in tmpfs holding the symbolic links an
// attacker would plant or hope for: inside and outside, absolute and relative, dangling,
// looping, and one inside a task's work directory that climbs out of it.
//
// Input: the relative path (bytes as given, NUL and all). A result that is not strictly
// below the root (or the task directory), or whose existing part resolves outside it through
// the real filesystem, is a finding.
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "fuzz/fuzz_util.h"
#include "storage/storage.h"

namespace {

using framepair::StorageRoot;

constexpr char kTaskDir[] = "work/job1/attempt";

std::optional<StorageRoot>& Root() {
  static std::optional<StorageRoot> root;
  return root;
}

void Make(const std::string& root, const std::string& rel) {
  const std::string path = root + "/" + rel;
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    std::perror(path.c_str());
    std::abort();
  }
}

void Link(const std::string& root, const std::string& rel, const std::string& target) {
  const std::string path = root + "/" + rel;
  if (::symlink(target.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    std::perror(path.c_str());
    std::abort();
  }
}

bool StrictlyBelow(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

// The longest existing prefix of `path`, canonicalised by the kernel's own rules.
std::string RealExistingPrefix(std::string path) {
  char buf[PATH_MAX];
  while (!path.empty()) {
    if (::realpath(path.c_str(), buf) != nullptr) return buf;
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return "/";
    path.resize(slash);
  }
  return "/";
}

void CheckInside(const std::string& resolved, const std::string& dir, const char* what) {
  FP_FUZZ_CHECK(StrictlyBelow(resolved, dir), "%s gave '%s', not below '%s'", what,
                resolved.c_str(), dir.c_str());
  FP_FUZZ_CHECK(resolved.find("/../") == std::string::npos &&
                    resolved.find("/./") == std::string::npos &&
                    resolved.find("//") == std::string::npos && resolved.back() != '/',
                "%s gave a non-canonical '%s'", what, resolved.c_str());
  const std::string real = RealExistingPrefix(resolved);
  FP_FUZZ_CHECK(real == dir || StrictlyBelow(real, dir),
                "%s gave '%s', which the kernel resolves to '%s', outside '%s'", what,
                resolved.c_str(), real.c_str(), dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string base = framepair::fuzz::ScratchDir() + "/root";
  absl::StatusOr<StorageRoot> root = StorageRoot::Open(base);
  FP_FUZZ_CHECK(root.ok(), "%s", root.status().ToString().c_str());
  const std::string r = root->root();
  for (const char* dir : {"a", "a/b", "work/job1", kTaskDir, "work/job2", "datasets/d"}) {
    Make(r, dir);
  }
  Make(framepair::fuzz::ScratchDir(), "outside");
  Link(r, "in", "a");                           // relative, stays inside
  Link(r, "a/b/up", "../..");                   // the root itself
  Link(r, "abs_in", r + "/a/b");                // absolute, inside
  Link(r, "out", "/etc");                       // absolute, outside
  Link(r, "rel_out", "../outside");             // relative, outside
  Link(r, "a/deep_out", "../../../../../../");  // climbs past "/"
  Link(r, "dangling", "missing/file");          // dangling, inside
  Link(r, "dangling_out", "/nonexistent/x");    // dangling, outside
  Link(r, "dangling_up", "missing/../../x");    // ".." after a missing component
  Link(r, "loop", "loop");                      // a loop
  Link(r, "loop_a", "loop_b");
  Link(r, "loop_b", "loop_a");
  Link(r, std::string(kTaskDir) + "/esc", "../../job2");  // leaves the task directory only
  Link(r, std::string(kTaskDir) + "/self", ".");
  Link(r, "work/job1/attempt_link", "attempt");
  // The oracle itself must see an escape, or every run would pass vacuously.
  FP_FUZZ_CHECK(!StrictlyBelow(RealExistingPrefix(r + "/out/passwd"), r) &&
                    !StrictlyBelow(RealExistingPrefix(r + "/rel_out/x"), r),
                "the oracle does not see the planted escapes");
  Root().emplace(*std::move(root));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const StorageRoot& root = *Root();
  const std::string_view relative = framepair::fuzz::AsView(data, size);
  for (bool must_exist : {false, true}) {
    absl::StatusOr<std::string> path = root.Resolve(relative, must_exist);
    if (path.ok()) CheckInside(*path, root.root(), "Resolve");
    absl::StatusOr<std::string> within = root.ResolveWithin(relative, kTaskDir, must_exist);
    if (within.ok()) {
      CheckInside(*within, root.root() + "/" + kTaskDir, "ResolveWithin");
      FP_FUZZ_CHECK(path.ok() && *path == *within, "ResolveWithin accepted what Resolve refused");
    }
  }
  // The task directory itself spelled by the input (the coordinator passes one it made; a
  // symlinked or climbing one must be refused, never widen "within").
  absl::StatusOr<std::string> within = root.ResolveWithin("x", relative, false);
  if (within.ok()) {
    absl::StatusOr<std::string> dir = root.Resolve(relative, false);
    FP_FUZZ_CHECK(dir.ok(), "ResolveWithin accepted a directory Resolve refuses");
    CheckInside(*within, *dir, "ResolveWithin(dir)");
    CheckInside(*dir, root.root(), "ResolveWithin(dir)");
    FP_FUZZ_CHECK(RealExistingPrefix(*dir) == *dir || ::access(dir->c_str(), F_OK) != 0,
                  "directory '%s' is a symbolic link", dir->c_str());
  }
  return 0;
}
