// Dispatcher of `stackdyn <command>`: builds the CLI11 app from the registry, parses, runs,
// and turns every error into one line and an exit code (docs/design.md section 6).
#include "cli.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/version.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>
#include <sstream>
#include <unistd.h>

namespace stackdyn::cli {
namespace {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

std::string quote_arg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\n'\"\\$`") == std::string::npos) return a;
  std::string q = "'";
  for (char c : a) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// CLI11's messages already name the option; make them one line.
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

bool register_command(Command c) {
  registry().push_back(std::move(c));
  return true;
}

std::vector<double> parse_list(const std::string& text, const std::string& what) {
  std::vector<double> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    const std::string tok = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    double v = 0;
    const auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || ec != std::errc() || ptr != tok.data() + tok.size() || !std::isfinite(v))
      throw InputError(what + ": '" + tok + "' in '" + text +
                       "' is not a finite number; expected comma-separated numbers");
    values.push_back(v);
  }
  if (values.empty()) throw InputError(what + ": empty list; expected comma-separated numbers");
  return values;
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"stackdyn: dynamics of stacked recurrent neural networks", "stackdyn"};
  app.set_version_flag("--version", std::string("stackdyn ") + version);
  app.require_subcommand(1);
  app.fallthrough(false);
  bool quiet = false;
  app.add_flag("--quiet,-q", quiet, "No progress output on stderr")->configurable(false);

  auto& commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, Runner>> runners;
  for (const auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    runners.emplace_back(sub, c.setup(*sub));
  }

  std::string command_line = "stackdyn";
  for (const auto& a : args) command_line += " " + quote_arg(a);
  Context ctx{out, err, command_line, quiet};
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses a reversed vector
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e, out, err);
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e, out, err);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e, out, err);
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "stackdyn: error: " << one_line(e.what()) << "; see 'stackdyn --help'\n";
    return 2;
  } catch (const Error& e) {  // from option checks
    err << "stackdyn: error: " << e.what() << "\n";
    return 2;
  }
  ctx.quiet = quiet || !isatty(STDERR_FILENO);
  for (auto& [sub, runner] : runners) {
    if (!sub->parsed()) continue;
    try {
      return runner(ctx);
    } catch (const InputError& e) {
      err << "stackdyn: error: " << e.what() << "\n";
      return 2;
    } catch (const Error& e) {
      err << "stackdyn: error: " << e.what() << "\n";
      return 1;
    } catch (const std::bad_alloc&) {
      err << "stackdyn: error: out of memory in '" << sub->get_name() << "'\n";
      return 1;
    } catch (const std::exception& e) {
      err << "stackdyn: error: " << sub->get_name() << ": " << e.what() << "\n";
      return 1;
    }
  }
  return 2;
}

}  // namespace stackdyn::cli
