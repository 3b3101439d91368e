// The `stackdyn <command>` program as a function, so that main.cpp and the tests can run a
// command line in-process. Commands are declared in command.hpp; CLI11 stays in cli.cpp.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace stackdyn::cli {

/// What a command's runner can use: the streams, the whole command line (for provenance).
struct Context {
  std::ostream& out;
  std::ostream& err;
  std::string command_line;
  bool quiet = false;     ///< -q: no progress output
  bool terminal = false;  ///< stderr is a terminal: a redrawn bar, else a line every few seconds
};

/// Runs `stackdyn args...` (args excludes the program name). Errors are printed as one line
/// `stackdyn: error: ...` on err. Returns the exit code: 0, 1 (failure during the run) or 2
/// (bad usage or input).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace stackdyn::cli
