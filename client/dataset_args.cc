#include "client/dataset_args.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "client/commands.h"
#include "storage/object_store.h"
#include "util/quote.h"

namespace framepair::cli {
namespace po = boost::program_options;

bool ParseDatasetArgs(const char* name, const std::vector<std::string>& args,
                      po::options_description& desc, std::string* dir, int* code,
                      po::variables_map* vm_out, bool object_urls) {
  desc.add_options()("help,h", "show this help")(
      "dir", po::value(dir), "dataset directory (also accepted as the first argument)");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "framepair %s: %s\nRun `framepair %s --help` for the options.\n", name,
                 e.what(), name);
    *code = kExitBadInput;
    return false;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    *code = kExitOk;
    return false;
  }
  if (vm_out != nullptr) *vm_out = vm;
  std::error_code ec;
  if (dir->empty()) {
    std::fprintf(stderr, "framepair %s: give the dataset directory: framepair %s DIR\n", name,
                 name);
    *code = kExitBadInput;
    return false;
  }
  if (object_urls && IsObjectUrl(*dir)) return true;
  if (!std::filesystem::is_directory(*dir, ec)) {
    std::fprintf(stderr,
                 "framepair %s: %s is not a directory: give a dataset's directory (the --out of "
                 "`framepair run`, or a published dataset under the storage root)\n",
                 name, QuoteUserText(*dir, 1024).c_str());
    *code = kExitBadInput;
    return false;
  }
  return true;
}

}  // namespace framepair::cli
