// cli::Json (commands.h): the one JSON printer of the CLI.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "client/commands.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace framepair::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Names (as printed: the .proto names) of the 64-bit integer fields of `d` and of every
// message it contains.
void Int64Fields(const Descriptor* d, std::set<const Descriptor*>* seen,
                 std::set<std::string>* names) {
  if (!seen->insert(d).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT64:
        names->insert(f->name());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        Int64Fields(f->message_type(), seen, names);
        break;
      default:
        break;
    }
  }
}

// proto3's JSON mapping quotes 64-bit integers ("frames": "533"); scripts want numbers. A
// value is unquoted when its key is a 64-bit field of the message and it fits in 2^53 (what
// a JSON number holds exactly); larger values stay strings.
std::string UnquoteInt64(const std::string& json, const std::set<std::string>& names) {
  std::string out;
  out.reserve(json.size());
  size_t i = 0;
  while (i < json.size()) {
    if (json[i] != '"') {
      out += json[i++];
      continue;
    }
    // A string token: copy it, remembering it if it is a key.
    size_t end = i + 1;
    while (end < json.size() && json[end] != '"') end += json[end] == '\\' ? 2 : 1;
    const std::string token = json.substr(i, end + 1 - i);
    out += token;
    i = end + 1;
    size_t colon = i;
    while (colon < json.size() && json[colon] == ' ') ++colon;
    if (colon >= json.size() || json[colon] != ':') continue;
    if (!names.count(token.substr(1, token.size() - 2))) continue;
    // Key of a 64-bit field: its value, or the values of its array.
    size_t j = colon + 1;
    out.append(json, i, j - i);
    i = j;
    const bool array = [&] {
      size_t k = j;
      while (k < json.size() && json[k] == ' ') ++k;
      return k < json.size() && json[k] == '[';
    }();
    const size_t stop = array ? json.find(']', j) : json.find_first_of(",}\n", j);
    const size_t limit = stop == std::string::npos ? json.size() : stop;
    while (i < limit) {
      if (json[i] != '"') {
        out += json[i++];
        continue;
      }
      const size_t close = json.find('"', i + 1);
      const std::string value = json.substr(i + 1, close - i - 1);
      char* parse_end = nullptr;
      const long double v = std::strtold(value.c_str(), &parse_end);
      const bool digits = !value.empty() && parse_end == value.c_str() + value.size() &&
                          value.find_first_not_of("-0123456789") == std::string::npos;
      if (digits && v <= 9007199254740992.0L && v >= -9007199254740992.0L) {
        out += value;
      } else {
        out.append(json, i, close + 1 - i);
      }
      i = close + 1;
    }
  }
  return out;
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string Json(const google::protobuf::Message& m, bool one_line) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !one_line;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  std::set<const Descriptor*> seen;
  std::set<std::string> names;
  Int64Fields(m.GetDescriptor(), &seen, &names);
  return UnquoteInt64(out, names);
}

}  // namespace framepair::cli
