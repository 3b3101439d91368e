// Test helper: run the command line in-process.
#pragma once
#include "cli.hpp"
#include "test_util.hpp"

#include <algorithm>
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

/// Bad input: exit 2, one line `stackdyn: error: ...` naming each of `names`, and neither
/// `out` nor `out.partial` written.
inline void expect_clean_failure(const CliResult& r, const std::string& out, const std::vector<std::string>& names) {
  INFO("stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(r.err.rfind("stackdyn: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  for (const auto& n : names) CHECK(r.err.find(n) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
  CHECK_FALSE(std::filesystem::exists(out + ".partial"));
}


}  // namespace stackdyn::test
