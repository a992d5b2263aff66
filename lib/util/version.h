// The framepair release: in manifests, `framepair --version` and every server's --version.
// One definition so a release bump cannot leave a binary behind.
#pragma once

namespace framepair {

inline constexpr char kFramepairVersion[] = "0.1.0";

}  // namespace framepair
