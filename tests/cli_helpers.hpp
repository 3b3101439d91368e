// Test helper: run the command line in-process.
#pragma once
#include "cli.hpp"
#include "test_util.hpp"

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace stackdyn::test {

struct CliResult {
  int code;
  std::string out, err;
};

inline CliResult run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int code = cli::run(args, out, err);
  return {code, out.str(), err.str()};
}


}  // namespace stackdyn::test
