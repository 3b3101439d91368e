// The `stackdyn <command>` program: a registry of commands (each defined in analysis/ or
// simulations/ and registering itself) and the dispatcher that runs one. The dispatcher
// is a function so that tests can run the command line in-process.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace stackdyn::cli {

/// What a command's runner can use: the streams, the whole command line (for provenance).
struct Context {
  std::ostream& out;
  std::ostream& err;
  std::string command_line;
  bool quiet = false;
};

/// A command adds its options to `sub` and returns the function that runs it once the
/// command line is parsed. The runner returns the exit code; it throws InputError for bad
/// input (exit 2) and RunError for failures during the run (exit 1).
using Runner = std::function<int(Context&)>;
struct Command {
  std::string name;
  std::string summary;
  std::function<Runner(CLI::App& sub)> setup;
};

/// Adds a command to the registry; used as `static const bool r = register_command({...});`.
bool register_command(Command c);

/// Runs `stackdyn args...` (args excludes the program name). Errors are printed as one line
/// `stackdyn: error: ...` on err. Returns the exit code.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// Splits "a,b,c" into doubles; throws InputError naming `what` on a bad number.
std::vector<double> parse_list(const std::string& text, const std::string& what);

}  // namespace stackdyn::cli
