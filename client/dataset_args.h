// The command line of the commands that look at one dataset directory (verify, report,
// extract): their options plus --help and DIR as the first argument, parsed one way.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace framepair::cli {

// Adds --help and --dir (DIR, also the first positional argument) to `desc` and parses
// `args`. Returns false when the command should end with *code: 0 after --help, 2 for a usage
// error, a missing DIR or one that is not a directory (each said on stderr). `vm` (optional)
// receives the parsed values, to tell set options from defaults.
// `object_urls`: DIR may also be s3://bucket/prefix or gs://bucket/prefix (verify reads
// datasets in a bucket).
bool ParseDatasetArgs(const char* name, const std::vector<std::string>& args,
                      boost::program_options::options_description& desc, std::string* dir,
                      int* code, boost::program_options::variables_map* vm = nullptr,
                      bool object_urls = false);

}  // namespace framepair::cli
