#include "util/quote.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace framepair {

std::string QuoteUserText(absl::string_view text, size_t max_chars) {
  if (text.size() <= max_chars) return absl::StrCat("'", absl::CHexEscape(text), "'");
  return absl::StrCat("'", absl::CHexEscape(text.substr(0, max_chars)), "'... (", text.size(),
                      " bytes)");
}

}  // namespace framepair
